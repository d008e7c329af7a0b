//! Up-samplers: 2-D nearest ×2 + conv (docs/architecture.md §4.1) and the causal hybrid 3-D sampler
//! (§5.6).

use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::causal_conv::CausalConv3d;
use crate::config::SamplerConvs;
use crate::resnet::conv2d;
use crate::stream::Stream;

/// Repeats every element of `dim` twice (repeat_interleave 2).
fn repeat_interleave2<const D: usize, const D1: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let mut dims = x.dims();
    let mut expanded = [0usize; D1];
    expanded[..=dim].copy_from_slice(&dims[..=dim]);
    expanded[dim + 1] = 2;
    expanded[dim + 2..].copy_from_slice(&dims[dim + 1..]);
    dims[dim] *= 2;
    x.unsqueeze_dim::<D1>(dim + 1)
        .expand(expanded)
        .reshape(dims)
}

/// Nearest ×2 then 3×3 conv pad 1. Key `upsample.conv`.
#[derive(Module, Debug)]
pub struct Upsample2d {
    pub conv: Conv2d,
}

impl Upsample2d {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv: conv2d(channels, channels, 3, device),
        }
    }

    /// [B, C, H, W] -> [B, C, 2H, 2W]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = repeat_interleave2::<4, 5>(repeat_interleave2::<4, 5>(x, 2), 3);
        self.conv.forward(x)
    }
}

/// CausalHybridUpsample3d: temporal (repeat ×2, drop first, + conv1), spatial (nearest ×2,
/// + conv2), then conv3. Keys `upsample.conv{1,2,3}.conv3d` (conv1 temporal, conv2 spatial).
#[derive(Module, Debug)]
pub struct HybridUpsample3d {
    /// (3,1,1) causal.
    pub conv1: Option<CausalConv3d>,
    /// (1,3,3) P = 1.
    pub conv2: Option<CausalConv3d>,
    /// (1,1,1).
    pub conv3: Option<CausalConv3d>,
    pub spatial_up: bool,
    pub temporal_up: bool,
}

impl HybridUpsample3d {
    pub fn new(
        channels: usize,
        spatial_up: bool,
        temporal_up: bool,
        convs: SamplerConvs,
        device: &Device,
    ) -> Self {
        let all = convs == SamplerConvs::All;
        let c = channels;
        Self {
            conv1: (all || temporal_up).then(|| CausalConv3d::temporal(c, c, device)),
            conv2: (all || spatial_up).then(|| CausalConv3d::spatial(c, c, device)),
            conv3: (all || spatial_up || temporal_up)
                .then(|| CausalConv3d::pointwise(c, c, device)),
            spatial_up,
            temporal_up,
        }
    }

    /// [B, C, T, H, W] -> [B, C, 2T − 1 (if temporal), 2H, 2W (if spatial)]
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// [`forward`](Self::forward) continuing a chunked sequence (later chunks: T → 2T).
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        if !self.spatial_up && !self.temporal_up {
            return x;
        }
        let mut x = x;
        if self.temporal_up {
            let t = x.dims()[2];
            let x2 = repeat_interleave2::<5, 6>(x, 2);
            // The first chunk drops the duplicate of frame 0.
            let x2 = if s.is_first() {
                x2.narrow(2, 1, 2 * t - 1)
            } else {
                x2
            };
            x = x2.clone().add(
                self.conv1
                    .as_ref()
                    .expect("temporal conv1")
                    .forward_stream(x2, s),
            );
        }
        if self.spatial_up {
            let x2 = repeat_interleave2::<5, 6>(repeat_interleave2::<5, 6>(x, 3), 4);
            x = x2
                .clone()
                .add(self.conv2.as_ref().expect("spatial conv2").forward(x2));
        }
        self.conv3.as_ref().expect("conv3").forward(x)
    }
}
