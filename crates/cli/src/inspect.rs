//! `cosmotok inspect <checkpoint>`: detected architecture, matching preset, parameter
//! counts and a key summary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use cosmotok_model::weights::{Header, is_ignored_buffer, is_reference};
use cosmotok_model::{TokenizerConfig, presets};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A safetensors state_dict.
    pub checkpoint: PathBuf,
    /// Architecture, when the keys leave it ambiguous (preset, TOML or official JSON).
    #[arg(long)]
    pub config: Option<String>,
}

fn count(h: &Header, prefix: &str) -> usize {
    h.tensors
        .iter()
        .filter(|(k, _)| k.starts_with(prefix) && !is_ignored_buffer(k) && !is_reference(k))
        .map(|(_, t)| t.shape.iter().product::<usize>())
        .sum()
}

pub fn describe(cfg: &TokenizerConfig) -> String {
    let mut s = format!(
        "{} {} patch {} ({:?}), channels {} x {:?}",
        presets::short_name(cfg),
        match cfg.formulation {
            cosmotok_model::Formulation::Ae => "AE",
            cosmotok_model::Formulation::Vae => "VAE",
            cosmotok_model::Formulation::Fsq => "FSQ",
        },
        cfg.patch_size,
        cfg.patch_method,
        cfg.channels,
        cfg.channels_mult,
    );
    if let Some(d) = &cfg.decoder_channels_mult {
        s += &format!(" (decoder {d:?})");
    }
    s += &format!(
        ", {} res blocks, z {}, latent {}",
        cfg.num_res_blocks, cfg.z_channels, cfg.latent_channels
    );
    if cfg.is_discrete() {
        s += &format!(", levels {:?}", cfg.levels);
    }
    if cfg.is_video() {
        s += &format!(
            ", sampler convs {:?}, legacy_mode {}",
            cfg.sampler_convs, cfg.legacy_mode
        );
    }
    s
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let h = Header::read(&args.checkpoint)?;
    println!("file: {}", args.checkpoint.display());
    let given = args
        .config
        .as_deref()
        .map(crate::config_arg::resolve)
        .transpose()?;
    let source = if given.is_some() {
        "--config"
    } else if h.stored_config().is_some() {
        "stored by cosmotok"
    } else {
        "inferred from keys and shapes"
    };
    match h.resolve_config(given) {
        Ok(cfg) => {
            println!("architecture ({source}): {}", describe(&cfg));
            let matches = presets::matching(&cfg);
            match matches.first() {
                Some((p, true)) => println!("preset: {}", p.name),
                Some((_, false)) => println!(
                    "preset: {} structure, custom size ({})",
                    presets::short_name(&cfg),
                    matches
                        .iter()
                        .map(|(p, _)| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => println!("preset: none ({} custom)", presets::short_name(&cfg)),
            }
        }
        Err(e) => println!("architecture: unresolved: {e}"),
    }
    let (enc, dec) = (
        count(&h, "encoder.") + count(&h, "quant_conv."),
        count(&h, "decoder.") + count(&h, "post_quant_conv."),
    );
    println!(
        "parameters: {} total = encoder+quant_conv {} + decoder+post_quant_conv {}",
        enc + dec,
        enc,
        dec
    );
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut buffers, mut refs) = (0, 0);
    for (k, t) in &h.tensors {
        if is_reference(k) {
            refs += 1;
            continue;
        }
        if is_ignored_buffer(k) {
            buffers += 1;
            continue;
        }
        *groups
            .entry(k.split('.').next().unwrap_or("").to_string())
            .or_default() += 1;
        *dtypes.entry(t.dtype.clone()).or_default() += 1;
    }
    println!(
        "keys: {} learned ({}), dtypes {:?}; {buffers} non-learned buffers ignored; {refs} reference tensors (ref.*)",
        groups.values().sum::<usize>(),
        groups
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        dtypes
    );
    Ok(())
}
