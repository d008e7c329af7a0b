//! The adaptive generator weight of taming-transformers' VQGAN loss and the gradient
//! combination a generator step needs to apply it without a second forward.
//!
//! d_weight = ‖∇_last nll‖ / (‖∇_last g_loss‖ + 1e-4), clamped to [0, max], detached; the
//! generator's adversarial term is d_weight · disc_weight · factor(iter) · g_loss.
//! Burn cannot backward twice through one graph, so a trainer can take one backward of the
//! reconstruction loss and one of g_loss (two forwards), read the last layer's gradients by
//! key from each (`cosmotok_model::params::named_grads`), then merge both with
//! [`combine_grads`].

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Gradients;

const EPS: f64 = 1e-4;

fn norm(v: &TensorData) -> f64 {
    let v: Vec<f32> = v
        .clone()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float gradient");
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

/// ‖nll_grad‖ / (‖g_grad‖ + 1e-4) clamped to [0, max]; host f64 norms. A non-finite ratio
/// (a NaN gradient) returns 0 so the adversarial term switches off rather than exploding.
pub fn adaptive_weight(nll_grad: &TensorData, g_grad: &TensorData, max: f64) -> f64 {
    let w = norm(nll_grad) / (norm(g_grad) + EPS);
    if w.is_finite() {
        w.clamp(0.0, max)
    } else {
        0.0
    }
}

/// [`adaptive_weight`] on tensors.
pub fn adaptive_weight_tensors<const D: usize>(
    nll_grad: Tensor<D>,
    g_grad: Tensor<D>,
    max: f64,
) -> f64 {
    adaptive_weight(&nll_grad.into_data(), &g_grad.into_data(), max)
}

struct Combine {
    a: GradientsParams,
    b: GradientsParams,
    wb: f64,
    out: GradientsParams,
}

impl ModuleVisitor for Combine {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        let ga = self.a.remove::<D>(id);
        let gb = self.b.remove::<D>(id).map(|g| g.mul_scalar(self.wb));
        let g = match (ga, gb) {
            (Some(a), Some(b)) => Some(a.add(b)),
            (a, b) => a.or(b),
        };
        if let Some(g) = g {
            self.out.register(id, g);
        }
    }
}

/// Gradients of `loss_a + wb · loss_b` for `module` from the separate backward passes.
pub fn combine_grads<M: Module>(
    module: &M,
    a: Gradients,
    b: Gradients,
    wb: f64,
) -> GradientsParams {
    let mut v = Combine {
        a: GradientsParams::from_grads(a, module),
        b: GradientsParams::from_grads(b, module),
        wb,
        out: GradientsParams::new(),
    };
    module.visit(&mut v);
    v.out
}
