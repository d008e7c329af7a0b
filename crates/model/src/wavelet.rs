//! Haar wavelet patcher / unpatcher (docs/architecture.md §3) and the plain "rearrange"
//! space-to-depth variant.
//!
//! One Haar level maps every 2×2 (image) or 2×2×2 (video) block of every channel to 4 or 8
//! bands with a fixed orthogonal-up-to-scale matrix; the bands are stacked band-major on the
//! channel axis (`out channel = band·C + c`). Applying the level again to all channels gives the
//! wavelet packet of patch size 4. The matrices below are exactly the products of the 1-D Haar
//! filters and the per-level rescale of the official code, so the LL band is the block mean.

use burn::prelude::*;
use burn::tensor::ops::PadMode;

use crate::config::PatchMethod;
use cosmotok_kernels::flex_haar;

/// 2-D band matrix, rows = input element (h·2 + w), columns = band.
/// Band order [LL, LH, HL, HH] with the first letter the W filter (band = 2·w_high + h_high).
fn haar2d_matrix(device: &Device) -> Tensor<2> {
    let mut m = [0f32; 16];
    for h in 0..2 {
        for w in 0..2 {
            for band in 0..4 {
                let (w_high, h_high) = (band / 2, band % 2);
                let sign_w = if w_high == 1 && w == 1 { -1.0 } else { 1.0 };
                let sign_h = if h_high == 1 && h == 1 { -1.0 } else { 1.0 };
                m[(h * 2 + w) * 4 + band] = sign_w * sign_h * 0.25;
            }
        }
    }
    Tensor::from_data(TensorData::new(m.to_vec(), [4, 4]), device)
}

/// 3-D band matrix, rows = input element (t·4 + h·2 + w), columns = band 4·t_high + 2·h_high + w_high.
fn haar3d_entries() -> [f32; 64] {
    let mut m = [0f32; 64];
    for e in 0..8 {
        let (t, h, w) = (e / 4, (e / 2) % 2, e % 2);
        for band in 0..8 {
            let (bt, bh, bw) = (band / 4, (band / 2) % 2, band % 2);
            let mut s = 0.125f32;
            for (hi, pos) in [(bt, t), (bh, h), (bw, w)] {
                if hi == 1 && pos == 1 {
                    s = -s;
                }
            }
            m[e * 8 + band] = s;
        }
    }
    m
}

fn haar3d_matrix(device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(haar3d_entries().to_vec(), [8, 8]), device)
}

/// Reflect-pads `dim` on the right by one sample when its length is odd (docs/architecture.md §3.1:
/// the official filters pad 0 left / 1 right in reflect mode; for even lengths it is never read).
fn pad_odd<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let n = x.dims()[dim];
    if n.is_multiple_of(2) {
        return x;
    }
    let mut pads = [(0usize, 0usize); D];
    pads[dim] = (0, 1);
    x.pad(pads, PadMode::Reflect)
}

fn levels(patch_size: usize) -> usize {
    patch_size.trailing_zeros() as usize
}

/// One 2-D Haar level: [B, C, H, W] -> [B, 4C, H/2, W/2].
fn haar2d_level(x: Tensor<4>) -> Tensor<4> {
    let x = pad_odd(pad_odd(x, 2), 3);
    let [b, c, h, w] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    let m = haar2d_matrix(&x.device()).cast(x.dtype());
    // [B, C, H2, 2, W2, 2] -> [B, C, H2, W2, 2(h), 2(w)] -> [N, 4]
    let blocks = x
        .reshape([b, c, h2, 2, w2, 2])
        .permute([0, 1, 2, 4, 3, 5])
        .reshape([b * c * h2 * w2, 4]);
    // [N, 4 bands] -> [B, C, H2, W2, 4] -> [B, 4, C, H2, W2]
    blocks
        .matmul(m)
        .reshape([b, c, h2, w2, 4])
        .permute([0, 4, 1, 2, 3])
        .reshape([b, 4 * c, h2, w2])
}

