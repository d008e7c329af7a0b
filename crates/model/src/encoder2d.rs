//! 2-D image encoder (docs/architecture.md §4.2): Haar patcher → conv_in → levels of resnet blocks
//! with optional downsampling → mid (res, attn, res) → norm → swish → conv_out.

use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use cosmotok_kernels::silu::silu;

use crate::attention::AttnBlock2d;
use crate::config::{PatchMethod, TokenizerConfig};
use crate::downsample::Downsample2d;
use crate::norm::{group_norm, norm2d};
use crate::resnet::{ResnetBlock2d, conv2d};
use crate::wavelet::patch2d;

/// Keys `down.{i}.block.{j}.*`, `down.{i}.downsample.conv`.
#[derive(Module, Debug)]
pub struct DownLevel2d {
    pub block: Vec<ResnetBlock2d>,
    pub downsample: Option<Downsample2d>,
}

/// Keys `mid.block_1`, `mid.attn_1`, `mid.block_2`.
#[derive(Module, Debug)]
pub struct Mid2d {
    pub block_1: ResnetBlock2d,
    pub attn_1: AttnBlock2d,
    pub block_2: ResnetBlock2d,
}

impl Mid2d {
    pub fn new(c: usize, groups: usize, device: &Device) -> Self {
        Self {
            block_1: ResnetBlock2d::new(c, c, groups, device),
            attn_1: AttnBlock2d::new(c, groups, device),
            block_2: ResnetBlock2d::new(c, c, groups, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.block_2
            .forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct Encoder2d {
    pub conv_in: Conv2d,
    pub down: Vec<DownLevel2d>,
    pub mid: Mid2d,
    pub norm_out: GroupNorm,
    pub conv_out: Conv2d,
    pub patch_size: usize,
    #[module(skip)]
    pub patch_method: PatchMethod,
}

impl Encoder2d {
    /// `z_out` = z_channels · z_factor.
    pub fn new(cfg: &TokenizerConfig, z_out: usize, device: &Device) -> Self {
        let ch = cfg.channels;
        let g = cfg.num_groups;
        let mut block_in = ch;
        let mut down = Vec::new();
        for (i, &mult) in cfg.channels_mult.iter().enumerate() {
            let block_out = ch * mult;
            let mut block = Vec::new();
            for _ in 0..cfg.num_res_blocks {
                block.push(ResnetBlock2d::new(block_in, block_out, g, device));
                block_in = block_out;
            }
            let downsample = (i < cfg.spatial_downs()).then(|| Downsample2d::new(block_in, device));
            down.push(DownLevel2d { block, downsample });
        }
        Self {
            conv_in: conv2d(cfg.patched_channels(cfg.in_channels), ch, 3, device),
            down,
            mid: Mid2d::new(block_in, g, device),
            norm_out: group_norm(g, block_in, device),
            conv_out: conv2d(block_in, z_out, 3, device),
            patch_size: cfg.patch_size,
            patch_method: cfg.patch_method,
        }
    }

    /// [B, 3, H, W] -> [B, z, H/s, W/s]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self
            .conv_in
            .forward(patch2d(x, self.patch_size, self.patch_method));
        for level in &self.down {
            for block in &level.block {
                h = block.forward(h);
            }
            if let Some(ds) = &level.downsample {
                h = ds.forward(h);
            }
        }
        let h = self.mid.forward(h);
        self.conv_out.forward(silu(norm2d(&self.norm_out, h)))
    }
}
