//! Normalisations: GroupNorm-32 for the 2-D models, per-frame GroupNorm-1 ("CausalNormalize",
//! docs/architecture.md §5.2) for the video models. Both use eps 1e-6 and a per-channel affine.

use burn::nn::{GroupNorm, GroupNormConfig};
use burn::prelude::*;

use burn::tensor::{DType, FloatDType};

use crate::precision::{cast_module, in_f32};
use cosmotok_kernels::flex_norm;

pub const NORM_EPS: f64 = 1e-6;

/// 2-D GroupNorm (keys `<name>.weight`, `<name>.bias`).
pub fn group_norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(NORM_EPS)
        .init(device)
}

/// `norm.forward(x)`, with the statistics and affine in f32 when `x` is bf16 (the result is
/// cast back).
pub fn norm2d(norm: &GroupNorm, x: Tensor<4>) -> Tensor<4> {
    if x.dtype() == DType::F32 {
        return norm.forward(x);
    }
    let norm = cast_module(norm.clone(), FloatDType::F32);
    in_f32(x, |x| norm.forward(x))
}

/// Per-frame LayerNorm over (C, H, W) with per-channel affine. Keys `<name>.norm.weight/bias`.
#[derive(Module, Debug)]
pub struct CausalNorm {
    pub norm: GroupNorm,
}

impl CausalNorm {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            norm: group_norm(1, channels, device),
        }
    }

    /// [B, C, T, H, W] -> same; statistics per (batch, frame), never across frames. On Flex
    /// through the fused kernels of [`cosmotok_kernels::flex_norm`].
    /// A bf16 input is normalised in f32 (statistics and affine) and the result cast back.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let gamma = self.norm.gamma.as_ref().expect("affine").val();
        let beta = self.norm.beta.as_ref().expect("affine").val();
        if x.dtype() != DType::F32 {
            let (gamma, beta) = (gamma.cast(DType::F32), beta.cast(DType::F32));
            return in_f32(x, |x| self.forward_f32(x, gamma, beta));
        }
        self.forward_f32(x, gamma, beta)
    }

    fn forward_f32(&self, x: Tensor<5>, gamma: Tensor<1>, beta: Tensor<1>) -> Tensor<5> {
        if flex_norm::applies(&x) {
            return flex_norm::frame_norm(x, gamma, beta, NORM_EPS);
        }
        flex_norm::reference(x, gamma, beta, NORM_EPS)
    }
}
