//! Spatial / temporal augmentation of one clip into a bucket's crop (docs/architecture.md §9.2):
//! resize the smallest side to the bucket's resize target then crop (or, with `crop_only_prob`,
//! crop at native resolution with reflection padding), horizontal flip, temporal reversal, and
//! normalisation to `[-1, 1]`.
//!
//! The resize is antialiased bilinear (PyTorch `interpolate(mode="bilinear", antialias=True)`,
//! PIL `BILINEAR`) and only the output pixels inside the crop are computed, so the cost follows
//! the crop size, not the resized frame; it is checked against PyTorch in `tests/augment.rs`.
//! The same parameters apply to every frame of a clip.

use image::RgbImage;

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

/// Where the crop comes from.
enum Plan {
    /// Native resolution, crop origin `(x0, y0)` (negative: reflection padding).
    Native { x0: i64, y0: i64 },
    /// Resized to `(sw, sh)` (per-axis scales `sw / w`, `sh / h`), crop origin `(ox, oy)` in
    /// the resized frame.
    Resize {
        sw: usize,
        sh: usize,
        ox: usize,
        oy: usize,
    },
}

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
    let ox = ((sw - cw) as f64 * p.offset.0).floor() as usize;
    let oy = ((sh - ch) as f64 * p.offset.1).floor() as usize;
    Plan::Resize { sw, sh, ox, oy }
}

/// Taps of one output sample: first source index and normalised weights.
struct Taps {
    start: Vec<usize>,
    /// `weights[i * stride .. i * stride + len[i]]`.
    weights: Vec<f32>,
    len: Vec<usize>,
    stride: usize,
}

/// Antialiased bilinear (triangle filter, widened by the downscale factor) weights for output
/// samples `offset .. offset + count` of a resize from `input` to `output` samples: the
/// convention of PyTorch's `interpolate(mode="bilinear", antialias=True, align_corners=False)`
/// and PIL's `BILINEAR`.
fn taps(input: usize, output: usize, offset: usize, count: usize) -> Taps {
    let scale = input as f64 / output as f64; // source pixels per output pixel
    let support = scale.max(1.0); // triangle radius in source pixels
    let stride = (2.0 * support).ceil() as usize + 2;
    let mut t = Taps {
        start: Vec::with_capacity(count),
        weights: vec![0.0; count * stride],
        len: Vec::with_capacity(count),
        stride,
    };
    let inv = 1.0 / support;
    for i in 0..count {
        let center = (offset + i) as f64 * scale + 0.5 * scale;
        let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
        let hi = ((center + support + 0.5).floor() as usize).min(input);
        let mut total = 0.0;
        let row = &mut t.weights[i * stride..(i + 1) * stride];
        let n = (hi - lo).min(stride);
        for (k, w) in row.iter_mut().enumerate().take(n) {
            let x = ((lo + k) as f64 + 0.5 - center) * inv;
            let v = (1.0 - x.abs()).max(0.0);
            *w = v as f32;
            total += v;
        }
        if total > 0.0 {
            for w in &mut row[..n] {
                *w = (*w as f64 / total) as f32;
            }
        }
        t.start.push(lo);
        t.len.push(n);
    }
    t
}

/// Writes the `cw`×`ch` window of `img` resized as described by `taps` (optionally mirrored) into `out` (`[3, T, H, W]` at frame `to`), normalised to `[-1, 1]`. Separable:
/// a horizontal pass over the source rows the window needs, then a vertical pass.
#[allow(clippy::too_many_arguments)]
fn resize_crop(
    img: &RgbImage,
    (cw, ch): (usize, usize),
    flip: bool,
    out: &mut [f32],
    t_len: usize,
    to: usize,
    (tx, ty): (&Taps, &Taps),
) {
    let w = img.width() as usize;
    let raw = img.as_raw();
    let y_lo = ty.start[0];
    let y_hi = (0..ch)
        .map(|i| ty.start[i] + ty.len[i])
        .max()
        .unwrap_or(y_lo);
    // Horizontal pass: rows y_lo..y_hi, cw columns, RGB interleaved.
    let mut tmp = vec![0f32; (y_hi - y_lo) * cw * 3];
    for y in y_lo..y_hi {
        let src = &raw[y * w * 3..(y + 1) * w * 3];
        let dst = &mut tmp[(y - y_lo) * cw * 3..(y - y_lo + 1) * cw * 3];
        for x in 0..cw {
            let s0 = tx.start[x];
            let ws = &tx.weights[x * tx.stride..x * tx.stride + tx.len[x]];
            let (mut r, mut g, mut b) = (0f32, 0f32, 0f32);
            for (k, &wt) in ws.iter().enumerate() {
                let p = &src[(s0 + k) * 3..(s0 + k) * 3 + 3];
                r += wt * p[0] as f32;
                g += wt * p[1] as f32;
                b += wt * p[2] as f32;
            }
            dst[x * 3] = r;
            dst[x * 3 + 1] = g;
            dst[x * 3 + 2] = b;
        }
    }
    // Vertical pass into the output planes.
    let plane = ch * cw;
    let mut acc = vec![0f32; cw * 3];
    for y in 0..ch {
        acc.iter_mut().for_each(|v| *v = 0.0);
        let s0 = ty.start[y];
        let ws = &ty.weights[y * ty.stride..y * ty.stride + ty.len[y]];
        for (k, &wt) in ws.iter().enumerate() {
            let row = &tmp[(s0 + k - y_lo) * cw * 3..(s0 + k - y_lo + 1) * cw * 3];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += wt * v;
            }
        }
        for c in 0..3 {
            let base = (c * t_len + to) * plane + y * cw;
            let dst = &mut out[base..base + cw];
            for x in 0..cw {
                let xo = if flip { cw - 1 - x } else { x };
                dst[xo] = (acc[x * 3 + c].clamp(0.0, 255.0) / 255.0) * 2.0 - 1.0;
            }
        }
    }
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
    match plan(w, h, bucket, p) {
        Plan::Resize { sw, sh, ox, oy } => {
            let tx = taps(w, sw, ox, cw);
            let ty = taps(h, sh, oy, ch);
            for (t, img) in frames.iter().enumerate() {
                let to = if p.reverse { t_len - 1 - t } else { t };
                resize_crop(img, (cw, ch), p.flip, out, t_len, to, (&tx, &ty));
            }
        }
        Plan::Native { x0, y0 } => {
            for (t, img) in frames.iter().enumerate() {
                let to = if p.reverse { t_len - 1 - t } else { t };
                let raw = img.as_raw();
                for y in 0..ch {
                    let sy = reflect(y0 + y as i64, h as i64);
                    for x in 0..cw {
                        let xo = if p.flip { cw - 1 - x } else { x };
                        let sx = reflect(x0 + x as i64, w as i64);
                        let px = &raw[(sy * w + sx) * 3..(sy * w + sx) * 3 + 3];
                        for c in 0..3 {
                            out[(c * t_len + to) * plane + y * cw + xo] = lut[px[c] as usize];
                        }
                    }
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
