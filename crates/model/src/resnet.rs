//! Resnet blocks: 2-D (docs/architecture.md §4.1) and factorized causal 3-D (docs/architecture.md
//! §5.3). h = norm1 → swish → conv1 → norm2 → swish → (dropout 0) → conv2; out = shortcut(x) + h.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, PaddingConfig2d};
use burn::prelude::*;
use cosmotok_kernels::silu::silu;

use crate::causal_conv::{CausalConv3d, factorized, forward_seq_stream};
use crate::norm::{CausalNorm, group_norm, norm2d};
use crate::stream::Stream;

/// 3×3 conv with padding 1 (or 1×1 with none).
pub fn conv2d(c_in: usize, c_out: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device)
}

/// Keys: norm1, conv1, norm2, conv2 and, where the channels change, nin_shortcut.
#[derive(Module, Debug)]
pub struct ResnetBlock2d {
    pub norm1: GroupNorm,
    pub conv1: Conv2d,
    pub norm2: GroupNorm,
    pub conv2: Conv2d,
    pub nin_shortcut: Option<Conv2d>,
}

impl ResnetBlock2d {
    pub fn new(c_in: usize, c_out: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm1: group_norm(groups, c_in, device),
            conv1: conv2d(c_in, c_out, 3, device),
            norm2: group_norm(groups, c_out, device),
            conv2: conv2d(c_out, c_out, 3, device),
            nin_shortcut: (c_in != c_out).then(|| conv2d(c_in, c_out, 1, device)),
        }
    }

    /// [B, C_in, H, W] -> [B, C_out, H, W]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(norm2d(&self.norm1, x.clone())));
        let h = self.conv2.forward(silu(norm2d(&self.norm2, h)));
        let shortcut = match &self.nin_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        shortcut.add(h)
    }
}

/// Keys: norm1.norm, conv1.{0,1}.conv3d, norm2.norm, conv2.{0,1}.conv3d, [nin_shortcut.conv3d].
#[derive(Module, Debug)]
pub struct ResnetBlock3d {
    pub norm1: CausalNorm,
    pub conv1: Vec<CausalConv3d>,
    pub norm2: CausalNorm,
    pub conv2: Vec<CausalConv3d>,
    pub nin_shortcut: Option<CausalConv3d>,
}

impl ResnetBlock3d {
    pub fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            norm1: CausalNorm::new(c_in, device),
            conv1: factorized(c_in, c_out, device),
            norm2: CausalNorm::new(c_out, device),
            conv2: factorized(c_out, c_out, device),
            nin_shortcut: (c_in != c_out).then(|| CausalConv3d::pointwise(c_in, c_out, device)),
        }
    }

    /// [B, C_in, T, H, W] -> [B, C_out, T, H, W]
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// [`forward`](Self::forward) continuing a chunked sequence.
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let h = forward_seq_stream(&self.conv1, silu(self.norm1.forward(x.clone())), s);
        let h = forward_seq_stream(&self.conv2, silu(self.norm2.forward(h)), s);
        let shortcut = match &self.nin_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        shortcut.add(h)
    }
}
