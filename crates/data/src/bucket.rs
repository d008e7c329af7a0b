//! Aspect-ratio buckets: the five classes 1:1, 3:4, 4:3, 9:16, 16:9 with the resize and crop
//! tables of the official recipe (docs/architecture.md §9.2), or a custom table.
//!
//! Every clip goes to the bucket whose ratio is closest to its `W/H` in log space (so 2:1 and
//! 1:2 are equally far from 1:1). A batch only holds clips of one bucket.
//!
//! Crop choice (documented design): `crop = C > 0` gives a crop whose long side is `C` rounded
//! down to a multiple of 16 and whose short side is `C * short/long` rounded down to a multiple
//! of 16 (`C = 256` reproduces the recipe's 256 table exactly: 256², 256×192, 192×256, 256×144,
//! 144×256); each side is then capped at the resize target rounded down to a multiple of 16.
//! `crop = 0` asks for full-frame (validation) crops: the recipe's validation table at 720 (704²,
//! 944×704, 704×944, 1264×704, 704×1264) and 1080 (1424×1072, 1072×1424, 1904×1072,
//! 1072×1904), and the resize target rounded down to a multiple of 16 at the other keys (the
//! recipe lists none there; note the recipe's 720 crops are 16 below the target, not just
//! rounded).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::DataConfig;

/// One row of a custom bucket table (`[[data.buckets]] ratio = "16:9" resize = [W, H]
/// crop = [W, H]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// `"W:H"`, e.g. `"16:9"`; also the bucket's name.
    pub ratio: String,
    /// Resize target `[W, H]`: the frame is scaled so that it covers this size.
    pub resize: [u32; 2],
    /// Crop `[W, H]` (multiples of 16, at most `resize`).
    pub crop: [u32; 2],
}

/// A resolved bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// `"W:H"`, e.g. `"16:9"`.
    pub name: String,
    /// `W / H` of the class.
    pub ratio: f64,
    /// Resize target `[W, H]`.
    pub resize: [u32; 2],
    /// Crop `[W, H]`.
    pub crop: [u32; 2],
}

/// The five recipe classes as (name, W, H).
pub const SPEC_RATIOS: [(&str, u32, u32); 5] = [
    ("1:1", 1, 1),
    ("4:3", 4, 3),
    ("3:4", 3, 4),
    ("16:9", 16, 9),
    ("9:16", 9, 16),
];

/// Resize targets `[W, H]` of the docs/architecture.md §9.2 per resolution key, in [`SPEC_RATIOS`]
/// order (`None`: the class does not exist at that key, e.g. 1:1 at 1080).
pub fn spec_resize(resolution: u32) -> Option<[Option<[u32; 2]>; 5]> {
    let t = |a: [u32; 2], b, c, d, e| [Some(a), Some(b), Some(c), Some(d), Some(e)];
    Some(match resolution {
        256 => t([256, 256], [320, 256], [256, 320], [320, 192], [192, 320]),
        360 => t([320, 320], [416, 320], [320, 416], [544, 320], [320, 544]),
        480 => t([480, 480], [640, 480], [480, 640], [854, 480], [480, 854]),
        512 => t([512, 512], [672, 512], [512, 672], [896, 512], [512, 896]),
        720 => t([720, 720], [960, 720], [720, 960], [1280, 720], [720, 1280]),
        1080 => [
            None,
            Some([1440, 1072]),
            Some([1072, 1440]),
            Some([1920, 1072]),
            Some([1072, 1920]),
        ],
        _ => return None,
    })
}

fn floor16(v: u32) -> u32 {
    v / 16 * 16
}

/// Validation crops `[W, H]` of the docs/architecture.md §9.2 (`crop = 0`) where it lists them, in
/// [`SPEC_RATIOS`] order.
pub fn spec_validation_crop(resolution: u32) -> Option<[Option<[u32; 2]>; 5]> {
    match resolution {
        720 => Some([
            Some([704, 704]),
            Some([944, 704]),
            Some([704, 944]),
            Some([1264, 704]),
            Some([704, 1264]),
        ]),
        1080 => Some([
            None,
            Some([1424, 1072]),
            Some([1072, 1424]),
            Some([1904, 1072]),
            Some([1072, 1904]),
        ]),
        _ => None,
    }
}

