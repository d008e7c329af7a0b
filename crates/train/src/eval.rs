//! Evaluation of a tokenizer on a list of clips: PSNR and SSIM with the TokenBench formulas
//! (per clip, then averaged), FSQ codebook usage and perplexity, and a reconstruction grid.

use std::path::Path;

use anyhow::Result;
use burn::prelude::*;
use cosmotok_model::Tokenizer;

use crate::data::Batch;
use crate::data::batch_tensor;
use crate::grid::{self, GridRow};
use crate::metrics::{CodeStats, psnr, ssim, to_u8};
use cosmotok_losses::Lpips;

/// Averages over the evaluated clips.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub clips: usize,
    pub psnr: f64,
    pub ssim: f64,
    /// FSQ only: fraction of the codebook used, and perplexity of the code distribution.
    pub codebook_usage: Option<f64>,
    pub perplexity: Option<f64>,
    /// LPIPS (VGG, v0.1) per frame on the uint8-quantised clips, averaged over frames then
    /// clips; when LPIPS weights were given.
    pub lpips: Option<f64>,
}

impl EvalReport {
    pub fn fields(&self) -> Vec<(String, f64)> {
        let mut v = vec![
            ("clips".to_string(), self.clips as f64),
            ("psnr".into(), self.psnr),
            ("ssim".into(), self.ssim),
        ];
        if let Some(l) = self.lpips {
            v.push(("lpips".into(), l));
        }
        if let Some(u) = self.codebook_usage {
            v.push(("codebook_usage".into(), u));
        }
        if let Some(p) = self.perplexity {
            v.push(("perplexity".into(), p));
        }
        v
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "eval on {} clips: PSNR {:.2} dB, SSIM {:.4}",
            self.clips, self.psnr, self.ssim
        );
        if let Some(l) = self.lpips {
            s += &format!(", LPIPS {l:.4}");
        }
        if let (Some(u), Some(p)) = (self.codebook_usage, self.perplexity) {
            s += &format!(", codebook usage {:.2}%, perplexity {p:.1}", 100.0 * u);
        }
        s
    }
}

/// Reconstructs up to `max_clips` clips of `batches` and measures them; writes a grid of the
/// first `grids` clips to `grid_path` when given, and side-by-side mp4s (input | reconstruction)
/// of the same clips into `video_dir` when given (needs the `video` feature). With `lpips`,
/// LPIPS is measured too.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &Tokenizer,
    batches: &[Batch],
    device: &Device,
    max_clips: usize,
    grids: usize,
    grid_path: Option<&Path>,
    video_dir: Option<&Path>,
    lpips: Option<&Lpips>,
) -> Result<EvalReport> {
    let mut codes = model.fsq().map(|f| CodeStats::new(f.codebook_size()));
    let (mut n, mut sum_psnr, mut sum_ssim, mut sum_lpips) = (0usize, 0.0, 0.0, 0.0);
    let mut kept: Vec<(Vec<f32>, Vec<f32>, [usize; 3])> = Vec::new();
    'outer: for batch in batches {
        let x = batch_tensor(batch, device);
        let (enc, recon) = model.autoencode(x, false);
        let recon: Vec<f32> = recon
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if let (Some(stats), Some(idx)) = (&mut codes, enc.indices) {
            let idx: Vec<i64> = idx
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            stats.add(&idx);
        }
        let [b, _, t, h, w] = batch.shape;
        let per = 3 * t * h * w;
        for i in 0..b {
            if n >= max_clips {
                break 'outer;
            }
            let a = &batch.data[i * per..(i + 1) * per];
            let r = &recon[i * per..(i + 1) * per];
            sum_psnr += psnr(a, r);
            sum_ssim += ssim(a, r, t, h, w);
            if let Some(net) = lpips {
                // On the uint8 levels, as the metric is defined on video files.
                let q = |v: &[f32]| -> Vec<f32> {
                    v.iter()
                        .map(|x| to_u8(*x) as f32 / 255.0 * 2.0 - 1.0)
                        .collect()
                };
                let per_frame = lpips_per_frame(net, &q(a), &q(r), [t, h, w], device);
                sum_lpips += per_frame.iter().sum::<f64>() / t as f64;
            }
            if kept.len() < grids {
                kept.push((a.to_vec(), r.to_vec(), [t, h, w]));
            }
            n += 1;
        }
    }
    if n == 0 {
        anyhow::bail!("evaluation: no clips to evaluate (is the eval data empty?)");
    }
    if let Some(path) = grid_path
        && !kept.is_empty()
    {
        let rows: Vec<GridRow<'_>> = kept
            .iter()
            .map(|(a, r, [t, h, w])| GridRow {
                input: a,
                recon: r,
                frames: *t,
                height: *h,
                width: *w,
            })
            .collect();
        grid::save(&rows, path)?;
    }
    if let Some(dir) = video_dir {
        for (i, (a, r, [t, h, w])) in kept.iter().enumerate() {
            write_side_by_side(a, r, [*t, *h, *w], &dir.join(format!("clip_{i}.mp4")))?;
        }
    }
    Ok(EvalReport {
        clips: n,
        psnr: sum_psnr / n as f64,
        ssim: sum_ssim / n as f64,
        codebook_usage: codes.as_ref().map(|c| c.usage()),
        perplexity: codes.as_ref().map(|c| c.perplexity()),
        lpips: lpips.map(|_| sum_lpips / n as f64),
    })
}

