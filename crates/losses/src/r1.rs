//! R1 gradient penalty on real samples (Mescheder et al. 2018): γ/2 · E_b ‖∇_x Σ D(x_b)‖².
//!
//! Burn has no double backward, so [`r1_penalty`] takes the input gradient g from one
//! backward, then a forward-mode tangent pass of the discriminator along the detached unit
//! direction g/‖g‖; the tangent output is ‖g‖ as a function of the parameters, exactly (a
//! finite difference instead is wrong by orders of magnitude in the parameter gradient for
//! piecewise-linear LeakyReLU nets). Cost: one extra forward/backward and one tangent forward.
//! [`r1_value`] gives the exact value (no parameter gradient) for logging.

use burn::prelude::*;

use crate::discriminator::Discriminator;

/// Exact per-sample input gradient g = ∇_x Σ D(x) ([B, C, T, H, W], detached). `real` must be
/// on an autodiff device. D's parameter gradients from this pass are discarded.
pub fn input_gradient(disc: &Discriminator, real: Tensor<5>) -> Tensor<5> {
    let x = real.detach().require_grad();
    let grads = disc.forward(x.clone()).sum().backward();
    let g = x.grad(&grads).expect("input gradient (autodiff device?)");
    Tensor::from_inner(g)
}

/// γ/2 · mean_b ‖∇_x Σ D(x_b)‖² (exact, host value).
pub fn r1_value(disc: &Discriminator, real: Tensor<5>, gamma: f64) -> f64 {
    let g = input_gradient(disc, real);
    let b = g.dims()[0];
    let sq: Vec<f32> = g.square().into_data().try_to_vec::<f32>().expect("f32");
    let per = sq.len() / b;
    let mean = sq
        .chunks(per)
        .map(|c| c.iter().map(|v| *v as f64).sum::<f64>())
        .sum::<f64>()
        / b as f64;
    gamma / 2.0 * mean
}

/// Differentiable R1 penalty, shape `[1]`: with d_b = g_b/‖g_b‖ (detached), the exact
/// directional derivative j_b = ∇_x Σ D(x_b) · d_b = ‖g_b‖ from a forward-mode tangent pass
/// ([`Discriminator::forward_tangent`]); γ/2 · mean_b j_b² has the value and the parameter
/// gradient of γ/2 · E‖g‖² (∂j²/∂θ = 2‖g‖ d·∂g/∂θ = ∂‖g‖²/∂θ).
pub fn r1_penalty(disc: &Discriminator, real: Tensor<5>, gamma: f64) -> Tensor<1> {
    let real = real.detach();
    let [b, c, t, hh, w] = real.dims();
    let g = input_gradient(disc, real.clone());
    let norm = g
        .clone()
        .reshape([b, c * t * hh * w])
        .square()
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12)
        .reshape([b, 1, 1, 1, 1]);
    let d = g.div(norm); // [B, C, T, H, W], unit per sample
    let (_, dy) = disc.forward_tangent(real, d); // [B, 1, t, h, w]
    let n: usize = dy.dims()[1..].iter().product();
    let j = dy.reshape([b, n]).sum_dim(1); // [B, 1] = ‖g_b‖
    j.square().mean().mul_scalar(gamma / 2.0)
}
