//! Down-samplers: 2-D strided conv (docs/architecture.md §4.1) and the causal hybrid 3-D sampler
//! (docs/architecture.md §5.5).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::ops::PadMode;

use crate::causal_conv::CausalConv3d;
use crate::config::SamplerConvs;
use crate::stream::Stream;

/// Zero-pad right/bottom by 1, then 3×3 conv stride 2 without padding. Key `downsample.conv`.
#[derive(Module, Debug)]
pub struct Downsample2d {
    pub conv: Conv2d,
}

impl Downsample2d {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_stride([2, 2])
                .init(device),
        }
    }

    /// [B, C, H, W] -> [B, C, H/2, W/2]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv
            .forward(x.pad((0, 1, 0, 1), PadMode::Constant(0.0)))
    }
}

/// Mean over non-overlapping windows of 2 along `dim` (trailing odd sample dropped), i.e.
/// avg_pool with kernel 2 / stride 2 on that axis.
pub(crate) fn avg_pool2_dim(x: Tensor<5>, dim: usize) -> Tensor<5> {
    let mut dims = x.dims();
    let n = dims[dim] / 2;
    let x = x.narrow(dim, 0, 2 * n);
    let mut split = [0usize; 6];
    split[..dim].copy_from_slice(&dims[..dim]);
    split[dim] = n;
    split[dim + 1] = 2;
    split[dim + 2..].copy_from_slice(&dims[dim + 1..]);
    dims[dim] = n;
    x.reshape(split).mean_dim(dim + 1).reshape(dims)
}

/// CausalHybridDownsample3d: spatial (conv1 + avg-pool), temporal (conv2 + avg-pool), conv3.
/// Keys `downsample.conv{1,2,3}.conv3d`; conv1/conv2/conv3 exist as the structure demands.
#[derive(Module, Debug)]
pub struct HybridDownsample3d {
    /// (1,3,3) stride (1,2,2), no padding.
    pub conv1: Option<CausalConv3d>,
    /// (3,1,1) time stride 2.
    pub conv2: Option<CausalConv3d>,
    /// (1,1,1).
    pub conv3: Option<CausalConv3d>,
    pub spatial_down: bool,
    pub temporal_down: bool,
}

impl HybridDownsample3d {
    pub fn new(
        channels: usize,
        spatial_down: bool,
        temporal_down: bool,
        convs: SamplerConvs,
        device: &Device,
    ) -> Self {
        let all = convs == SamplerConvs::All;
        let any = spatial_down || temporal_down;
        let c = channels;
        Self {
            conv1: (all || spatial_down)
                .then(|| CausalConv3d::new(c, c, [1, 3, 3], [1, 2], 0, device)),
            conv2: (all || temporal_down)
                .then(|| CausalConv3d::new(c, c, [3, 1, 1], [2, 1], 0, device)),
            conv3: (all || any).then(|| CausalConv3d::pointwise(c, c, device)),
            spatial_down,
            temporal_down,
        }
    }

    /// [B, C, 1 + 2k, H, W] -> [B, C, 1 + k (if temporal), H/2, W/2 (if spatial)]
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// [`forward`](Self::forward) continuing a chunked sequence (later chunks: 2k frames → k).
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        if !self.spatial_down && !self.temporal_down {
            return x;
        }
        let mut x = x;
        if self.spatial_down {
            let padded = x.pad((0, 1, 0, 1), PadMode::Constant(0.0));
            let conv = self
                .conv1
                .as_ref()
                .expect("spatial conv1")
                .forward(padded.clone());
            x = conv.add(avg_pool2_dim(avg_pool2_dim(padded, 3), 4));
        }
        if self.temporal_down {
            // One extra copy of frame 0 in front (T -> T + 1; first chunk only), then the
            // strided causal conv.
            let padded = if s.is_first() {
                Tensor::cat(vec![x.clone().narrow(2, 0, 1), x], 2)
            } else {
                x
            };
            let conv = self
                .conv2
                .as_ref()
                .expect("temporal conv2")
                .forward_stream(padded.clone(), s);
            x = conv.add(avg_pool2_dim(padded, 2));
        }
        self.conv3.as_ref().expect("conv3").forward(x)
    }
}