/// Inverse of [`haar2d_level`]: [B, 4C, H, W] -> [B, C, 2H, 2W].
fn inverse_haar2d_level(x: Tensor<4>) -> Tensor<4> {
    let [b, c4, h, w] = x.dims();
    let c = c4 / 4;
    // The forward matrix M satisfies M·Mᵀ = I/4, so the inverse is 4·Mᵀ.
    let m = haar2d_matrix(&x.device())
        .cast(x.dtype())
        .transpose()
        .mul_scalar(4.0);
    x.reshape([b, 4, c, h, w])
        .permute([0, 2, 3, 4, 1])
        .reshape([b * c * h * w, 4])
        .matmul(m)
        .reshape([b, c, h, w, 2, 2])
        .permute([0, 1, 2, 4, 3, 5])
        .reshape([b, c, 2 * h, 2 * w])
}

/// One 3-D Haar level: [B, C, T, H, W] -> [B, 8C, T/2, H/2, W/2].
fn haar3d_level(x: Tensor<5>) -> Tensor<5> {
    let x = pad_odd(pad_odd(pad_odd(x, 2), 3), 4);
    if flex_haar::applies(&x, false) {
        return flex_haar::haar3d(x, haar3d_entries(), false);
    }
    let [b, c, t, h, w] = x.dims();
    let (t2, h2, w2) = (t / 2, h / 2, w / 2);
    let m = haar3d_matrix(&x.device()).cast(x.dtype());
    // Split T first so that no intermediate exceeds rank 6:
    // [B·C·T2, 2, H2, 2, W2, 2] -> [B·C·T2, H2, W2, 2(t), 2(h), 2(w)] -> [N, 8]
    x.reshape([b * c * t2, 2, h2, 2, w2, 2])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([b * c * t2 * h2 * w2, 8])
        .matmul(m)
        .reshape([b, c, t2, h2, w2, 8])
        .permute([0, 5, 1, 2, 3, 4])
        .reshape([b, 8 * c, t2, h2, w2])
}

/// Inverse of [`haar3d_level`]: [B, 8C, T, H, W] -> [B, C, 2T, 2H, 2W].
fn inverse_haar3d_level(x: Tensor<5>) -> Tensor<5> {
    let [b, c8, t, h, w] = x.dims();
    let c = c8 / 8;
    // M·Mᵀ = I/8, so the inverse is 8·Mᵀ.
    if flex_haar::applies(&x, true) {
        let inverse = flex_haar::transpose(&haar3d_entries()).map(|v| 8.0 * v);
        return flex_haar::haar3d(x, inverse, true);
    }
    let m = haar3d_matrix(&x.device())
        .cast(x.dtype())
        .transpose()
        .mul_scalar(8.0);
    x.reshape([b, 8, c * t * h * w])
        .swap_dims(1, 2)
        .reshape([b * c * t * h * w, 8])
        .matmul(m)
        .reshape([b * c * t, h, w, 2, 2, 2])
        .permute([0, 3, 1, 4, 2, 5])
        .reshape([b, c, 2 * t, 2 * h, 2 * w])
}

/// Replaces frame 0 by `p` copies of it: [B, C, T, H, W] -> [B, C, T + p − 1, H, W].
fn repeat_first_frame(x: Tensor<5>, p: usize) -> Tensor<5> {
    if p == 1 {
        return x;
    }
    let first = x.clone().narrow(2, 0, 1).repeat_dim(2, p - 1);
    Tensor::cat(vec![first, x], 2)
}

/// Space-to-depth with channel order (c, p_h, p_w): [B, C, H, W] -> [B, C·p², H/p, W/p].
fn rearrange2d(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b * c, h / p, p, w / p, p])
        .permute([0, 2, 4, 1, 3])
        .reshape([b, c * p * p, h / p, w / p])
}

fn unrearrange2d(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [b, cpp, h, w] = x.dims();
    let c = cpp / (p * p);
    x.reshape([b * c, p, p, h, w])
        .permute([0, 3, 1, 4, 2])
        .reshape([b, c, h * p, w * p])
}

