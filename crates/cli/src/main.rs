//! `cosmotok`: train, fine-tune, evaluate and run NVIDIA Cosmos tokenizers.

mod bench_cmd;
mod check_device;
mod codec;
mod config_arg;
mod convert_cmd;
mod data_cmd;
mod fetch_cmd;
mod inspect;
mod log_sink;
mod output;
mod tensor_io;
mod train_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cosmotok",
    version,
    about = "Cosmos causal wavelet tokenizers in Rust (Burn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encode an image, video, frame folder or tensor file to latents / FSQ indices.
    Encode(codec::CodecArgs),
    /// Decode latents, codes or FSQ indices (safetensors) to a tensor file or media.
    Decode(codec::CodecArgs),
    /// Encode then decode; prints the PSNR of the reconstruction.
    Reconstruct(codec::CodecArgs),
    /// Show a checkpoint's architecture, preset, parameter count and keys.
    Inspect(inspect::InspectArgs),
    /// List the presets of every released model.
    Presets {
        /// Write one `<preset>.toml` ([model] table) per preset into this directory.
        #[arg(long, value_name = "DIR")]
        write_configs: Option<std::path::PathBuf>,
    },
    /// Train a tokenizer from a recipe (resumes from the run directory's newest checkpoint).
    Train(train_cmd::TrainArgs),
    /// Fine-tune from a released checkpoint (full, decoder_only or encoder_frozen).
    Finetune(train_cmd::FinetuneArgs),
    /// Evaluate a checkpoint on a recipe's eval clips (PSNR, SSIM, FSQ code usage, LPIPS), or
    /// score videos against their reconstructions like TokenBench (--videos, --reconstructions)
    Eval(train_cmd::EvalArgs),
    /// Export a checkpoint as safetensors with official keys (+ encoder/decoder parts).
    Export(train_cmd::ExportArgs),
    /// Dataset tools (`data inspect <path|config>`).
    Data(data_cmd::DataArgs),
    /// Convert released TorchScript (.jit) or torch.save (.pt) weights to safetensors,
    /// without running pickle code.
    Convert(convert_cmd::ConvertArgs),
    /// Download, check, convert and place weights: vgg16 (perceptual loss), lpips (LPIPS
    /// heads), or a released model (e.g. Cosmos-Tokenize1-CV8x8x8-720p) → weights/
    Fetch(fetch_cmd::FetchArgs),
    /// Check a GPU device against Flex: the same weights and batch through encode, decode and
    /// one training step; prints the errors per stage and fails beyond tolerance.
    CheckDevice(check_device::CheckDeviceArgs),
    /// Time one training step (and encode / decode) of a CV8x8x8-structured model on a device;
    /// prints JSON (the benchmark of scripts/bench_train_step.sh and scripts/gpu_check.sh).
    BenchStep(bench_cmd::BenchStepArgs),
}

fn main() {
    // burn's default device is the first GPU backend compiled in (CUDA in a `cuda` build), and
    // burn-optim restores optimizer state onto it (`ModuleOptimizer::load_record`; the state
    // moves to each parameter's device at the next step). Every tensor cosmotok makes names its
    // device, so the default only serves such loads: Flex keeps them in host memory and keeps a
    // `cuda` build resuming on Flex or wgpu from opening CUDA, which panics where there is no
    // NVIDIA driver. An explicit BURN_DEVICE is respected.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: first statement of main, before any thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,video=warn")),
        )
        .with_writer(|| log_sink::Sink)
        .init();
    let tuned = cosmotok_train::memory::keep_freed_memory();
    tracing::debug!("glibc malloc keeps freed memory: {tuned}");
    let cli = Cli::parse();
    // The whole command runs on a thread of rayon's pool, so that parallel ops start where
    // they are called instead of waking the pool and sleeping (cosmotok_kernels::pool::in_pool).
    let result = cosmotok_kernels::pool::in_pool(|| match &cli.command {
        Command::Encode(a) => codec::encode(a),
        Command::Decode(a) => codec::decode(a),
        Command::Reconstruct(a) => codec::reconstruct(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Presets { write_configs } => presets(write_configs.as_deref()),
        Command::Train(a) => train_cmd::train(a),
        Command::Finetune(a) => train_cmd::finetune(a),
        Command::Eval(a) => train_cmd::eval(a),
        Command::Export(a) => train_cmd::export(a),
        Command::Data(a) => data_cmd::run(a),
        Command::Convert(a) => convert_cmd::run(a),
        Command::Fetch(a) => fetch_cmd::run(a),
        Command::CheckDevice(a) => check_device::run_cmd(a),
        Command::BenchStep(a) => bench_cmd::run(a),
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn presets(write_configs: Option<&std::path::Path>) -> anyhow::Result<()> {
    for p in cosmotok_model::presets::all() {
        println!("{:<36} {}", p.name, inspect::describe(&p));
        if let Some(dir) = write_configs {
            #[derive(serde::Serialize)]
            struct File<'a> {
                model: &'a cosmotok_model::TokenizerConfig,
            }
            std::fs::create_dir_all(dir)?;
            let text = format!(
                "# {} — {}\n# Use as `[model] preset = \"{}\"` in a recipe, or copy this table.\n{}",
                p.name,
                inspect::describe(&p),
                p.name,
                toml::to_string_pretty(&File { model: &p })?
            );
            std::fs::write(dir.join(format!("{}.toml", p.name)), text)?;
        }
    }
    Ok(())
}
