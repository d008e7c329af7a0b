//! Perceptual (feature L1) and Gram-matrix losses on VGG-16 features (docs/architecture.md §9.2):
//! no LPIPS linear heads, no feature normalisation, per-layer weights [1/2.6, 1/4.8, 1/3.7, 1/5.6,
//! 10/1.5]; videos go through the VGG frame by frame.

use burn::prelude::*;
use burn::tensor::DType;

use crate::config::GramMode;
use crate::vgg::Vgg16;

/// Per-layer weights of relu1_2 … relu5_3.
pub const LAYER_WEIGHTS: [f64; 5] = [1.0 / 2.6, 1.0 / 4.8, 1.0 / 3.7, 1.0 / 5.6, 10.0 / 1.5];

/// [B, C, T, H, W] → [B·T, C, H, W] (frame-major within each clip).
pub fn frames_to_batch(x: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = x.dims();
    x.swap_dims(1, 2).reshape([b * t, c, h, w])
}

/// VGG features of both clips, computed frame-wise, plus the clip shape (B, T).
pub struct FeaturePair {
    pub x: Vec<Tensor<4>>,
    pub xhat: Vec<Tensor<4>>,
    pub batch: usize,
    pub frames: usize,
}

impl FeaturePair {
    /// Runs the VGG on x ([B·T, 3, H, W], detached: the target needs no gradient, so its
    /// half of the VGG backward pass is never built) and on x̂.
    pub fn compute(vgg: &Vgg16, x: Tensor<5>, xhat: Tensor<5>) -> Self {
        let [b, _, t, _, _] = x.dims();
        let fx = vgg.features(frames_to_batch(x.detach()));
        let fy = vgg.features(frames_to_batch(xhat));
        Self {
            x: fx,
            xhat: fy,
            batch: b,
            frames: t,
        }
    }

    /// Σ_l w_l · mean |f_l(x) − f_l(x̂)|, shape `[1]`.
    pub fn perceptual(&self) -> Tensor<1> {
        self.x
            .iter()
            .zip(&self.xhat)
            .zip(LAYER_WEIGHTS)
            // The mean in f32 when the VGG runs in bf16.
            .map(|((a, b), w)| {
                let d = b.clone().sub(a.clone()).cast(DType::F32);
                d.abs().mean().mul_scalar(w)
            })
            .reduce(|a, b| a.add(b))
            .expect("five layers")
    }

    /// Σ_l w_l · mean (G_l(x) − G_l(x̂))², shape `[1]`.
    pub fn gram(&self, mode: GramMode) -> Tensor<1> {
        self.x
            .iter()
            .zip(&self.xhat)
            .zip(LAYER_WEIGHTS)
            .map(|((a, b), w)| {
                // Gram matrices are sums over every position: in f32.
                let ga = gram_matrix(a.clone().cast(DType::F32), self.batch, self.frames, mode);
                let gb = gram_matrix(b.clone().cast(DType::F32), self.batch, self.frames, mode);
                gb.sub(ga).square().mean().mul_scalar(w)
            })
            .reduce(|a, b| a.add(b))
            .expect("five layers")
    }
}

/// Gram matrices of frame-wise features f [B·T, C, h, w]:
/// `Clip` → [B, C, C] = F Fᵀ / (T·h·w) with F [B, C, T·h·w];
/// `Frame` → [B·T, C, C] = F Fᵀ / (h·w) with F [B·T, C, h·w].
pub fn gram_matrix(f: Tensor<4>, batch: usize, frames: usize, mode: GramMode) -> Tensor<3> {
    let [bt, c, h, w] = f.dims();
    let m = match mode {
        GramMode::Clip => f
            .reshape([batch, frames, c, h * w])
            .swap_dims(1, 2)
            .reshape([batch, c, frames * h * w]),
        GramMode::Frame => f.reshape([bt, c, h * w]),
    };
    let n = m.dims()[2] as f64;
    m.clone().matmul(m.swap_dims(1, 2)).div_scalar(n)
}
