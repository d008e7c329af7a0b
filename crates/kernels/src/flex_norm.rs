//! The video models' per-frame norm (cosmotok-model's `CausalNorm`: GroupNorm with one group per
//! frame, then a per-channel affine) as two fused, parallel Flex passes forward and three
//! backward.
//!
//! Written with burn's tensor ops the norm is ~8 element-wise passes forward (mean, subtract,
//! square, mean, add, sqrt, divide, scale, shift) and about twice that in the backward pass,
//! each on the calling thread. Here: (1) per (batch, channel, frame) plane, Σx and Σx² in f64;
//! (2) per plane, y = (x − μ)·r·γ + β with r = 1/√(σ² + ε). Backward, with x̂ = (x − μ)·r and
//! g = dy·γ: (1) per plane Σdy, Σdy·x̂; (2) per frame the means of g and g·x̂;
//! (3) dx = r·(g − mean g − x̂·mean(g·x̂)); dγ, dβ are the per-channel sums of (1).
//! Every pass runs over planes in parallel.

use std::marker::PhantomData;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::retro_forward::RetroForward;
use burn::backend::autodiff::checkpoint::state::BackwardStates;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use crate::flex_host::{f32_tensor, on_flex_f32};

/// The extension operations.
#[backend_extension(Flex, Autodiff)]
pub trait FrameNorm: Backend {
    /// x [B, C, T, H, W], gamma and beta of shape `[C]` → the normalised x (statistics per (b, t)).
    fn frame_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;
}

/// The backward pass of [`FrameNorm`], on the backend under autodiff (not an extension
/// operation itself: the backward step calls it on that backend directly).
pub trait FrameNormGrad: Backend {
    /// [dx, dγ, dβ] of [`FrameNorm::frame_norm`] for the output gradient `grad`.
    fn frame_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> [FloatTensor<Self>; 3];
}

/// [B, C, T, H, W] as the sizes the passes need.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    c: usize,
    t: usize,
    plane: usize,
}

impl Dims {
    fn of(x: &FlexTensor) -> Self {
        let s = x.layout().shape();
        Self {
            b: s[0],
            c: s[1],
            t: s[2],
            plane: s[3] * s[4],
        }
    }

    /// Plane index p = (b·C + c)·T + t → (b, c, t).
    fn split(&self, p: usize) -> (usize, usize, usize) {
        (p / (self.c * self.t), (p / self.t) % self.c, p % self.t)
    }

    /// Frame (b, t) of plane p.
    fn frame(&self, p: usize) -> usize {
        let (b, _, t) = self.split(p);
        b * self.t + t
    }

    /// Elements per frame: C·H·W.
    fn frame_len(&self) -> f64 {
        (self.c * self.plane) as f64
    }
}

/// Per frame (b, t): mean and 1/√(var + eps), from per-plane f64 sums.
fn frame_stats(x: &[f32], d: Dims, eps: f64) -> Vec<(f32, f32)> {
    let sums: Vec<(f64, f64)> = x
        .par_chunks(d.plane)
        .map(|p| {
            p.iter().fold((0f64, 0f64), |(s, q), &v| {
                let v = v as f64;
                (s + v, q + v * v)
            })
        })
        .collect();
    let mut frames = vec![(0f64, 0f64); d.b * d.t];
    for (p, (s, q)) in sums.into_iter().enumerate() {
        let f = &mut frames[d.frame(p)];
        f.0 += s;
        f.1 += q;
    }
    frames
        .into_iter()
        .map(|(s, q)| {
            let mean = s / d.frame_len();
            let var = (q / d.frame_len() - mean * mean).max(0.0);
            (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
        })
        .collect()
}

fn is_f32(ts: &[&FlexTensor]) -> bool {
    ts.iter().all(|t| t.dtype() == DType::F32)
}

impl FrameNorm for Flex {
    fn frame_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> FlexTensor {
        assert!(is_f32(&[&x, &gamma, &beta]), "frame_norm: f32 only");
        let (x, gamma, beta) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let d = Dims::of(&x);
        let xs: &[f32] = x.storage();
        let (gs, bs): (&[f32], &[f32]) = (gamma.storage(), beta.storage());
        let stats = frame_stats(xs, d, eps);
        let mut out = vec![0.0f32; xs.len()];
        out.par_chunks_mut(d.plane)
            .zip(xs.par_chunks(d.plane))
            .enumerate()
            .for_each(|(p, (o, x))| {
                let (_, c, _) = d.split(p);
                let (mean, r) = stats[d.frame(p)];
                let (scale, shift) = (r * gs[c], bs[c]);
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = (x - mean) * scale + shift;
                }
            });
        f32_tensor(out, x.layout().shape())
    }
}

