//! 2-D image decoder (docs/architecture.md §4.3): conv_in → mid → levels (deepest first) of resnet
//! blocks with optional nearest ×2 upsampling → norm → swish → conv_out → Haar unpatcher.

use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use cosmotok_kernels::silu::silu;

use crate::config::{PatchMethod, TokenizerConfig};
use crate::encoder2d::Mid2d;
use crate::norm::{group_norm, norm2d};
use crate::resnet::{ResnetBlock2d, conv2d};
use crate::upsample::Upsample2d;
use crate::wavelet::unpatch2d;

/// Keys `up.{i}.block.{j}.*`, `up.{i}.upsample.conv`.
#[derive(Module, Debug)]
pub struct UpLevel2d {
    pub block: Vec<ResnetBlock2d>,
    pub upsample: Option<Upsample2d>,
}

#[derive(Module, Debug)]
pub struct Decoder2d {
    pub conv_in: Conv2d,
    pub mid: Mid2d,
    /// Indexed by level: `up.0` runs last.
    pub up: Vec<UpLevel2d>,
    pub norm_out: GroupNorm,
    pub conv_out: Conv2d,
    pub patch_size: usize,
    #[module(skip)]
    pub patch_method: PatchMethod,
}

impl Decoder2d {
    pub fn new(cfg: &TokenizerConfig, device: &Device) -> Self {
        let ch = cfg.channels;
        let g = cfg.num_groups;
        let mult = cfg.decoder_mult();
        let n = mult.len();
        let ups = cfg.spatial_downs();
        let mut block_in = ch * mult[n - 1];
        let conv_in = conv2d(cfg.z_channels, block_in, 3, device);
        let mid = Mid2d::new(block_in, g, device);
        let mut up: Vec<UpLevel2d> = Vec::new();
        for i in (0..n).rev() {
            let block_out = ch * mult[i];
            let mut block = Vec::new();
            for _ in 0..=cfg.num_res_blocks {
                block.push(ResnetBlock2d::new(block_in, block_out, g, device));
                block_in = block_out;
            }
            let upsample = (i + ups >= n).then(|| Upsample2d::new(block_in, device));
            up.insert(0, UpLevel2d { block, upsample });
        }
        Self {
            conv_in,
            mid,
            up,
            norm_out: group_norm(g, block_in, device),
            conv_out: conv2d(block_in, cfg.patched_channels(cfg.out_channels), 3, device),
            patch_size: cfg.patch_size,
            patch_method: cfg.patch_method,
        }
    }

    /// [B, z, h, w] -> [B, 3, h·s, w·s]
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut h = self.mid.forward(self.conv_in.forward(z));
        for level in self.up.iter().rev() {
            for block in &level.block {
                h = block.forward(h);
            }
            if let Some(us) = &level.upsample {
                h = us.forward(h);
            }
        }
        let h = self.conv_out.forward(silu(norm2d(&self.norm_out, h)));
        unpatch2d(h, self.patch_size, self.patch_method)
    }
}
