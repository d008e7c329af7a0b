//! Presets for every released Cosmos tokenizer (docs/architecture.md §1.2): the 0.1, 1.0 and
//! Tokenize1 generations. Names are the Hugging Face repo names without the `nvidia/` prefix.

use crate::config::{Formulation, Modality, PatchMethod, SamplerConvs, TokenizerConfig};
use crate::fsq::DEFAULT_LEVELS;

struct Row {
    name: &'static str,
    video: bool,
    discrete: bool,
    patch: usize,
    s: usize,
    t: usize,
    z: usize,
    enc_mult: &'static [usize],
    dec_mult: Option<&'static [usize]>,
    all_convs: bool,
}

const M244: &[usize] = &[2, 4, 4];
const M24: &[usize] = &[2, 4];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { name: "Cosmos-0.1-Tokenizer-CI8x8", video: false, discrete: false, patch: 4, s: 8, t: 1, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-CI16x16", video: false, discrete: false, patch: 4, s: 16, t: 1, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-DI8x8", video: false, discrete: true, patch: 4, s: 8, t: 1, z: 256, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-DI16x16", video: false, discrete: true, patch: 4, s: 16, t: 1, z: 256, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-CV4x8x8", video: true, discrete: false, patch: 4, s: 8, t: 4, z: 16, enc_mult: M24, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-CV8x8x8", video: true, discrete: false, patch: 4, s: 8, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: true },
    Row { name: "Cosmos-0.1-Tokenizer-CV8x16x16", video: true, discrete: false, patch: 4, s: 16, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-DV4x8x8", video: true, discrete: true, patch: 4, s: 8, t: 4, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-DV8x8x8", video: true, discrete: true, patch: 4, s: 8, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-0.1-Tokenizer-DV8x16x16", video: true, discrete: true, patch: 4, s: 16, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-1.0-Tokenizer-CV8x8x8", video: true, discrete: false, patch: 4, s: 8, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-1.0-Tokenizer-DV8x16x16", video: true, discrete: true, patch: 4, s: 16, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-CV8x8x8-720p", video: true, discrete: false, patch: 4, s: 8, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-DV8x16x16-720p", video: true, discrete: true, patch: 4, s: 16, t: 8, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-CI8x8-360p", video: false, discrete: false, patch: 2, s: 8, t: 1, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-CI16x16-360p", video: false, discrete: false, patch: 2, s: 16, t: 1, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-DI8x8-360p", video: false, discrete: true, patch: 2, s: 8, t: 1, z: 256, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-DI16x16-360p", video: false, discrete: true, patch: 2, s: 16, t: 1, z: 256, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-CV4x8x8-360p", video: true, discrete: false, patch: 2, s: 8, t: 4, z: 16, enc_mult: M244, dec_mult: None, all_convs: false },
    Row { name: "Cosmos-Tokenize1-DV4x8x8-360p", video: true, discrete: true, patch: 2, s: 8, t: 4, z: 256, enc_mult: M244, dec_mult: None, all_convs: false },
];

fn build(r: &Row) -> TokenizerConfig {
    TokenizerConfig {
        name: r.name.to_string(),
        modality: if r.video {
            Modality::Video
        } else {
            Modality::Image
        },
        formulation: if r.discrete {
            Formulation::Fsq
        } else {
            Formulation::Ae
        },
        in_channels: 3,
        out_channels: 3,
        channels: 128,
        channels_mult: r.enc_mult.to_vec(),
        decoder_channels_mult: r.dec_mult.map(|m| m.to_vec()),
        num_res_blocks: 2,
        patch_size: r.patch,
        patch_method: PatchMethod::Haar,
        z_channels: r.z,
        latent_channels: if r.discrete { DEFAULT_LEVELS.len() } else { 16 },
        z_factor: 1,
        levels: if r.discrete {
            DEFAULT_LEVELS.to_vec()
        } else {
            Vec::new()
        },
        spatial_compression: r.s,
        temporal_compression: r.t,
        legacy_mode: false,
        sampler_convs: if r.all_convs {
            SamplerConvs::All
        } else {
            SamplerConvs::Used
        },
        num_groups: if r.video { 1 } else { 32 },
    }
}

/// Every released preset.
pub fn all() -> Vec<TokenizerConfig> {
    ROWS.iter().map(build).collect()
}

/// Looks a preset up by its full name (`Cosmos-0.1-Tokenizer-CV8x8x8`), with or without the
/// `nvidia/` prefix, case-insensitively.
pub fn by_name(name: &str) -> Option<TokenizerConfig> {
    let n = name.trim().trim_start_matches("nvidia/").to_lowercase();
    let n = n
        .strip_prefix("cosmos-tokenizer-")
        .map(|rest| format!("cosmos-0.1-tokenizer-{rest}"))
        .unwrap_or(n);
    ROWS.iter().find(|r| r.name.to_lowercase() == n).map(build)
}

pub fn names() -> Vec<&'static str> {
    ROWS.iter().map(|r| r.name).collect()
}

/// Short architecture name: CI8x8, DV4x8x8, ...
pub fn short_name(cfg: &TokenizerConfig) -> String {
    let s = cfg.spatial_compression;
    if cfg.is_video() {
        format!("{}{}x{s}x{s}", cfg.family(), cfg.temporal_compression)
    } else {
        format!("{}{s}x{s}", cfg.family())
    }
}

/// The released presets whose structure (family, compression, patch size, z, sampler convs,
/// level count) matches `cfg`, whatever its width; an exact match (all fields) comes first.
pub fn matching(cfg: &TokenizerConfig) -> Vec<(TokenizerConfig, bool)> {
    let mut out: Vec<(TokenizerConfig, bool)> = all()
        .into_iter()
        .filter(|p| {
            p.modality == cfg.modality
                && p.formulation == cfg.formulation
                && p.spatial_compression == cfg.spatial_compression
                && p.temporal_compression == cfg.temporal_compression
                && p.patch_size == cfg.patch_size
                && p.z_channels == cfg.z_channels
                && p.channels_mult.len() == cfg.channels_mult.len()
                && p.decoder_mult().len() == cfg.decoder_mult().len()
        })
        .map(|p| {
            let exact = TokenizerConfig {
                name: p.name.clone(),
                ..cfg.clone()
            } == p;
            (p, exact)
        })
        .collect();
    out.sort_by_key(|(_, exact)| !exact);
    out
}