/// The LPIPS network (real VGG-16 widths) of a VGG-16 file and a heads file: both or neither.
pub fn load_lpips(
    vgg: Option<&Path>,
    lin: Option<&Path>,
    device: &Device,
) -> Result<Option<Lpips>> {
    match (vgg, lin) {
        (None, None) => Ok(None),
        (Some(vgg), Some(lin)) => Ok(Some(
            Lpips::load(vgg, lin, cosmotok_losses::vgg::VGG16_WIDTHS, device)
                .map_err(|e| anyhow::anyhow!("LPIPS: {e}"))?,
        )),
        _ => anyhow::bail!("LPIPS needs both the VGG-16 and the heads file (or neither)"),
    }
}

/// Frames per LPIPS forward (bounds memory on long, large clips).
const LPIPS_CHUNK: usize = 8;

/// LPIPS of each frame of two `[3, T, H, W]` clips in `[-1, 1]`.
pub fn lpips_per_frame(
    net: &Lpips,
    a: &[f32],
    b: &[f32],
    [t, h, w]: [usize; 3],
    device: &Device,
) -> Vec<f64> {
    let plane = h * w;
    // Frames `start..start + n` as `[n, 3, H, W]`.
    let frames = |x: &[f32], start: usize, n: usize| {
        let mut data = Vec::with_capacity(n * 3 * plane);
        for i in start..start + n {
            for c in 0..3 {
                let off = (c * t + i) * plane;
                data.extend_from_slice(&x[off..off + plane]);
            }
        }
        Tensor::<4>::from_data(TensorData::new(data, [n, 3, h, w]), device)
    };
    let mut out = Vec::with_capacity(t);
    for start in (0..t).step_by(LPIPS_CHUNK) {
        let n = LPIPS_CHUNK.min(t - start);
        let d = net.distance(frames(a, start, n), frames(b, start, n));
        let d: Vec<f32> = d
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 distances");
        out.extend(d.into_iter().map(f64::from));
    }
    out
}

/// `[3, T, H, W]` input and reconstruction side by side (`[3, T, H, 2W]`) as an mp4.
#[cfg(feature = "video")]
pub fn write_side_by_side(a: &[f32], r: &[f32], [t, h, w]: [usize; 3], path: &Path) -> Result<()> {
    let mut data = vec![0f32; 3 * t * h * 2 * w];
    for ct in 0..3 * t {
        for y in 0..h {
            let src = (ct * h + y) * w;
            let dst = (ct * h + y) * 2 * w;
            data[dst..dst + w].copy_from_slice(&a[src..src + w]);
            data[dst + w..dst + 2 * w].copy_from_slice(&r[src..src + w]);
        }
    }
    let frames = cosmotok_data::Frames {
        data,
        frames: t,
        height: h,
        width: 2 * w,
        fps: None,
    };
    cosmotok_data::ensure_parent_dir(path)?;
    cosmotok_data::write_video(path, &frames, cosmotok_data::DEFAULT_FPS)
}

/// Without the `video` feature there is no mp4 writer.
#[cfg(not(feature = "video"))]
pub fn write_side_by_side(_: &[f32], _: &[f32], _: [usize; 3], path: &Path) -> Result<()> {
    anyhow::bail!(
        "cannot write `{}`: side-by-side videos need cosmotok built with the `video` feature",
        path.display()
    )
}
