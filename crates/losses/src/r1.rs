//! R1 gradient penalty on real samples (Mescheder et al. 2018): γ/2 · E_b ‖∇_x Σ D(x_b)‖².
//!
//! Burn has no double backward, so the differentiable penalty uses a first-order-exact
//! directional finite difference: with d_b = g_b/‖g_b‖ the (detached) unit input gradient,
//! ‖g_b‖ ≈ (Σ D(x_b + h d_b) − Σ D(x_b − h d_b)) / 2h, whose square has the same parameter
//! gradient as ‖g_b‖² up to O(h²). Cost: one extra forward/backward and one forward of 2B
//! samples. [`r1_value`] gives the exact value (no parameter gradient) for logging and tests.

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

/// Differentiable R1 penalty (see module docs), shape [1]; `h` is the finite-difference step
/// in input units (1e-2 is plenty for inputs in [-1, 1]).
pub fn r1_penalty(disc: &Discriminator, real: Tensor<5>, gamma: f64, h: f64) -> Tensor<1> {
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
    let d = g.div(norm).mul_scalar(h); // [B, C, T, H, W], ‖d_b‖ = h
    let both = Tensor::cat(vec![real.clone().add(d.clone()), real.sub(d)], 0); // [2B, …]
    let s = disc.forward(both); // [2B, 1, t, h, w]
    let n: usize = s.dims()[1..].iter().product();
    let s = s.reshape([2 * b, n]).sum_dim(1).reshape([2 * b]); // [2B]
    let fd = s
        .clone()
        .narrow(0, 0, b)
        .sub(s.narrow(0, b, b))
        .div_scalar(2.0 * h); // [B] ≈ ‖g_b‖
    fd.square().mean().mul_scalar(gamma / 2.0)
}
