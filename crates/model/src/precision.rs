//! Reduced-precision compute: casting a module's parameters, and the f32 islands of a bf16
//! forward.
//!
//! Mixed-precision training (`[run] precision = "bf16-mixed"` in cosmotok-train) keeps f32
//! master weights and runs the forward and backward on a bf16 *compute copy* made with
//! [`cast_module`]. The cast is an autodiff op whose backward casts the gradient back, so the
//! gradients land, in f32, on the master parameters (same `ParamId`s) — what PyTorch's
//! `torch.autocast(dtype=torch.bfloat16)` gives, without an autocast in Burn. As in PyTorch's
//! autocast lists and the official Cosmos tokenizer code, the parts whose accuracy depends on
//! the mantissa run in f32 inside a bf16 forward ([`in_f32`]): the normalisation statistics
//! (`norm.rs`), the attention softmax (`attention.rs`), the FSQ rounding (`fsq.rs`) and the
//! VAE's KL term (`bottleneck.rs`). Constants (Haar matrices, zero-length outputs) follow the
//! input's dtype.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

/// Casts every float parameter of a module to `dtype`, keeping the parameter ids. On an
/// autodiff device the result's parameters are cast *nodes* of the original ones: gradients of
/// a loss computed with the copy flow back to the originals, cast to their dtype.
pub fn cast_module<M: Module>(module: M, dtype: FloatDType) -> M {
    module.map(&mut CastParams(dtype))
}

struct CastParams(FloatDType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// Runs `f` on an f32 copy of `x` and casts its result back to `x`'s dtype; on f32 input it is
/// just `f(x)`.
pub fn in_f32<const D: usize, const E: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<E>,
) -> Tensor<E> {
    let dtype = x.dtype();
    if dtype == DType::F32 {
        return f(x);
    }
    f(x.cast(DType::F32)).cast(dtype)
}
