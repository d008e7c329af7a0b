//! Spatial / temporal augmentation of one clip into a bucket's crop (spec §9.2): resize the
//! smallest side to the bucket's resize target then crop (or, with `crop_only_prob`, crop at
//! native resolution with reflection padding), horizontal flip, temporal reversal, and
//! normalisation to `[-1, 1]`.
//!
//! The resize-then-crop is computed as crop-the-source-region-then-resize (the region of the
//! source that maps onto the crop), so the cost follows the crop size, not the resized frame;
//! the filter is `image`'s Triangle (bilinear with antialiasing when downscaling). The same
//! parameters apply to every frame of a clip.

use image::RgbImage;
use image::imageops::{self, FilterType};

use crate::bucket::Bucket;

/// The random choices for one clip (all fixed for its frames).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Crop at native resolution (no resize).
    pub crop_only: bool,
    /// Crop offset as a fraction of the free room, `[0, 1]` in x and y (0.5 = centre).
    pub offset: (f64, f64),
    /// Mirror left-right.
    pub flip: bool,
    /// Reverse time.
    pub reverse: bool,
}

impl AugmentParams {
    /// Centre crop after resize, no flip or reversal (evaluation).
    pub const CENTER: AugmentParams = AugmentParams {
        crop_only: false,
        offset: (0.5, 0.5),
        flip: false,
        reverse: false,
    };
}

/// `u8` → `[-1, 1]` lookup table.
fn lut() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|v| crate::frames::u8_to_unit(v as u8)))
}

/// Reflect index `i` into `[0, n)` (`reflect` padding, edge not repeated).
fn reflect(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    i as usize
}

/// The frame (after resize, or native with `crop_only`) that the crop is cut from, cropped
/// to the source region under the crop, and the `[W, H]` it must be resized to (`None` = no
/// resize; the crop is then taken at `(ox, oy)` with reflection).
fn plan(w: usize, h: usize, bucket: &Bucket, p: &AugmentParams) -> Plan {
    let [cw, ch] = [bucket.crop[0] as usize, bucket.crop[1] as usize];
    if p.crop_only {
        let ox = ((w.saturating_sub(cw)) as f64 * p.offset.0).floor() as i64;
        let oy = ((h.saturating_sub(ch)) as f64 * p.offset.1).floor() as i64;
        // Frames smaller than the crop are centred and reflection-padded.
        let px = if w < cw { -(((cw - w) / 2) as i64) } else { ox };
        let py = if h < ch { -(((ch - h) / 2) as i64) } else { oy };
        return Plan::Native { x0: px, y0: py };
    }
    let [rw, rh] = [bucket.resize[0] as f64, bucket.resize[1] as f64];
    let s = (rw / w as f64).max(rh / h as f64);
    let sw = ((w as f64 * s).round() as usize).max(cw);
    let sh = ((h as f64 * s).round() as usize).max(ch);
    let ox = ((sw - cw) as f64 * p.offset.0).floor();
    let oy = ((sh - ch) as f64 * p.offset.1).floor();
    // Source region under the crop.
    let x0 = (ox / s).floor().clamp(0.0, (w - 1) as f64) as u32;
    let y0 = (oy / s).floor().clamp(0.0, (h - 1) as f64) as u32;
    let x1 = ((ox + cw as f64) / s)
        .ceil()
        .clamp(x0 as f64 + 1.0, w as f64) as u32;
    let y1 = ((oy + ch as f64) / s)
        .ceil()
        .clamp(y0 as f64 + 1.0, h as f64) as u32;
    Plan::Resize {
        region: (x0, y0, x1 - x0, y1 - y0),
    }
}

enum Plan {
    Native { x0: i64, y0: i64 },
    Resize { region: (u32, u32, u32, u32) },
}

/// Writes `frames` (all the same size) augmented into `out`, layout `[3, T, H, W]` with
/// `T = frames.len()` and `[W, H] = bucket.crop`.
pub fn augment_clip(frames: &[RgbImage], bucket: &Bucket, p: &AugmentParams, out: &mut [f32]) {
    let [cw, ch] = [bucket.crop[0] as usize, bucket.crop[1] as usize];
    let t_len = frames.len();
    assert_eq!(out.len(), 3 * t_len * ch * cw, "output slice size");
    let Some(first) = frames.first() else {
        return;
    };
    let (w, h) = (first.width() as usize, first.height() as usize);
    let lut = lut();
    let plane = ch * cw;
    let plan = plan(w, h, bucket, p);
    for (t, img) in frames.iter().enumerate() {
        let to = if p.reverse { t_len - 1 - t } else { t };
        let resized;
        let (src, sw, sh, x0, y0): (&RgbImage, usize, usize, i64, i64) = match plan {
            Plan::Native { x0, y0 } => (img, w, h, x0, y0),
            Plan::Resize {
                region: (x, y, rw, rh),
            } => {
                let view = imageops::crop_imm(img, x, y, rw, rh);
                resized = imageops::resize(&*view, cw as u32, ch as u32, FilterType::Triangle);
                (&resized, cw, ch, 0, 0)
            }
        };
        let raw = src.as_raw();
        for y in 0..ch {
            let sy = reflect(y0 + y as i64, sh as i64);
            for x in 0..cw {
                let xo = if p.flip { cw - 1 - x } else { x };
                let sx = reflect(x0 + x as i64, sw as i64);
                let px = &raw[(sy * sw + sx) * 3..(sy * sw + sx) * 3 + 3];
                for c in 0..3 {
                    out[(c * t_len + to) * plane + y * cw + xo] = lut[px[c] as usize];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy_reflect() {
        // numpy.pad([0,1,2,3], 3, mode="reflect") = [3,2,1,0,1,2,3,2,1,0]
        let got: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    }
}
