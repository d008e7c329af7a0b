//! Normalisations: GroupNorm-32 for the 2-D models, per-frame GroupNorm-1 ("CausalNormalize",
//! spec §5.2) for the video models. Both use eps 1e-6 and a per-channel affine.

use burn::nn::{GroupNorm, GroupNormConfig};
use burn::prelude::*;

use crate::flex_norm;

pub const NORM_EPS: f64 = 1e-6;

/// 2-D GroupNorm (keys `<name>.weight`, `<name>.bias`).
pub fn group_norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(NORM_EPS)
        .init(device)
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
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let gamma = self.norm.gamma.as_ref().expect("affine").val();
        let beta = self.norm.beta.as_ref().expect("affine").val();
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