/// Space-time-to-depth with channel order (c, p_t, p_h, p_w).
fn rearrange3d(x: Tensor<5>, p: usize) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let (t2, h2, w2) = (t / p, h / p, w / p);
    // Two steps keep every intermediate at rank ≤ 6.
    let x = x
        .reshape([b * c, t2, p, h, w])
        .permute([0, 2, 1, 3, 4]) // [BC, pt, T2, H, W]
        .reshape([b * c * p * t2, h2, p, w2, p])
        .permute([0, 2, 4, 1, 3]); // [BC·pt·T2, ph, pw, H2, W2]
    x.reshape([b * c, p, t2, p * p, h2 * w2])
        .permute([0, 1, 3, 2, 4])
        .reshape([b, c * p * p * p, t2, h2, w2])
}

fn unrearrange3d(x: Tensor<5>, p: usize) -> Tensor<5> {
    let [b, cppp, t, h, w] = x.dims();
    let c = cppp / (p * p * p);
    let x = x
        .reshape([b * c, p, p * p, t, h * w])
        .permute([0, 1, 3, 2, 4]) // [BC, pt, T, ph·pw, H·W]
        .reshape([b * c * p * t, p, p, h, w])
        .permute([0, 3, 1, 4, 2]) // [.., H, ph, W, pw]
        .reshape([b * c, p, t, h * p, w * p]);
    x.permute([0, 2, 1, 3, 4])
        .reshape([b, c, t * p, h * p, w * p])
}

/// 2-D patcher of patch size `p` ∈ {1, 2, 4, 8}: [B, C, H, W] -> [B, C·p², H/p, W/p].
pub fn patch2d(x: Tensor<4>, p: usize, method: PatchMethod) -> Tensor<4> {
    match method {
        PatchMethod::Haar => (0..levels(p)).fold(x, |x, _| haar2d_level(x)),
        PatchMethod::Rearrange => rearrange2d(x, p),
    }
}

/// Inverse of [`patch2d`].
pub fn unpatch2d(x: Tensor<4>, p: usize, method: PatchMethod) -> Tensor<4> {
    match method {
        PatchMethod::Haar => (0..levels(p)).fold(x, |x, _| inverse_haar2d_level(x)),
        PatchMethod::Rearrange => unrearrange2d(x, p),
    }
}

/// 3-D causal patcher: [B, C, T, H, W] -> [B, C·p³, 1 + (T−1)/p, H/p, W/p].
/// Frame 0 is repeated p times first so that it is encoded alone.
pub fn patch3d(x: Tensor<5>, p: usize, method: PatchMethod) -> Tensor<5> {
    patch3d_chunk(x, p, method, true)
}

/// [`patch3d`] of one chunk of a longer clip: only the first chunk repeats frame 0; later
/// chunks (a multiple of p frames) map k·p frames to k.
pub fn patch3d_chunk(x: Tensor<5>, p: usize, method: PatchMethod, first: bool) -> Tensor<5> {
    let x = if first { repeat_first_frame(x, p) } else { x };
    match method {
        PatchMethod::Haar => (0..levels(p)).fold(x, |x, _| haar3d_level(x)),
        PatchMethod::Rearrange => rearrange3d(x, p),
    }
}

/// Inverse of [`patch3d`]: unpatch, then drop the p − 1 replicated leading frames.
pub fn unpatch3d(x: Tensor<5>, p: usize, method: PatchMethod) -> Tensor<5> {
    unpatch3d_chunk(x, p, method, true)
}

/// [`unpatch3d`] of one chunk: only the first chunk drops the replicated frames.
pub fn unpatch3d_chunk(x: Tensor<5>, p: usize, method: PatchMethod, first: bool) -> Tensor<5> {
    let x = match method {
        PatchMethod::Haar => (0..levels(p)).fold(x, |x, _| inverse_haar3d_level(x)),
        PatchMethod::Rearrange => unrearrange3d(x, p),
    };
    if !first {
        return x;
    }
    let t = x.dims()[2];
    x.narrow(2, p - 1, t - (p - 1))
}
