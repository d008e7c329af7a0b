//! SiLU, `x · σ(x)`, the activation after every norm (docs/architecture.md §5.3), with one fused,
//! parallel Flex kernel for the forward pass and one for the gradient.
//!
//! burn computes SiLU as `x.mul(sigmoid(x))`: on Flex a serial pass calling libm's `expf` per
//! element, a multiply, and in the backward pass three more element-wise ops and an add, all on
//! the calling thread. Here each pass is one loop over rayon chunks, and `exp` is a
//! vectorisable polynomial ([`exp`], within 2 ulp of the true value, like PyTorch's vectorised
//! SiLU) compiled for AVX-512 or AVX2 where the CPU has them. Registered through burn's
//! backend-extension API; other backends keep burn's `silu`.

use burn::backend::autodiff::NodeId;
use std::marker::PhantomData;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::retro_forward::RetroForward;
use burn::backend::autodiff::checkpoint::state::BackwardStates;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use crate::flex_host::f32_tensor;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// The extension operations.
#[backend_extension(Flex, Autodiff)]
pub trait FusedSilu: Backend {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// dL/dx of `silu(x)` for the output gradient `grad`; burn's ops unless overridden.
    fn silu_fused_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        backward_with_ops::<Self>(x, grad)
    }
}

/// dL/dx of `x · sigmoid(x)` with `B`'s tensor ops: what burn's autodiff computes for its
/// `silu` (mul and sigmoid backward steps, summed).
fn backward_with_ops<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let direct = B::float_mul(grad.clone(), s.clone());
    let through_sigmoid = B::sigmoid_backward(s, B::float_mul(grad, x));
    B::float_add(direct, through_sigmoid)
}

/// e^x for f32: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by Cephes' degree-7 polynomial, 2^n
/// through the exponent bits. Relative error ≤ 2 ulp; saturates to 0 below −87.3 and to
/// f32::MAX-range values near 88.7 (never inf or NaN), which σ needs no finer. Branch-free so
/// that the compiler vectorises the loops that call it.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // max/min, not clamp: a NaN must become a number before the integer conversion below.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.7);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n: n ∈ [−126, 128] after the clamp; 128 is split as 2^127 · 2 to stay finite.
    // SAFETY: n is a whole number in [−126, 128] (NaN input becomes −87.3 through max/min),
    // so the conversion is exact; unlike `as`, it needs no saturation and vectorises.
    let n: i32 = unsafe { n.to_int_unchecked() };
    // Wrapping integer ops (none can overflow here): overflow checks of a debug build would
    // otherwise add branches that stop the loop from vectorising.
    let half = n >> 1;
    let scale = |e: i32| f32::from_bits((e.wrapping_add(127) as u32).wrapping_shl(23));
    er * scale(half) * scale(n.wrapping_sub(half))
}

/// σ(x) = 1 / (1 + e^−x).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `out[i] = silu(x[i])`.
#[inline(always)]
fn silu_slice(out: &mut [f32], x: &[f32]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = x * sigmoid(x);
    }
}

/// `out[i] = dL/dx[i]` for output gradient `g[i]`: σ + x·σ·(1 − σ), times g.
#[inline(always)]
fn silu_grad_slice(out: &mut [f32], x: &[f32], g: &[f32]) {
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
        let s = sigmoid(x);
        *o = g * (s + x * s * (1.0 - s));
    }
}

/// `silu` of each `x` (no `g`), or its derivative times `g`, into `out`.
#[inline(always)]
fn slices(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    match g {
        None => silu_slice(out, x),
        Some(g) => silu_grad_slice(out, x, g),
    }
}

/// [`slices`] compiled for the best vector unit the CPU has (the build targets baseline x86-64,
/// whose SSE2 would leave most of AVX-512's width unused).
mod simd {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
        super::slices(out, x, g)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
        super::slices(out, x, g)
    }

    pub fn run(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { avx512(out, x, g) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX2 and FMA.
                return unsafe { avx2(out, x, g) };
            }
        }
        super::slices(out, x, g)
    }
}

/// A new contiguous f32 tensor shaped like `like`, filled chunk by chunk in parallel.
fn fill_parallel(like: &FlexTensor, f: impl Fn(usize, &mut [f32]) + Sync) -> FlexTensor {
    let len = like.layout().num_elements();
    let mut out = vec![0.0f32; len];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, o)| f(i * CHUNK, o));
    f32_tensor(out, like.layout().shape())
}

impl FusedSilu for Flex {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Flex::float_mul(x.clone(), Flex::sigmoid(x));
        }
        let x = x.to_contiguous();
        let xs: &[f32] = x.storage();
        fill_parallel(&x, |at, out| simd::run(out, &xs[at..at + out.len()], None))
    }

    fn silu_fused_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32
            || grad.dtype() != DType::F32
            || x.layout().shape() != grad.layout().shape()
        {
            return backward_with_ops::<Flex>(x, grad);
        }
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let (xs, gs): (&[f32], &[f32]) = (x.storage(), grad.storage());
        fill_parallel(&x, |at, out| {
            let range = at..at + out.len();
            simd::run(out, &xs[range.clone()], Some(&gs[range]))
        })
    }
}

