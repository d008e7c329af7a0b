//! Global-norm gradient clipping (docs/architecture.md §9.2: all gradients together clipped to norm
//! 1.0, as
//! `torch.nn.utils.clip_grad_norm_`). burn's own `GradientClipping::Norm` clips each tensor on
//! its own, which is a different (weaker) operation.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::DType;

/// Sums the squares of every gradient of `module`'s float parameters on the device, across
/// tensors in f64 where the device supports it, else f32 (one host read per step instead of
/// one per tensor).
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            // f64 where the device has it (not every GPU does: WGSL has no f64).
            let dtype = if g.device().supports_dtype(DType::F64) {
                DType::F64
            } else {
                DType::F32
            };
            let s = g.square().sum().cast(dtype);
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc.add(s),
                None => s,
            });
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

/// The global L2 norm of all gradients of `module` (`None` when it is not finite: a NaN or Inf
/// anywhere propagates into the sum).
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<f64> {
    let mut v = SquaredNorm { grads, sum: None };
    module.visit(&mut v);
    let sum = v.sum.map_or(0.0, |s| s.into_scalar::<f64>());
    let norm = sum.sqrt();
    norm.is_finite().then_some(norm)
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
