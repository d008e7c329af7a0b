//! Factorized causal video encoder (docs/architecture.md §5.7): 3-D Haar patcher → factorized
//! conv_in → levels of factorized resnet blocks with hybrid downsamplers after every level but the
//! last → mid (res, spatial attn, causal temporal attn, res) → per-frame norm → swish → conv_out.

use burn::prelude::*;
use cosmotok_kernels::silu::silu;

use crate::attention::{AttnAxis, AttnBlock3d};
use crate::causal_conv::{CausalConv3d, factorized, forward_seq_stream};
use crate::config::{PatchMethod, TokenizerConfig};
use crate::downsample::HybridDownsample3d;
use crate::norm::CausalNorm;
use crate::resnet::ResnetBlock3d;
use crate::stream::Stream;
use crate::wavelet::patch3d_chunk;

/// Keys `down.{i}.block.{j}.*`, `down.{i}.downsample.conv{1,2,3}.conv3d`.
#[derive(Module, Debug)]
pub struct DownLevel3d {
    pub block: Vec<ResnetBlock3d>,
    pub downsample: Option<HybridDownsample3d>,
}

/// Keys `mid.block_1`, `mid.attn_1.0` (spatial), `mid.attn_1.1` (temporal), `mid.block_2`.
#[derive(Module, Debug)]
pub struct Mid3d {
    pub block_1: ResnetBlock3d,
    pub attn_1: Vec<AttnBlock3d>,
    pub block_2: ResnetBlock3d,
}

impl Mid3d {
    pub fn new(c: usize, device: &Device) -> Self {
        Self {
            block_1: ResnetBlock3d::new(c, c, device),
            attn_1: vec![
                AttnBlock3d::new(c, AttnAxis::Spatial, device),
                AttnBlock3d::new(c, AttnAxis::Temporal, device),
            ],
            block_2: ResnetBlock3d::new(c, c, device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let h = self.block_1.forward_stream(x, s);
        let h = self.attn_1.iter().fold(h, |h, a| a.forward_stream(h, s));
        self.block_2.forward_stream(h, s)
    }
}

#[derive(Module, Debug)]
pub struct Encoder3d {
    pub conv_in: Vec<CausalConv3d>,
    pub down: Vec<DownLevel3d>,
    pub mid: Mid3d,
    pub norm_out: CausalNorm,
    pub conv_out: Vec<CausalConv3d>,
    pub patch_size: usize,
    #[module(skip)]
    pub patch_method: PatchMethod,
}

impl Encoder3d {
    /// `z_out` = z_channels · z_factor.
    pub fn new(cfg: &TokenizerConfig, z_out: usize, device: &Device) -> Self {
        let ch = cfg.channels;
        let (sd, td) = (cfg.spatial_downs(), cfg.temporal_downs());
        let n = cfg.channels_mult.len();
        let mut block_in = ch;
        let mut down = Vec::new();
        for (i, &mult) in cfg.channels_mult.iter().enumerate() {
            let block_out = ch * mult;
            let mut block = Vec::new();
            for _ in 0..cfg.num_res_blocks {
                block.push(ResnetBlock3d::new(block_in, block_out, device));
                block_in = block_out;
            }
            let downsample = (i + 1 < n).then(|| {
                HybridDownsample3d::new(block_in, i < sd, i < td, cfg.sampler_convs, device)
            });
            down.push(DownLevel3d { block, downsample });
        }
        Self {
            conv_in: factorized(cfg.patched_channels(cfg.in_channels), ch, device),
            down,
            mid: Mid3d::new(block_in, device),
            norm_out: CausalNorm::new(block_in, device),
            conv_out: vec![
                CausalConv3d::spatial(block_in, z_out, device),
                CausalConv3d::temporal(z_out, z_out, device),
            ],
            patch_size: cfg.patch_size,
            patch_method: cfg.patch_method,
        }
    }

    /// [B, 3, 1 + k·t, H, W] -> [B, z, 1 + k, H/s, W/s]
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.forward_stream(x, &mut Stream::whole())
    }

    /// One chunk of a longer clip (first chunk 1 + k·t frames, later chunks k·t frames).
    pub fn forward_stream(&self, x: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let x = patch3d_chunk(x, self.patch_size, self.patch_method, s.is_first());
        let mut h = forward_seq_stream(&self.conv_in, x, s);
        for level in &self.down {
            for block in &level.block {
                h = block.forward_stream(h, s);
            }
            if let Some(ds) = &level.downsample {
                h = ds.forward_stream(h, s);
            }
        }
        let h = self.mid.forward_stream(h, s);
        forward_seq_stream(&self.conv_out, silu(self.norm_out.forward(h)), s)
    }
}
