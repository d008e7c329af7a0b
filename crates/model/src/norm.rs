//! Normalisations: GroupNorm-32 for the 2-D models, per-frame GroupNorm-1 ("CausalNormalize",
//! docs/architecture.md §5.2) for the video models. Both use eps 1e-6 and a per-channel affine.

use burn::nn::{GroupNorm, GroupNormConfig};
use burn::prelude::*;

use burn::tensor::{DType, FloatDType};

use crate::flex_norm;
use crate::precision::{cast_module, in_f32};

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
    /// through the fused kernels of [`crate::flex_norm`].
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
        self.forward_tensor_ops(x, gamma, beta)
    }

    /// The norm written with burn's tensor ops (backends without the fused kernels).
    pub(crate) fn forward_tensor_ops(
        &self,
        x: Tensor<5>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> Tensor<5> {
        let [_, c, _, _, _] = x.dims();
        let mean = x.clone().mean_dims(&[1, 3, 4]);
        let centered = x.sub(mean);
        let var = centered.clone().square().mean_dims(&[1, 3, 4]);
        let normed = centered.div(var.add_scalar(NORM_EPS).sqrt());
        normed
            .mul(gamma.reshape([1, c, 1, 1, 1]))
            .add(beta.reshape([1, c, 1, 1, 1]))
    }
}
