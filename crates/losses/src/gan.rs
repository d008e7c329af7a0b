//! Adversarial losses on patch logits (any shape), each a mean over all logits, shape `[1]`.

use burn::prelude::*;
use burn::tensor::activation::{relu, softplus};

use crate::config::GanLoss;

/// Discriminator loss. Hinge: ½(mean relu(1 − D(x)) + mean relu(1 + D(x̂)));
/// non-saturating: ½(mean softplus(−D(x)) + mean softplus(D(x̂))).
pub fn d_loss<const D: usize>(real: Tensor<D>, fake: Tensor<D>, kind: GanLoss) -> Tensor<1> {
    let (r, f) = match kind {
        GanLoss::Hinge => (
            relu(real.neg().add_scalar(1.0)).mean(),
            relu(fake.add_scalar(1.0)).mean(),
        ),
        GanLoss::NonSaturating => (softplus(real.neg(), 1.0).mean(), softplus(fake, 1.0).mean()),
    };
    r.add(f).mul_scalar(0.5)
}

/// Generator loss. Hinge: −mean D(x̂); non-saturating: mean softplus(−D(x̂)).
pub fn g_loss<const D: usize>(fake: Tensor<D>, kind: GanLoss) -> Tensor<1> {
    match kind {
        GanLoss::Hinge => fake.mean().neg(),
        GanLoss::NonSaturating => softplus(fake.neg(), 1.0).mean(),
    }
}
