//! Reconstruction grids: one row per clip, showing input | reconstruction | error (|x − x̂|,
//! amplified ×4), each as the first, middle and last frame of the clip.

use std::path::Path;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};

use crate::metrics::to_u8;

/// One clip and its reconstruction, `[3, T, H, W]` in `[-1, 1]`.
pub struct GridRow<'a> {
    pub input: &'a [f32],
    pub recon: &'a [f32],
    pub frames: usize,
    pub height: usize,
    pub width: usize,
}

const GAP: u32 = 4;
const ERROR_GAIN: f32 = 4.0;

/// The frames shown per clip: first, middle and last (deduplicated).
fn shown_frames(t: usize) -> Vec<usize> {
    let mut v = vec![0, t / 2, t - 1];
    v.dedup();
    v
}

/// Renders the grid (rows may differ in size; cells are placed at their natural size).
pub fn render(rows: &[GridRow<'_>]) -> RgbImage {
    let cols: Vec<Vec<usize>> = rows.iter().map(|r| shown_frames(r.frames)).collect();
    let width = rows
        .iter()
        .zip(&cols)
        .map(|(r, c)| (3 * c.len()) as u32 * (r.width as u32 + GAP) + 2 * GAP)
        .max()
        .unwrap_or(1);
    let height: u32 = rows.iter().map(|r| r.height as u32 + GAP).sum::<u32>() + GAP;
    let mut img = RgbImage::from_pixel(width, height, Rgb([32, 32, 32]));
    let mut y0 = GAP;
    for (r, frames) in rows.iter().zip(&cols) {
        let (h, w, t) = (r.height, r.width, r.frames);
        let plane = h * w;
        let mut x0 = GAP;
        for panel in 0..3 {
            for &f in frames {
                for y in 0..h {
                    for x in 0..w {
                        let mut px = [0u8; 3];
                        for (c, p) in px.iter_mut().enumerate() {
                            let i = (c * t + f) * plane + y * w + x;
                            *p = match panel {
                                0 => to_u8(r.input[i]),
                                1 => to_u8(r.recon[i]),
                                // |x − x̂| in [0, 2] → amplified onto [-1, 1].
                                _ => to_u8(
                                    ((r.input[i] - r.recon[i]).abs() * ERROR_GAIN / 2.0) * 2.0
                                        - 1.0,
                                ),
                            };
                        }
                        img.put_pixel(x0 + x as u32, y0 + y as u32, Rgb(px));
                    }
                }
                x0 += w as u32 + GAP;
            }
            x0 += GAP;
        }
        y0 += h as u32 + GAP;
    }
    img
}

/// Renders and saves the grid as PNG.
pub fn save(rows: &[GridRow<'_>], path: &Path) -> Result<()> {
    cosmotok_data::ensure_parent_dir(path)?;
    render(rows)
        .save(path)
        .with_context(|| format!("cannot write the grid `{}`", path.display()))
}