/// Crop `[W, H]` for a class `rw:rh` with resize target `resize` and crop key `crop` (see the
/// module docs).
pub fn crop_for(rw: u32, rh: u32, resize: [u32; 2], crop: u32) -> [u32; 2] {
    let cap = [floor16(resize[0]), floor16(resize[1])];
    if crop == 0 {
        return cap;
    }
    let long = floor16(crop);
    let short = |a: u32, b: u32| floor16((crop as u64 * a as u64 / b as u64) as u32);
    let want = if rw >= rh {
        [long, short(rh, rw)]
    } else {
        [short(rw, rh), long]
    };
    [want[0].min(cap[0]), want[1].min(cap[1])]
}

/// The buckets in use.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketTable {
    /// Buckets in table order.
    pub buckets: Vec<Bucket>,
}

fn parse_ratio(s: &str) -> Option<f64> {
    let (a, b) = s.split_once(':')?;
    let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()).then_some(a / b)
}

impl BucketTable {
    /// The official recipe's table at `resolution` with crop key `crop`.
    pub fn spec(resolution: u32, crop: u32) -> Result<BucketTable> {
        let Some(sizes) = spec_resize(resolution) else {
            bail!(
                "data.resolution = {resolution}: not a resolution key of the recipe's tables \
                 (expected 256, 360, 480, 512, 720 or 1080, or give a custom `[[data.buckets]]` \
                 table)"
            );
        };
        let val = spec_validation_crop(resolution).filter(|_| crop == 0);
        let buckets = SPEC_RATIOS
            .iter()
            .zip(sizes)
            .enumerate()
            .filter_map(|(i, (&(name, rw, rh), size))| {
                size.map(|resize| Bucket {
                    name: name.to_owned(),
                    ratio: rw as f64 / rh as f64,
                    resize,
                    crop: val
                        .and_then(|v| v[i])
                        .unwrap_or_else(|| crop_for(rw, rh, resize, crop)),
                })
            })
            .collect();
        Ok(BucketTable { buckets })
    }

    /// A custom table; checks ratios, sizes and that crops are multiples of 16 inside the
    /// resize target.
    pub fn custom(specs: &[BucketSpec]) -> Result<BucketTable> {
        let mut buckets: Vec<Bucket> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let key = format!("data.buckets[{i}] (ratio \"{}\")", s.ratio);
            let Some(ratio) = parse_ratio(&s.ratio) else {
                bail!("{key}: expected a ratio \"W:H\" of two positive numbers, e.g. \"16:9\"");
            };
            if buckets.iter().any(|b| b.name == s.ratio) {
                bail!("{key}: the ratio appears twice");
            }
            let [cw, ch] = s.crop;
            let [rw, rh] = s.resize;
            if cw == 0 || ch == 0 || cw % 16 != 0 || ch % 16 != 0 {
                bail!("{key}: crop = [{cw}, {ch}]: expected positive multiples of 16");
            }
            if cw > rw || ch > rh {
                bail!(
                    "{key}: crop = [{cw}, {ch}] is larger than resize = [{rw}, {rh}] \
                     (expected crop <= resize in both sides)"
                );
            }
            buckets.push(Bucket {
                name: s.ratio.clone(),
                ratio,
                resize: s.resize,
                crop: s.crop,
            });
        }
        if buckets.is_empty() {
            bail!("data.buckets: empty table");
        }
        Ok(BucketTable { buckets })
    }

    /// The table of a config: the custom one when given, else the official recipe's.
    pub fn from_config(cfg: &DataConfig) -> Result<BucketTable> {
        if cfg.buckets.is_empty() {
            BucketTable::spec(cfg.resolution, cfg.crop)
        } else {
            BucketTable::custom(&cfg.buckets)
        }
    }

    /// Index of the bucket whose ratio is closest to `width / height` (log distance; ties go
    /// to the earlier bucket).
    pub fn closest(&self, width: usize, height: usize) -> usize {
        let r = (width as f64 / height as f64).ln();
        let mut best = 0;
        let mut best_d = f64::INFINITY;
        for (i, b) in self.buckets.iter().enumerate() {
            let d = (b.ratio.ln() - r).abs();
            if d < best_d - 1e-12 {
                best = i;
                best_d = d;
            }
        }
        best
    }
}
