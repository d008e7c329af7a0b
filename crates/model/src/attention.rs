//! Single-head self-attention blocks (docs/architecture.md §4.1, §5.4): norm → q, k, v (pointwise
//! convs) → softmax(q·kᵀ / √C) · v → proj_out → residual. Keys: norm, q, k, v, proj_out.

use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::causal_conv::CausalConv3d;
use crate::norm::{CausalNorm, group_norm, norm2d};
use crate::precision::in_f32;
use crate::resnet::conv2d;
use crate::stream::Stream;

/// softmax(q·kᵀ·scale [+ causal mask]) · v over the second-to-last axis of [.., L, C] tensors.
/// With a causal mask, query i sits at position `offset + i` of the key sequence.
fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, causal: bool, offset: usize) -> Tensor<4> {
    let [b, n, l, c] = q.dims();
    let lk = k.dims()[2];
    let scores = q
        .matmul(k.swap_dims(2, 3))
        .mul_scalar((c as f64).powf(-0.5));
    let scores = if causal {
        // Query i may attend keys ≤ offset + i: mask the rest of the upper triangle.
        let upper = Tensor::<2, Bool>::tril_mask([l, lk], offset as i64, &scores.device())
            .reshape([1, 1, l, lk])
            .expand([b, n, l, lk]);
        scores.mask_fill(upper, f32::NEG_INFINITY)
    } else {
        scores
    };
    // The softmax in f32 when the compute copy is bf16 (crate::precision).
    in_f32(scores, |s| softmax(s, 3)).matmul(v)
}

/// 2-D spatial attention over the H·W tokens of an image.
#[derive(Module, Debug)]
pub struct AttnBlock2d {
    pub norm: GroupNorm,
    pub q: Conv2d,
    pub k: Conv2d,
    pub v: Conv2d,
    pub proj_out: Conv2d,
}

impl AttnBlock2d {
    pub fn new(channels: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm: group_norm(groups, channels, device),
            q: conv2d(channels, channels, 1, device),
            k: conv2d(channels, channels, 1, device),
            v: conv2d(channels, channels, 1, device),
            proj_out: conv2d(channels, channels, 1, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let hn = norm2d(&self.norm, x.clone());
        // [B, C, H, W] -> [B, 1, HW, C]
        let tokens = |t: Tensor<4>| t.reshape([b, 1, c, h * w]).swap_dims(2, 3);
        let out = attend(
            tokens(self.q.forward(hn.clone())),
            tokens(self.k.forward(hn.clone())),
            tokens(self.v.forward(hn)),
            false,
            0,
        );
        let out = out.swap_dims(2, 3).reshape([b, c, h, w]);
        x.add(self.proj_out.forward(out))
    }
}

/// Which axis a video attention block attends over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttnAxis {
    /// Per frame over H·W (`attn_1.0`, CausalAttnBlock).
    Spatial,
    /// Per location over T with a causal mask (`attn_1.1`, CausalTemporalAttnBlock).
    Temporal,
}

/// Video attention block; the axis is structural, not stored.
#[derive(Module, Debug)]
pub struct AttnBlock3d {
    pub norm: CausalNorm,
    pub q: CausalConv3d,
    pub k: CausalConv3d,
    pub v: CausalConv3d,
    pub proj_out: CausalConv3d,
    /// true: temporal causal attention; false: spatial per-frame attention.
    pub temporal: bool,
}

impl AttnBlock3d {
    pub fn new(channels: usize, axis: AttnAxis, device: &Device) -> Self {
        let pw = |d| CausalConv3d::pointwise(channels, channels, d);
        Self {
            norm: CausalNorm::new(channels, device),
            q: pw(device),
            k: pw(device),
            v: pw(device),
            proj_out: pw(device),
            temporal: axis == AttnAxis::Temporal,
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// [`forward`](Self::forward) continuing a chunked sequence: temporal attention carries
    /// the keys and values of all earlier frames.
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let hn = self.norm.forward(x.clone());
        let (q, k, v) = (
            self.q.forward(hn.clone()),
            self.k.forward(hn.clone()),
            self.v.forward(hn),
        );
        let out = if self.temporal {
            // Earlier keys and values, stored as [B, 2C, T_past, H, W].
            let (k, v, past) = match s.take() {
                Some(kv) => {
                    let past = kv.dims()[2];
                    (
                        Tensor::cat(vec![kv.clone().narrow(1, 0, c), k], 2),
                        Tensor::cat(vec![kv.narrow(1, c, c), v], 2),
                        past,
                    )
                }
                None => (k, v, 0),
            };
            if s.keeps() {
                s.put(Tensor::cat(vec![k.clone(), v.clone()], 1));
            }
            let tk = past + t;
            // [B, C, T, H, W] -> [B, HW, T, C]
            let seq = |x: Tensor<5>, t: usize| x.reshape([b, c, t, h * w]).permute([0, 3, 2, 1]);
            attend(seq(q, t), seq(k, tk), seq(v, tk), true, past)
                .permute([0, 3, 2, 1])
                .reshape([b, c, t, h, w])
        } else {
            // [B, C, T, H, W] -> [B, T, HW, C]
            let seq = |x: Tensor<5>| x.reshape([b, c, t, h * w]).permute([0, 2, 3, 1]);
            attend(seq(q), seq(k), seq(v), false, 0)
                .permute([0, 3, 1, 2])
                .reshape([b, c, t, h, w])
        };
        x.add(self.proj_out.forward(out))
    }
}
