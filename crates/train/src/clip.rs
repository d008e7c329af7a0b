//! Global-norm gradient clipping (spec §9.2: all gradients together clipped to norm 1.0, as
//! `torch.nn.utils.clip_grad_norm_`). burn's own `GradientClipping::Norm` clips each tensor on
//! its own, which is a different (weaker) operation.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Sums the squares of every gradient of `module`'s float parameters (in f64 on the host).
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
    finite: bool,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s: f64 = g.square().sum().into_scalar::<f32>() as f64;
            if !s.is_finite() {
                self.finite = false;
            }
            self.sum += s;
        }
    }
}

/// Scales every gradient of `module` by a factor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// The global L2 norm of all gradients of `module` (`None` when it is not finite).
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<f64> {
    let mut v = SquaredNorm {
        grads,
        sum: 0.0,
        finite: true,
    };
    module.visit(&mut v);
    let norm = v.sum.sqrt();
    (v.finite && norm.is_finite()).then_some(norm)
}

/// Multiplies every gradient by `factor`.
pub fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    module.visit(&mut Scale { grads, factor });
}

/// Clips the global norm of the gradients to `max_norm` (as PyTorch: factor
/// `max_norm / (norm + 1e-6)` when it is below 1). Returns the norm before clipping, or `None`
/// when it is not finite (the caller skips the step). `max_norm = 0` only measures.
pub fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<f64> {
    let norm = global_norm(module, grads)?;
    if max_norm > 0.0 {
        let factor = max_norm / (norm + 1e-6);
        if factor < 1.0 {
            scale_grads(module, grads, factor);
        }
    }
    Some(norm)
}
