//! `cosmotok data ...`: dataset tools. `data inspect <path|config.toml>` prints counts per
//! bucket, frame counts and skipped files, and writes a PNG contact sheet of a few batches.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use cosmotok_data::inspect::{InspectOptions, inspect};
use cosmotok_data::{DataConfig, Mode, SourceConfig};

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Index a dataset, draw a few batches, print a report and write a contact sheet PNG.
    Inspect(DataInspectArgs),
}

#[derive(Args, Debug)]
pub struct DataInspectArgs {
    /// A media directory / file / .jsonl manifest, or a TOML file with a `[data]` table (or a
    /// data config at its top level; relative source paths are relative to the working
    /// directory, as in training).
    pub target: PathBuf,
    /// Batches to draw.
    #[arg(long, default_value_t = 4)]
    pub batches: usize,
    /// Contact sheet PNG to write.
    #[arg(long, default_value = "data_inspect.png")]
    pub out: PathBuf,
    /// Frames shown per clip in the contact sheet.
    #[arg(long, default_value_t = 4)]
    pub frames_per_clip: usize,
    /// Contact sheet tile size (pixels).
    #[arg(long, default_value_t = 96)]
    pub tile: u32,
    /// Draw evaluation batches (centred clips and crops) instead of training batches.
    #[arg(long)]
    pub eval: bool,
    /// Override data.num_frames.
    #[arg(long)]
    pub num_frames: Option<usize>,
    /// Override data.batch_size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override data.resolution.
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Override data.crop.
    #[arg(long)]
    pub crop: Option<u32>,
    /// Override data.seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override data.workers.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// A `DataConfig` from a TOML file (`[data]` table or top level).
fn load_toml(path: &Path) -> Result<DataConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("`{}`: cannot read", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("`{}`: invalid TOML", path.display()))?;
    let table = match value.get("data") {
        Some(toml::Value::Table(t)) => t.clone(),
        Some(_) => bail!("`{}`: `data` must be a table", path.display()),
        None => value,
    };
    table
        .try_into()
        .with_context(|| format!("`{}`: not a cosmotok data config", path.display()))
}

pub fn run(args: &DataArgs) -> Result<()> {
    match &args.command {
        DataCommand::Inspect(a) => run_inspect(a),
    }
}

fn run_inspect(a: &DataInspectArgs) -> Result<()> {
    let is_toml = a
        .target
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let mut cfg = if is_toml {
        load_toml(&a.target)?
    } else {
        DataConfig {
            sources: vec![SourceConfig::auto(&a.target)],
            ..DataConfig::default()
        }
    };
    if let Some(v) = a.num_frames {
        cfg.num_frames = v;
    }
    if let Some(v) = a.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = a.resolution {
        cfg.resolution = v;
    }
    if let Some(v) = a.crop {
        cfg.crop = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.workers {
        cfg.workers = v;
    }
    let opts = InspectOptions {
        batches: a.batches,
        frames_per_clip: a.frames_per_clip,
        tile: a.tile,
        sheet: Some(a.out.clone()),
        mode: if a.eval { Mode::Eval } else { Mode::Train },
    };
    let report = inspect(&cfg, &opts)?;
    print!("{report}");
    Ok(())
}
