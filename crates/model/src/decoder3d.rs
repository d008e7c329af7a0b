//! Factorized causal video decoder (docs/architecture.md §5.8): factorized conv_in → mid → levels
//! (deepest first) of factorized resnet blocks with hybrid upsamplers after every level but level 0
//! → per-frame norm → swish → conv_out → 3-D Haar unpatcher.

use burn::prelude::*;
use cosmotok_kernels::silu::silu;

use crate::causal_conv::{CausalConv3d, factorized, forward_seq_stream};
use crate::config::{PatchMethod, TokenizerConfig};
use crate::encoder3d::Mid3d;
use crate::norm::CausalNorm;
use crate::resnet::ResnetBlock3d;
use crate::stream::Stream;
use crate::upsample::HybridUpsample3d;
use crate::wavelet::unpatch3d_chunk;

/// Keys `up.{i}.block.{j}.*`, `up.{i}.upsample.conv{1,2,3}.conv3d`.
#[derive(Module, Debug)]
pub struct UpLevel3d {
    pub block: Vec<ResnetBlock3d>,
    pub upsample: Option<HybridUpsample3d>,
}

/// Flags of the upsampler that runs `i_rev` steps after the mid block (docs/architecture.md §5.8).
pub fn upsample_flags(i_rev: usize, sd: usize, td: usize, legacy_mode: bool) -> (bool, bool) {
    let temporal = if legacy_mode {
        i_rev < td
    } else {
        0 < i_rev && i_rev < td + 1
    };
    let spatial = temporal || (i_rev < sd && sd > td);
    (spatial, temporal)
}

#[derive(Module, Debug)]
pub struct Decoder3d {
    pub conv_in: Vec<CausalConv3d>,
    pub mid: Mid3d,
    /// Indexed by level: `up.0` runs last.
    pub up: Vec<UpLevel3d>,
    pub norm_out: CausalNorm,
    pub conv_out: Vec<CausalConv3d>,
    pub patch_size: usize,
    #[module(skip)]
    pub patch_method: PatchMethod,
}

impl Decoder3d {
    pub fn new(cfg: &TokenizerConfig, device: &Device) -> Self {
        let ch = cfg.channels;
        let mult = cfg.decoder_mult();
        let n = mult.len();
        let (sd, td) = (cfg.spatial_downs(), cfg.temporal_downs());
        let mut block_in = ch * mult[n - 1];
        let conv_in = factorized(cfg.z_channels, block_in, device);
        let mid = Mid3d::new(block_in, device);
        let mut up: Vec<UpLevel3d> = Vec::new();
        for i in (0..n).rev() {
            let block_out = ch * mult[i];
            let mut block = Vec::new();
            for _ in 0..=cfg.num_res_blocks {
                block.push(ResnetBlock3d::new(block_in, block_out, device));
                block_in = block_out;
            }
            let upsample = (i != 0).then(|| {
                let (s, t) = upsample_flags(n - 1 - i, sd, td, cfg.legacy_mode);
                HybridUpsample3d::new(block_in, s, t, cfg.sampler_convs, device)
            });
            up.insert(0, UpLevel3d { block, upsample });
        }
        let out = cfg.patched_channels(cfg.out_channels);
        Self {
            conv_in,
            mid,
            up,
            norm_out: CausalNorm::new(block_in, device),
            conv_out: vec![
                CausalConv3d::spatial(block_in, out, device),
                CausalConv3d::temporal(out, out, device),
            ],
            patch_size: cfg.patch_size,
            patch_method: cfg.patch_method,
        }
    }

    /// [B, z, 1 + k, h, w] -> [B, 3, 1 + k·t, h·s, w·s]
    pub fn forward(&self, z: Tensor<5>) -> Tensor<5> {
        self.forward_stream(z, &mut Stream::whole())
    }

    /// One chunk of a longer latent sequence (first chunk 1 + k latents, later chunks k).
    pub fn forward_stream(&self, z: Tensor<5>, s: &mut Stream) -> Tensor<5> {
        let h = forward_seq_stream(&self.conv_in, z, s);
        let mut h = self.mid.forward_stream(h, s);
        for level in self.up.iter().rev() {
            for block in &level.block {
                h = block.forward_stream(h, s);
            }
            if let Some(us) = &level.upsample {
                h = us.forward_stream(h, s);
            }
        }
        let h = forward_seq_stream(&self.conv_out, silu(self.norm_out.forward(h)), s);
        unpatch3d_chunk(h, self.patch_size, self.patch_method, s.is_first())
    }
}
