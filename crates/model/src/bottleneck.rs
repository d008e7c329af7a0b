//! Continuous bottlenecks (docs/architecture.md §6.2): AE (identity) and VAE (diagonal Gaussian).

use burn::prelude::*;
use burn::tensor::{DType, Distribution};

/// Posterior of a VAE latent: mean and clamped log-variance, each [B, L, ...].
#[derive(Clone, Debug)]
pub struct Posterior<const D: usize> {
    pub mean: Tensor<D>,
    pub logvar: Tensor<D>,
}

impl<const D: usize> Posterior<D> {
    /// Splits quant_conv's 2L channels into (mean, logvar); logvar is clamped to [−30, 20].
    pub fn from_moments(moments: Tensor<D>) -> Self {
        let mut parts = moments.chunk(2, 1);
        let logvar = parts.pop().expect("two chunks").clamp(-30.0, 20.0);
        let mean = parts.pop().expect("two chunks");
        Self { mean, logvar }
    }

    /// mean + exp(logvar/2)·N(0, 1).
    pub fn sample(&self) -> Tensor<D> {
        let std = self.logvar.clone().mul_scalar(0.5).exp();
        let noise = std.random_like(Distribution::Normal(0.0, 1.0));
        self.mean.clone().add(std.mul(noise))
    }

    /// KL(q || N(0, I)) summed over all but the batch axis, averaged over the batch.
    /// Computed in f32 whatever the latent's dtype (a loss sum).
    pub fn kl(&self) -> Tensor<1> {
        let logvar = self.logvar.clone().cast(DType::F32);
        let var = logvar.clone().exp();
        let b = self.mean.dims()[0];
        self.mean
            .clone()
            .cast(DType::F32)
            .square()
            .add(var)
            .sub(logvar)
            .sub_scalar(1.0)
            .mul_scalar(0.5)
            .sum()
            .div_scalar(b as f64)
    }
}
