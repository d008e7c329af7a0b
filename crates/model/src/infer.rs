//! Infers the architecture of a checkpoint from its key names and shapes (docs/architecture.md
//! §7.3): patch size from conv_in, widths from the blocks, levels from `down.{i}`, sampler
//! placement from which sampler convs exist. Pure function of the key → shape map; no I/O.

use std::collections::BTreeMap;

use crate::config::{Formulation, Modality, PatchMethod, SamplerConvs, TokenizerConfig};
use crate::fsq::DEFAULT_LEVELS;

/// Why a checkpoint's architecture could not be inferred.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("key `{0}` not found: this does not look like a Cosmos tokenizer state_dict")]
    MissingKey(String),
    #[error("key `{key}` has shape {shape:?}: {expected}")]
    BadShape {
        key: String,
        shape: Vec<usize>,
        expected: String,
    },
    #[error(
        "the compression ratio cannot be read off this checkpoint: it stores every hybrid \
         sampler conv, used or not ({0}); pass --config with a preset name (e.g. \
         Cosmos-0.1-Tokenizer-CV8x8x8), a cosmotok TOML or the official config JSON"
    )]
    Ambiguous(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

pub type Shapes = BTreeMap<String, Vec<usize>>;

fn shape<'a>(s: &'a Shapes, key: &str) -> Result<&'a Vec<usize>, InferError> {
    s.get(key)
        .ok_or_else(|| InferError::MissingKey(key.to_string()))
}

/// Sorted distinct integers `i` of keys `<prefix>{i}.…`.
fn indices(s: &Shapes, prefix: &str) -> Vec<usize> {
    let mut v: Vec<usize> = s
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn root(n: usize, power: u32) -> Option<usize> {
    (1..=8usize).find(|p| p.pow(power) == n)
}

/// Infers a config. `levels` are the FSQ levels if the checkpoint stores `quantizer._levels`.
/// `has_quantizer` tells whether any `quantizer.*` buffer exists.
pub fn infer_config(s: &Shapes, levels: Option<Vec<usize>>) -> Result<TokenizerConfig, InferError> {
    let video = s.contains_key("encoder.conv_in.0.conv3d.weight");
    let (conv_in, wsuffix) = if video {
        ("encoder.conv_in.0.conv3d.weight", ".conv3d.weight")
    } else {
        ("encoder.conv_in.weight", ".weight")
    };
    let ci = shape(s, conv_in)?;
    let channels = ci[0];
    let in_channels = 3;
    let p = root(ci[1] / in_channels, if video { 3 } else { 2 })
        .filter(|_| ci[1] % in_channels == 0)
        .ok_or_else(|| InferError::BadShape {
            key: conv_in.into(),
            shape: ci.clone(),
            expected: "input channels 3·p² (image) or 3·p³ (video) with p in 1, 2, 4, 8".into(),
        })?;
    let conv = |name: &str| -> Result<&Vec<usize>, InferError> {
        let key = if video && !name.ends_with("shortcut") && !name.contains("quant_conv") {
            format!("{name}.0{wsuffix}")
        } else {
            format!("{name}{wsuffix}")
        };
        shape(s, &key)
    };
    let enc_levels = indices(s, "encoder.down.");
    let dec_levels = indices(s, "decoder.up.");
    if enc_levels.is_empty() {
        return Err(InferError::MissingKey("encoder.down.0.*".into()));
    }
    let num_res_blocks = indices(s, "encoder.down.0.block.").len();
    let mult_of = |prefix: &str, lv: &[usize]| -> Result<Vec<usize>, InferError> {
        lv.iter()
            .map(|i| conv(&format!("{prefix}.{i}.block.0.conv1")).map(|w| w[0] / channels))
            .collect()
    };
    let channels_mult = mult_of("encoder.down", &enc_levels)?;
    let decoder_mult = mult_of("decoder.up", &dec_levels)?;
    let pq = shape(s, &format!("post_quant_conv{wsuffix}"))?;
    let (z_channels, latent_channels) = (pq[0], pq[1]);
    let qc = shape(s, &format!("quant_conv{wsuffix}"))?;
    let z_factor = qc[0] / latent_channels.max(1);
    let has_quantizer = s
        .keys()
        .any(|k| k.starts_with("quantizer.") || k.starts_with("inv_quant."));
    let discrete = has_quantizer
        || levels.is_some()
        || (latent_channels == DEFAULT_LEVELS.len() && z_factor == 1);
    let formulation = match (discrete, z_factor) {
        (true, _) => Formulation::Fsq,
        (false, 2) => Formulation::Vae,
        _ => Formulation::Ae,
    };
    let levels = if discrete {
        levels.unwrap_or_else(|| DEFAULT_LEVELS.to_vec())
    } else {
        Vec::new()
    };

    let has = |k: String| s.contains_key(&k);
    let (sd, td, sampler_convs) = if video {
        // A used-convs checkpoint never has a temporal conv in the first upsampler after the
        // mid block (legacy_mode = false), so its presence means every conv is stored.
        let first_up = dec_levels.len().saturating_sub(1);
        let all = has(format!(
            "decoder.up.{first_up}.upsample.conv1.conv3d.weight"
        ));
        if all {
            return Err(InferError::Ambiguous(format!(
                "`decoder.up.{first_up}.upsample.conv1` is present"
            )));
        }
        let n = enc_levels.len();
        let sd = (0..n.saturating_sub(1))
            .filter(|i| has(format!("encoder.down.{i}.downsample.conv1.conv3d.weight")))
            .count();
        let td = (0..n.saturating_sub(1))
            .filter(|i| has(format!("encoder.down.{i}.downsample.conv2.conv3d.weight")))
            .count();
        (sd, td, SamplerConvs::Used)
    } else {
        let sd = enc_levels
            .iter()
            .filter(|i| has(format!("encoder.down.{i}.downsample.conv.weight")))
            .count();
        (sd, 0, SamplerConvs::Used)
    };
    let cfg = TokenizerConfig {
        name: "custom".into(),
        modality: if video {
            Modality::Video
        } else {
            Modality::Image
        },
        formulation,
        in_channels,
        out_channels: in_channels,
        channels,
        decoder_channels_mult: (decoder_mult != channels_mult).then_some(decoder_mult),
        channels_mult,
        num_res_blocks,
        patch_size: p,
        patch_method: PatchMethod::Haar,
        z_channels,
        latent_channels,
        z_factor,
        levels,
        spatial_compression: p << sd,
        temporal_compression: if video { p << td } else { 1 },
        legacy_mode: false,
        sampler_convs,
        num_groups: if video { 1 } else { 32 },
    };
    cfg.validate()?;
    Ok(cfg)
}

/// Whether a checkpoint stores sampler convs that its flags never use (docs/architecture.md §7.3).
pub fn stores_unused_sampler_convs(s: &Shapes, cfg: &TokenizerConfig) -> bool {
    if !cfg.is_video() {
        return false;
    }
    let probe = crate::tokenizer::Tokenizer::sampler_flags(cfg);
    probe.iter().any(|(prefix, spatial, temporal)| {
        let (c_s, c_t) = if prefix.starts_with("encoder") {
            ("conv1", "conv2")
        } else {
            ("conv2", "conv1")
        };
        (!spatial && s.contains_key(&format!("{prefix}.{c_s}.conv3d.weight")))
            || (!temporal && s.contains_key(&format!("{prefix}.{c_t}.conv3d.weight")))
            || (!spatial && !temporal && s.contains_key(&format!("{prefix}.conv3.conv3d.weight")))
    })
}