#[derive(Debug)]
struct SiluBackward;

impl<B: FusedSilu> Backward<B, 1> for SiluBackward {
    /// The checkpointed input.
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(ops.state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::silu_fused_backward(x, grad));
        }
    }
}

/// Recomputes the SiLU output from its input in the backward pass when gradient
/// checkpointing dropped it.
#[derive(Debug)]
struct RetroSilu<B> {
    input: NodeId,
    _backend: PhantomData<B>,
}

impl<B: FusedSilu> RetroForward for RetroSilu<B> {
    fn forward(&self, states: &mut BackwardStates, out_node: NodeId) {
        let x = states.get_state::<FloatTensor<B>>(&self.input);
        states.save(out_node, B::silu_fused(x))
    }
}

/// Memory-bound (one cheap pass over its input): with balanced gradient checkpointing its
/// output is not kept but recomputed from the input when the backward pass needs it; without
/// checkpointing it is kept as before.
impl<B: Backend + FusedSilu, C: CheckpointStrategy> FusedSilu for Autodiff<B, C> {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let retro = RetroSilu::<B> {
            input: x.id(),
            _backend: PhantomData,
        };
        match SiluBackward
            .prepare::<C>([x.node()])
            .memory_bound()
            .retro_forward(retro)
            .parents([&x])
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                let out = B::silu_fused(x.into_primitive());
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::silu_fused(x.into_primitive())),
        }
    }
}

/// `x · σ(x)`: the fused kernels on Flex (tracked or not), burn's `silu` elsewhere.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.device().inner() != Device::flex() {
        return burn::tensor::activation::silu(x);
    }
    let out = <burn::backend::Dispatch as FusedSilu>::silu_fused(x.into_dispatch());
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// [`exp`] against f64 `exp` over its whole range, and at the clamps.
    #[test]
    fn exp_is_within_2_ulp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let ulp = f32::EPSILON as f64 * want;
            worst = worst.max(((exp(x) as f64) - want).abs() / ulp);
            x += 0.0137;
        }
        eprintln!("exp: {worst:.2} ulp");
        assert!(worst <= 2.0, "exp: {worst} ulp");
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NEG_INFINITY) >= 0.0 && exp(f32::INFINITY).is_finite());
    }

    /// Values and gradients (through autodiff, across chunk boundaries, with σ saturated at
    /// large |x|) against SiLU and its derivative evaluated in f64, and against burn's `silu`.
    #[test]
    fn matches_f64_silu_and_burns() {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let x = Tensor::<3>::random([3, 7, 1000], Distribution::Normal(0.0, 6.0), &dev);
        let w = Tensor::<3>::random([3, 7, 1000], Distribution::Normal(0.0, 1.0), &dev);
        let host = |t: Tensor<3>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
        let run = |ours: bool| {
            let x = x.clone().detach().require_grad();
            let y = if ours {
                silu(x.clone())
            } else {
                burn::tensor::activation::silu(x.clone())
            };
            let g = y.clone().mul(w.clone()).sum().backward();
            (host(y), host(x.grad(&g).unwrap()))
        };
        let (y_burn, g_burn) = run(false);
        let (y, g) = run(true);
        let (xs, ws) = (host(x.clone()), host(w.clone()));
        assert_eq!(y.len(), 21000);
        let (mut worst_y, mut worst_g, mut worst_burn) = (0f64, 0f64, 0f64);
        for i in 0..xs.len() {
            let (x, w) = (xs[i] as f64, ws[i] as f64);
            let s = 1.0 / (1.0 + (-x).exp());
            let (y64, g64) = (x * s, w * (s + x * s * (1.0 - s)));
            // Errors in units of f32 ε times the size of the terms.
            let unit_y = f32::EPSILON as f64 * x.abs().max(1e-30);
            let unit_g = f32::EPSILON as f64 * w.abs() * (1.0 + x.abs());
            worst_y = worst_y.max((y[i] as f64 - y64).abs() / unit_y);
            worst_g = worst_g.max((g[i] as f64 - g64).abs() / unit_g);
            worst_burn = worst_burn
                .max((y[i] - y_burn[i]).abs() as f64 / unit_y)
                .max((g[i] - g_burn[i]).abs() as f64 / unit_g);
        }
        eprintln!("silu: values {worst_y:.2} ε, gradients {worst_g:.2} ε, burn {worst_burn:.2} ε");
        assert!(worst_y <= 3.0, "values: {worst_y} ε");
        assert!(worst_g <= 4.0, "gradients: {worst_g} ε");
        assert!(worst_burn <= 6.0, "against burn's silu: {worst_burn} ε");
    }
}
