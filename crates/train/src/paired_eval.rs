//! TokenBench's paired evaluation (`token_bench/metrics_cli.py`): ground-truth videos and their
//! reconstructions in two folders, paired by name, scored per video and averaged over videos.
//!
//! * PSNR per video: `20·log10(255 / (√MSE + ε))`, MSE over all `T·H·W·C` uint8 values,
//!   `ε` = f32 machine epsilon ([`crate::metrics::psnr`]).
//! * SSIM per frame (scikit-image defaults: 7×7 uniform window, data range 255, mean over the
//!   channels), averaged over the frames ([`crate::metrics::ssim`]).
//! * LPIPS per frame (VGG, v0.1 heads) on `[-1, 1]` values, averaged over the frames
//!   ([`cosmotok_losses::Lpips`]), when its weights are given.
//!
//! Means are plain means over videos. A video's entry is a media file (video or image) or a
//! frame folder; both folders must hold the same names, and a pair must have the same shape
//! (TokenBench asserts both). rFVD is not computed: it needs the I3D network's weights, which
//! cosmotok cannot fetch or test (see the README).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use cosmotok_data::{Frames, is_image_path, is_video_path, read_any};
use cosmotok_losses::Lpips;

use crate::eval::lpips_per_frame;
use crate::metrics::{psnr, ssim_per_frame};

/// The scores of one pair.
#[derive(Clone, Debug, PartialEq)]
pub struct PairScore {
    /// The entry's name (file or folder name), the same in both folders.
    pub name: String,
    /// `[T, H, W]`.
    pub shape: [usize; 3],
    pub psnr: f64,
    pub ssim: f64,
    /// LPIPS averaged over frames; `None` without LPIPS weights.
    pub lpips: Option<f64>,
    /// Per-frame SSIM and LPIPS.
    pub ssim_per_frame: Vec<f64>,
    pub lpips_per_frame: Vec<f64>,
}

/// Per-pair scores and their means over pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedReport {
    pub pairs: Vec<PairScore>,
    pub psnr: f64,
    pub ssim: f64,
    pub lpips: Option<f64>,
}

impl PairedReport {
    /// JSON with the per-video values and the means (TokenBench writes one CSV per metric
    /// with `[name, value]` rows; this holds the same numbers).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "videos": self.pairs.iter().map(|p| serde_json::json!({
                "name": p.name,
                "frames": p.shape[0],
                "height": p.shape[1],
                "width": p.shape[2],
                "psnr": p.psnr,
                "ssim": p.ssim,
                "lpips": p.lpips,
                "ssim_per_frame": p.ssim_per_frame,
                "lpips_per_frame": p.lpips_per_frame,
            })).collect::<Vec<_>>(),
            "mean_psnr": self.psnr,
            "mean_ssim": self.ssim,
            "mean_lpips": self.lpips,
        })
    }
}

/// The entries of a folder that hold media: video and image files, and sub-folders (frame
/// folders), by name.
pub fn list_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = std::fs::read_dir(dir)
        .with_context(|| format!("`{}`: cannot list the folder", dir.display()))?;
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, p)| {
            !n.starts_with('.') && (p.is_dir() || is_video_path(p) || is_image_path(p))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Scores every pair of `videos` / `reconstructions` (see the module docs); LPIPS runs on
/// `device` when `lpips` is given.
pub fn evaluate_pairs(
    videos: &Path,
    reconstructions: &Path,
    lpips: Option<&Lpips>,
    device: &Device,
) -> Result<PairedReport> {
    let gt = list_entries(videos)?;
    let rec = list_entries(reconstructions)?;
    if gt.is_empty() {
        bail!("`{}`: no videos, images or frame folders", videos.display());
    }
    let gt_names: Vec<&str> = gt.iter().map(|e| e.0.as_str()).collect();
    let rec_names: Vec<&str> = rec.iter().map(|e| e.0.as_str()).collect();
    if gt_names != rec_names {
        let only = |a: &[&str], b: &[&str]| -> Vec<String> {
            a.iter()
                .filter(|n| !b.contains(n))
                .map(|n| n.to_string())
                .collect()
        };
        bail!(
            "`{}` and `{}` must hold the same names (pairs are matched by name); only in the \
             first: {:?}; only in the second: {:?}",
            videos.display(),
            reconstructions.display(),
            only(&gt_names, &rec_names),
            only(&rec_names, &gt_names)
        );
    }
    let mut pairs = Vec::with_capacity(gt.len());
    for ((name, a), (_, b)) in gt.iter().zip(&rec) {
        let fa = read_any(a, 0, None)?;
        let fb = read_any(b, 0, None)?;
        let (sa, sb) = (
            [fa.frames, fa.height, fa.width],
            [fb.frames, fb.height, fb.width],
        );
        if sa != sb {
            bail!(
                "`{}` is {sa:?} ([T, H, W]) but its reconstruction `{}` is {sb:?}: a pair must \
                 have the same shape",
                a.display(),
                b.display()
            );
        }
        pairs.push(score(name, &fa, &fb, lpips, device));
    }
    let n = pairs.len() as f64;
    let mean = |f: &dyn Fn(&PairScore) -> f64| pairs.iter().map(f).sum::<f64>() / n;
    Ok(PairedReport {
        psnr: mean(&|p| p.psnr),
        ssim: mean(&|p| p.ssim),
        lpips: lpips.map(|_| mean(&|p| p.lpips.unwrap_or(f64::NAN))),
        pairs,
    })
}

fn score(name: &str, a: &Frames, b: &Frames, lpips: Option<&Lpips>, device: &Device) -> PairScore {
    let (t, h, w) = (a.frames, a.height, a.width);
    let ssim_per_frame = ssim_per_frame(&a.data, &b.data, t, h, w);
    let lpips_per_frame = lpips.map_or_else(Vec::new, |net| {
        lpips_per_frame(net, &a.data, &b.data, [t, h, w], device)
    });
    PairScore {
        name: name.to_string(),
        shape: [t, h, w],
        psnr: psnr(&a.data, &b.data),
        ssim: ssim_per_frame.iter().sum::<f64>() / t as f64,
        lpips: lpips.map(|_| lpips_per_frame.iter().sum::<f64>() / t as f64),
        ssim_per_frame,
        lpips_per_frame,
    }
}
