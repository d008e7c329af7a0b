//! SiLU, `x · σ(x)`, the activation after every norm (spec §5.3), with one fused, parallel
//! Flex kernel for the forward pass and one for the gradient.
//!
//! burn computes SiLU as `x.mul(sigmoid(x))`: on Flex a serial `exp` pass, a multiply, and in
//! the backward pass three more element-wise ops and an add, all on the calling thread. Here
//! each pass is one loop over rayon chunks that evaluates the same expressions in the same
//! order (`sigmoid` as burn-flex computes it; the gradient as `g·σ + ((g·x)·σ)·(1 − σ)`, burn's
//! mul and sigmoid backward steps summed), so values and gradients are burn's bit for bit.
//! Registered through burn's backend-extension API; other backends keep burn's `silu`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::{Bytes, DType};
use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// The extension operations.
#[backend_extension(Flex, Autodiff)]
pub trait FusedSilu: Backend {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// dL/dx of `silu(x)` for the output gradient `grad`; burn's ops unless overridden.
    fn silu_fused_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        let direct = Self::float_mul(grad.clone(), s.clone());
        let through_sigmoid = Self::sigmoid_backward(s, Self::float_mul(grad, x));
        Self::float_add(direct, through_sigmoid)
    }
}

/// burn-flex's `sigmoid_f32`, term for term.
#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `out[i] = f(a[i], b[i])` over rayon chunks, for contiguous f32 tensors of one shape.
fn map2(a: &FlexTensor, b: Option<&FlexTensor>, f: impl Fn(f32, f32) -> f32 + Sync) -> FlexTensor {
    let a = a.to_contiguous();
    let xs: &[f32] = a.storage();
    let mut out = vec![0.0f32; xs.len()];
    match b {
        Some(b) => {
            let b = b.to_contiguous();
            let ys: &[f32] = b.storage();
            out.par_chunks_mut(CHUNK)
                .zip(xs.par_chunks(CHUNK).zip(ys.par_chunks(CHUNK)))
                .for_each(|(o, (x, y))| {
                    for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                        *o = f(x, y);
                    }
                });
        }
        None => out
            .par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = f(x, 0.0);
                }
            }),
    }
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(a.layout().shape().clone()),
        DType::F32,
    )
}

impl FusedSilu for Flex {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Flex::float_mul(x.clone(), Flex::sigmoid(x));
        }
        map2(&x, None, |x, _| x * sigmoid(x))
    }

    fn silu_fused_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32
            || grad.dtype() != DType::F32
            || x.layout().shape() != grad.layout().shape()
        {
            let s = Flex::sigmoid(x.clone());
            let direct = Flex::float_mul(grad.clone(), s.clone());
            let through_sigmoid = Flex::sigmoid_backward(s, Flex::float_mul(grad, x));
            return Flex::float_add(direct, through_sigmoid);
        }
        map2(&x, Some(&grad), |x, g| {
            let s = sigmoid(x);
            g * s + g * x * s * (1.0 - s)
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

impl<B: Backend + FusedSilu, C: CheckpointStrategy> FusedSilu for Autodiff<B, C> {
    fn silu_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match SiluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
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

    /// Values and gradients equal burn's `silu` bit for bit (with autodiff), also across a
    /// chunk boundary and for large |x| where σ saturates.
    #[test]
    fn equals_burns_silu_bit_for_bit() {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let x = Tensor::<3>::random([3, 7, 1000], Distribution::Normal(0.0, 6.0), &dev);
        let w = Tensor::<3>::random([3, 7, 1000], Distribution::Normal(0.0, 1.0), &dev);
        let run = |ours: bool| {
            let x = x.clone().detach().require_grad();
            let y = if ours {
                silu(x.clone())
            } else {
                burn::tensor::activation::silu(x.clone())
            };
            let g = y.clone().mul(w.clone()).sum().backward();
            let bits = |t: Tensor<3>| -> Vec<u32> {
                let v: Vec<f32> = t.into_data().try_to_vec().unwrap();
                v.into_iter().map(f32::to_bits).collect()
            };
            (bits(y), bits(x.grad(&g).unwrap()))
        };
        let (y0, g0) = run(false);
        let (y1, g1) = run(true);
        assert_eq!(y0.len(), 21000);
        assert!(y0 == y1, "values differ from burn's silu");
        assert!(g0 == g1, "gradients differ from burn's silu");
    }
}