impl FrameNormGrad for Flex {
    fn frame_norm_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        grad: FlexTensor,
        eps: f64,
    ) -> [FlexTensor; 3] {
        assert!(is_f32(&[&x, &gamma, &grad]), "frame_norm: f32 only");
        let (x, gamma, grad) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            grad.to_contiguous(),
        );
        let d = Dims::of(&x);
        let (xs, gs, dys): (&[f32], &[f32], &[f32]) =
            (x.storage(), gamma.storage(), grad.storage());
        let stats = frame_stats(xs, d, eps);
        // (1) per plane: Σdy and Σdy·x̂.
        let sums: Vec<(f64, f64)> = xs
            .par_chunks(d.plane)
            .zip(dys.par_chunks(d.plane))
            .enumerate()
            .map(|(p, (x, dy))| {
                let (mean, r) = stats[d.frame(p)];
                x.iter().zip(dy).fold((0f64, 0f64), |(s, sx), (&x, &dy)| {
                    let xhat = (x - mean) * r;
                    (s + dy as f64, sx + (dy * xhat) as f64)
                })
            })
            .collect();
        // (2) dβ, dγ per channel; per frame the means of g = dy·γ and g·x̂.
        let (mut dgamma, mut dbeta) = (vec![0f64; d.c], vec![0f64; d.c]);
        let mut frame = vec![(0f64, 0f64); d.b * d.t];
        for (p, &(s, sx)) in sums.iter().enumerate() {
            let (_, c, _) = d.split(p);
            dbeta[c] += s;
            dgamma[c] += sx;
            let f = &mut frame[d.frame(p)];
            f.0 += gs[c] as f64 * s;
            f.1 += gs[c] as f64 * sx;
        }
        let frame: Vec<(f32, f32)> = frame
            .into_iter()
            .map(|(s, sx)| ((s / d.frame_len()) as f32, (sx / d.frame_len()) as f32))
            .collect();
        // (3) dx = r·(g − mean g − x̂·mean(g·x̂)).
        let mut dx = vec![0.0f32; xs.len()];
        dx.par_chunks_mut(d.plane)
            .zip(xs.par_chunks(d.plane).zip(dys.par_chunks(d.plane)))
            .enumerate()
            .for_each(|(p, (o, (x, dy)))| {
                let (_, c, _) = d.split(p);
                let f = d.frame(p);
                let ((mean, r), (mg, mgx)) = (stats[f], frame[f]);
                let gamma = gs[c];
                for ((o, &x), &dy) in o.iter_mut().zip(x).zip(dy) {
                    let xhat = (x - mean) * r;
                    *o = r * (dy * gamma - mg - xhat * mgx);
                }
            });
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<_>>();
        [
            f32_tensor(dx, x.layout().shape()),
            f32_tensor(to_f32(dgamma), &[d.c]),
            f32_tensor(to_f32(dbeta), &[d.c]),
        ]
    }
}

#[derive(Debug)]
struct FrameNormBackward;

