//! CausalConv3d (docs/architecture.md §5.1) and the factorized (1×3×3 then 3×1×1) conv built from
//! it.

use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use cosmotok_kernels::conv_grad;

use crate::stream::Stream;

/// A 3-D conv that only looks back in time: frame 0 is replicated `time_pad` times in front,
/// H and W are zero-padded by `padding` on both sides, then an unpadded strided conv runs.
/// Keys: `<name>.conv3d.weight` [out, in, kt, kh, kw], `<name>.conv3d.bias`.
#[derive(Module, Debug)]
pub struct CausalConv3d {
    pub conv3d: Conv3d,
    /// (kt − 1) + (1 − time stride) copies of frame 0 prepended.
    pub time_pad: usize,
}

impl CausalConv3d {
    /// `kernel` = (kt, kh, kw); `stride` = (time, space); `padding` = spatial zero padding P.
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: [usize; 3],
        stride: [usize; 2],
        padding: usize,
        device: &Device,
    ) -> Self {
        let [st, s] = stride;
        let conv3d = Conv3dConfig::new([c_in, c_out], kernel)
            .with_stride([st, s, s])
            .with_padding(PaddingConfig3d::Explicit(0, padding, padding))
            .init(device);
        Self {
            conv3d,
            time_pad: (kernel[0] - 1) + 1 - st,
        }
    }

    /// Spatial (1, 3, 3) conv with P = 1.
    pub fn spatial(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self::new(c_in, c_out, [1, 3, 3], [1, 1], 1, device)
    }

    /// Temporal (3, 1, 1) causal conv.
    pub fn temporal(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self::new(c_in, c_out, [3, 1, 1], [1, 1], 0, device)
    }

    /// Pointwise (1, 1, 1) conv.
    pub fn pointwise(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self::new(c_in, c_out, [1, 1, 1], [1, 1], 0, device)
    }

    /// [B, C_in, T, H, W] -> [B, C_out, (T + time_pad − kt)/st + 1, H', W']
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// As [`forward`](Self::forward), continuing a chunked sequence: the first chunk is padded
    /// with copies of frame 0, later chunks with the carried tail of the previous input.
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let [kt, st] = [self.conv3d.kernel_size[0], self.conv3d.stride[0]];
        if kt == 1 && st == 1 {
            return self.conv(x);
        }
        let x = match s.take() {
            Some(tail) => Tensor::cat(vec![tail, x], 2),
            None if self.time_pad > 0 => {
                let first = x.clone().narrow(2, 0, 1).repeat_dim(2, self.time_pad);
                Tensor::cat(vec![first, x], 2)
            }
            None => x,
        };
        let len = x.dims()[2];
        // Outputs produced now; the next output window starts at input frame n·st.
        let n = if len >= kt { (len - kt) / st + 1 } else { 0 };
        if s.keeps() {
            s.put(x.clone().narrow(2, n * st, len - n * st));
        }
        if n == 0 {
            let [b, _, _, h, w] = x.dims();
            let c = self.conv3d.weight.dims()[0];
            return Tensor::zeros([b, c, 0, h, w], (&x.device(), x.dtype()));
        }
        self.conv(x)
    }

    /// The conv itself (no causal padding): on Flex through [`conv_grad`] (cosmotok's parallel
    /// forward, input- and weight-gradient kernels), elsewhere burn's `Conv3d::forward`.
    fn conv(&self, x: Tensor<5>) -> Tensor<5> {
        let c = &self.conv3d;
        if let (Some(bias), PaddingConfig3d::Explicit(pt, ph, pw)) = (&c.bias, &c.padding)
            && x.device().inner() == Device::flex()
        {
            let options = ConvOptions::new(c.stride, [*pt, *ph, *pw], c.dilation, c.groups);
            return conv_grad::conv3d(x, c.weight.val(), bias.val(), options);
        }
        c.forward(x)
    }
}

/// Sequential(spatial (1,3,3) in→out, temporal (3,1,1) out→out): keys `.0.conv3d`, `.1.conv3d`.
pub fn factorized(c_in: usize, c_out: usize, device: &Device) -> Vec<CausalConv3d> {
    vec![
        CausalConv3d::spatial(c_in, c_out, device),
        CausalConv3d::temporal(c_out, c_out, device),
    ]
}

/// Runs a factorized conv (or any chain of causal convs).
pub fn forward_seq(convs: &[CausalConv3d], x: Tensor<5>) -> Tensor<5> {
    forward_seq_stream(convs, x, &mut Stream::whole())
}

/// [`forward_seq`] continuing a chunked sequence.
pub fn forward_seq_stream(convs: &[CausalConv3d], x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
    convs.iter().fold(x, |x, c| c.forward_stream(x, s))
}
