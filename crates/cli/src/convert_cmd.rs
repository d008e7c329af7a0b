//! `cosmotok convert <in.jit|.pt>... [-o out.safetensors] [--f32]`: native import of the
//! released TorchScript archives (and `torch.save` state_dicts) to safetensors, without running
//! any pickle code; then the same architecture / preset report as `cosmotok inspect`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// TorchScript archive(s) (`autoencoder.jit`, or `encoder.jit decoder.jit` to merge) or
    /// `torch.save` zip state_dicts (`.pt`).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output safetensors file (default: the first input with extension `.safetensors`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Cast float tensors (bf16/f16/f64) to f32 instead of keeping the archive's dtypes.
    #[arg(long)]
    pub f32: bool,
    /// Print every converted key with its dtype and shape.
    #[arg(long)]
    pub list: bool,
    /// Architecture for the report, when the keys leave it ambiguous (preset, TOML or official
    /// JSON); the conversion itself never needs it.
    #[arg(long)]
    pub config: Option<String>,
}

pub fn run(args: &ConvertArgs) -> Result<()> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| args.inputs[0].with_extension("safetensors"));
    if args.inputs.contains(&out) {
        bail!("the output `{}` would overwrite an input", out.display());
    }
    let summary = cosmotok_convert::convert_many(&args.inputs, &out, !args.f32)?;
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, _, _) in &summary.keys {
        *groups.entry(k.split('.').next().unwrap_or("")).or_default() += 1;
    }
    println!(
        "converted {} tensors ({}) from {} to {}",
        summary.keys.len(),
        groups
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        out.display()
    );
    println!(
        "dtypes: {}",
        summary
            .dtypes
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !summary.duplicates.is_empty() {
        println!(
            "{} key(s) present in several inputs with identical values, written once",
            summary.duplicates.len()
        );
    }
    if args.list {
        for (k, d, s) in &summary.keys {
            println!("  {k} {d} {s:?}");
        }
    }
    crate::inspect::run(&crate::inspect::InspectArgs {
        checkpoint: out,
        config: args.config.clone(),
    })
}