impl<B: FrameNormGrad> Backward<B, 3> for FrameNormBackward {
    /// Checkpointed x and gamma, and eps.
    type State = (NodeId, NodeId, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, eps) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FloatTensor<B>>(gamma_state);
        let [dx, dgamma, dbeta] = B::frame_norm_backward(x, gamma, grad, eps);
        for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// Recomputes the norm's output from its inputs in the backward pass when gradient
/// checkpointing dropped it.
#[derive(Debug)]
struct RetroFrameNorm<B> {
    inputs: [NodeId; 3],
    eps: f64,
    _backend: PhantomData<B>,
}

impl<B: FrameNorm> RetroForward for RetroFrameNorm<B> {
    fn forward(&self, states: &mut BackwardStates, out_node: NodeId) {
        let [x, gamma, beta] = self.inputs;
        let x = states.get_state::<FloatTensor<B>>(&x);
        let gamma = states.get_state::<FloatTensor<B>>(&gamma);
        let beta = states.get_state::<FloatTensor<B>>(&beta);
        states.save(out_node, B::frame_norm(x, gamma, beta, self.eps))
    }
}

/// Memory-bound (two passes over its input): with balanced gradient checkpointing its output
/// is recomputed from the input when needed instead of kept; without, it is kept as before.
impl<B: FrameNorm + FrameNormGrad, C: CheckpointStrategy> FrameNorm for Autodiff<B, C> {
    fn frame_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let retro = RetroFrameNorm::<B> {
            inputs: [x.id(), gamma.id(), beta.id()],
            eps,
            _backend: PhantomData,
        };
        match FrameNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .memory_bound()
            .retro_forward(retro)
            .parents([&x, &gamma, &beta])
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&gamma), eps);
                let out = B::frame_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    eps,
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::frame_norm(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                eps,
            )),
        }
    }
}

/// The per-frame norm written with burn's tensor ops: what devices without the fused kernels
/// run, and the reference of this module's tests.
pub fn reference(x: Tensor<5>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> Tensor<5> {
    let [_, c, _, _, _] = x.dims();
    let mean = x.clone().mean_dims(&[1, 3, 4]);
    let centered = x.sub(mean);
    let var = centered.clone().square().mean_dims(&[1, 3, 4]);
    let normed = centered.div(var.add_scalar(eps).sqrt());
    normed
        .mul(gamma.reshape([1, c, 1, 1, 1]))
        .add(beta.reshape([1, c, 1, 1, 1]))
}

/// Whether [`frame_norm`] applies: Flex and f32.
pub fn applies(x: &Tensor<5>) -> bool {
    on_flex_f32(x)
}

/// x [B, C, T, H, W] normalised per (b, t) over (C, H, W), then `· gamma[c] + beta[c]`;
/// callers check [`applies`] first.
pub fn frame_norm(x: Tensor<5>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> Tensor<5> {
    let out = <burn::backend::Dispatch as FrameNorm>::frame_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Values and the gradients of x, γ and β against the same norm written with burn's
    /// tensor ops (the path other backends take), batch 2, channel count not a power of two,
    /// activations with a large mean.
    #[test]
    fn matches_the_tensor_op_norm_and_its_gradients() {
        let dev = Device::flex().autodiff();
        dev.seed(11);
        let gamma = Tensor::<1>::random([6], Distribution::Normal(1.0, 0.5), &dev).require_grad();
        let beta = Tensor::<1>::random([6], Distribution::Normal(0.0, 0.5), &dev).require_grad();
        let x = Tensor::<5>::random([2, 6, 3, 5, 7], Distribution::Normal(3.0, 2.0), &dev);
        let w = Tensor::<5>::random([2, 6, 3, 5, 7], Distribution::Normal(0.0, 1.0), &dev);
        let run = |fused: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fused {
                frame_norm(x.clone(), gamma.clone(), beta.clone(), 1e-6)
            } else {
                reference(x.clone(), gamma.clone(), beta.clone(), 1e-6)
            };
            let g = y.clone().mul(w.clone()).sum().backward();
            let host = |t: Tensor<5>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
            let host1 = |t: Tensor<1>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
            (
                host(y.inner()),
                host(x.grad(&g).unwrap()),
                host1(gamma.grad(&g).unwrap()),
                host1(beta.grad(&g).unwrap()),
            )
        };
        let (y0, dx0, dg0, db0) = run(false);
        let (y1, dx1, dg1, db1) = run(true);
        let close = |a: &[f32], b: &[f32], what: &str, tol: f32| {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                scale > 0.0 && err <= tol * scale,
                "{what}: max |Δ| {err:e} (max {scale:e})"
            );
        };
        close(&y1, &y0, "values", 1e-5);
        close(&dx1, &dx0, "dx", 1e-4);
        close(&dg1, &dg0, "dγ", 1e-5);
        close(&db1, &db0, "dβ", 1e-5);
    }
}
