//! `cosmotok train | finetune | eval | export`: the training workflow on top of
//! cosmotok-train.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use cosmotok_train::config::TrainMode;
use cosmotok_train::export::{self, Source};
use cosmotok_train::{Resume, Trainer, TrainerOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training recipe (TOML), e.g. configs/recipes/quickstart.toml.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Override a config value: `--set optim.lr=2e-4 --set run.iterations=500`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Resume from this checkpoint directory (default: the run directory's newest checkpoint).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from scratch even if the run directory has checkpoints.
    #[arg(long, conflicts_with = "resume")]
    pub no_resume: bool,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Progress display: `bar` (a progress bar with the latest losses), `tui` (burn-train's
    /// dashboard: plots of every metric, the evaluations, ETA; `q` then `s` stops and saves;
    /// the log goes to <run dir>/train.log meanwhile; plain lines when not in a terminal) or
    /// `none`. metrics.jsonl is written in every case.
    #[arg(long, default_value = "bar")]
    pub dashboard: cosmotok_train::dashboard::Dashboard,
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Released (or any) safetensors checkpoint with official keys to start from, or a
    /// cosmotok checkpoint / run directory (its newest checkpoint's EMA weights).
    #[arg(long)]
    pub from: PathBuf,
    /// Which parameters to train: full, decoder_only, encoder_frozen.
    #[arg(long, default_value = "full")]
    pub mode: String,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint mode: a training checkpoint directory or a safetensors file with official
    /// keys, evaluated on the recipe's eval clips (needs --config).
    #[arg(long, requires = "config", conflicts_with_all = ["videos", "reconstructions"])]
    pub checkpoint: Option<PathBuf>,
    /// Recipe whose `[data]` table gives the evaluation clips (checkpoint mode).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Paired mode (TokenBench's metrics_cli): a folder of ground-truth videos (video files,
    /// images or frame folders) ...
    #[arg(long, requires = "reconstructions")]
    pub videos: Option<PathBuf>,
    /// ... and a folder of their reconstructions with the same names.
    #[arg(long, requires = "videos")]
    pub reconstructions: Option<PathBuf>,
    /// LPIPS too: torchvision's VGG-16 converted to safetensors (`cosmotok fetch vgg16`) ...
    #[arg(long, requires = "lpips_lin")]
    pub lpips_vgg: Option<PathBuf>,
    /// ... and the lpips v0.1 linear heads (`cosmotok fetch lpips`).
    #[arg(long, requires = "lpips_vgg")]
    pub lpips_lin: Option<PathBuf>,
    /// Device for the model (checkpoint mode; default: the recipe's `run.device`) and LPIPS.
    #[arg(long)]
    pub device: Option<String>,
    /// Write the per-video scores and the means as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Use the raw weights of a checkpoint directory instead of the EMA.
    #[arg(long)]
    pub no_ema: bool,
    /// Write a reconstruction grid PNG here.
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// Write side-by-side mp4s (input | reconstruction) of the grid clips into this folder
    /// (`video` feature).
    #[arg(long)]
    pub side_by_side: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A training checkpoint directory (or a safetensors file to split and re-export).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Export the raw weights instead of the EMA.
    #[arg(long)]
    pub no_ema: bool,
    /// Also compute per-channel latent mean/std over the eval clips of this recipe.
    #[arg(long)]
    pub latent_stats: Option<PathBuf>,
}

fn run_training(args: &TrainArgs, extra: Vec<String>) -> Result<()> {
    let mut overrides = args.set.clone();
    overrides.extend(extra);
    let cfg = cosmotok_train::config::load(&args.config, &overrides)?;
    let resume = match (&args.resume, args.no_resume) {
        (Some(p), _) => Resume::From(p.clone()),
        (None, true) => Resume::Never,
        (None, false) => Resume::Auto,
    };
    let mut trainer = Trainer::new(
        cfg,
        TrainerOptions {
            resume,
            quiet: args.quiet,
            dashboard: args.dashboard,
        },
    )?;
    let tui = !args.quiet
        && args.dashboard == cosmotok_train::dashboard::Dashboard::Tui
        && cosmotok_train::dashboard::tui_available();
    if tui {
        let log = trainer.run_dir().join("train.log");
        eprintln!("dashboard: the log goes to {} meanwhile", log.display());
        crate::log_sink::to_file(&log)
            .with_context(|| format!("cannot open `{}`", log.display()))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let signal = stop_on_signals(stop.clone())?;
    eprintln!(
        "training {} ({}) for {} steps → {}",
        trainer.cfg.run.name,
        cosmotok_model::presets::short_name(&trainer.cfg.model),
        trainer.cfg.run.iterations,
        trainer.run_dir().display()
    );
    let summary = trainer.run(&stop);
    if tui {
        crate::log_sink::to_stderr();
    }
    let summary = summary?;
    if let Some(r) = &summary.first_eval {
        eprintln!("before training: {}", r.summary());
    }
    if let Some(r) = &summary.final_eval {
        eprintln!("after {} steps: {}", summary.steps, r.summary());
    }
    eprintln!("checkpoint: {}", summary.checkpoint.display());
    if summary.interrupted {
        eprintln!("interrupted; run the same command again to resume");
    }
    // Stopped by a signal: the checkpoint is written; exit as a process ended by it (128 + n),
    // so that a scheduler or a script (`cosmotok train … && next`) does not take the run for
    // finished.
    match signal.load(Ordering::SeqCst) {
        0 => Ok(()),
        n => std::process::exit(128 + n as i32),
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (what a cluster scheduler sends before it kills a job) set `stop`:
/// the trainer finishes its current step, saves a checkpoint and returns. A second signal exits
/// at once without saving. Returns the number of the first signal received (0: none yet).
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let received = Arc::new(AtomicUsize::new(0));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the SIGINT/SIGTERM handler")?;
    let first = received.clone();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            if stop.load(Ordering::SeqCst) {
                eprintln!("second signal ({name}): exiting without saving");
                std::process::exit(128 + sig);
            }
            // The number first: the trainer may return as soon as `stop` is set.
            first.store(sig as usize, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
            eprintln!(
                "{name}: finishing the current step and saving a checkpoint… (again to exit \
                 without saving)"
            );
        }
    });
    Ok(received)
}

pub fn train(args: &TrainArgs) -> Result<()> {
    run_training(args, vec![])
}

pub fn finetune(args: &FinetuneArgs) -> Result<()> {
    // Checked here for a clear message; passed on as the recipe override `finetune.mode`.
    let mode = toml::Value::String(args.mode.clone());
    let _: TrainMode = mode.clone().try_into().map_err(|_| {
        anyhow::anyhow!(
            "--mode `{}`: expected full, decoder_only or encoder_frozen",
            args.mode
        )
    })?;
    let from = args.from.display().to_string();
    if !args.from.exists() {
        bail!("--from `{from}`: no such file or directory");
    }
    run_training(
        &args.train,
        vec![
            format!("finetune.from={}", toml::Value::String(from)),
            format!("finetune.mode={mode}"),
        ],
    )
}

fn source(path: &Path, no_ema: bool) -> Source {
    if path.is_dir() {
        Source::Checkpoint {
            dir: path.to_path_buf(),
            ema: !no_ema,
        }
    } else {
        Source::Safetensors(path.to_path_buf())
    }
}

pub fn eval(args: &EvalArgs) -> Result<()> {
    let lpips = |device: &burn::prelude::Device| {
        cosmotok_train::eval::load_lpips(
            args.lpips_vgg.as_deref(),
            args.lpips_lin.as_deref(),
            device,
        )
    };
    if let (Some(videos), Some(recons)) = (&args.videos, &args.reconstructions) {
        let device = cosmotok_train::device::parse(args.device.as_deref().unwrap_or("flex"))?;
        let lpips = lpips(&device)?;
        let report =
            cosmotok_train::paired_eval::evaluate_pairs(videos, recons, lpips.as_ref(), &device)?;
        for p in &report.pairs {
            let l = p.lpips.map_or(String::new(), |l| format!("  LPIPS {l:.4}"));
            println!(
                "{}  [{}x{}x{}]  PSNR {:.4} dB  SSIM {:.4}{l}",
                p.name, p.shape[0], p.shape[1], p.shape[2], p.psnr, p.ssim
            );
        }
        let l = report
            .lpips
            .map_or(String::new(), |l| format!(", LPIPS {l:.4}"));
        println!(
            "mean over {} videos: PSNR {:.4} dB, SSIM {:.4}{l}",
            report.pairs.len(),
            report.psnr,
            report.ssim
        );
        if let Some(path) = &args.json {
            write_json(path, &report.to_json())?;
        }
        return Ok(());
    }
    let (Some(checkpoint), Some(config)) = (&args.checkpoint, &args.config) else {
        bail!(
            "eval: give --checkpoint and --config (a model on a recipe's eval clips) or \
             --videos and --reconstructions (TokenBench's paired mode)"
        );
    };
    let cfg = cosmotok_train::config::load(config, &args.set)?;
    let device = cosmotok_train::device::parse(args.device.as_deref().unwrap_or(&cfg.run.device))?;
    let model = export::load_source(&source(checkpoint, args.no_ema), &device)?;
    let batches = cosmotok_train::data::Loader::eval_batches(&cfg.data)?;
    let lpips = match lpips(&device)? {
        Some(l) => Some(l),
        None => cfg.eval.lpips(&device)?,
    };
    let report = cosmotok_train::eval::evaluate(
        &model,
        &batches,
        &device,
        cfg.eval.max_clips.max(batches.len()),
        if args.grid.is_some() {
            cfg.eval.grids.max(1)
        } else {
            0
        },
        args.grid.as_deref(),
        args.side_by_side.as_deref(),
        lpips.as_ref(),
    )?;
    println!("{}", report.summary());
    println!("{}", serde_json::to_string(&report.fields())?);
    if let Some(path) = &args.json {
        let fields: serde_json::Map<String, serde_json::Value> = report
            .fields()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect();
        write_json(path, &serde_json::Value::Object(fields))?;
    }
    Ok(())
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    crate::output::write(path, (serde_json::to_string_pretty(v)? + "\n").as_bytes())
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let device = cosmotok_train::device::parse("flex")?;
    let model = export::load_source(&source(&args.checkpoint, args.no_ema), &device)?;
    for p in export::export(&model, &args.out)? {
        println!("{}", p.display());
    }
    if let Some(recipe) = &args.latent_stats {
        let cfg = cosmotok_train::config::load(recipe, &[])?;
        let batches = cosmotok_train::data::Loader::eval_batches(&cfg.data)?;
        let stats = export::latent_stats(&model, &batches, &device)?;
        export::write_latent_stats(&stats, &args.out)?;
        println!("{}", args.out.join("latent_stats.safetensors").display());
    }
    Ok(())
}
