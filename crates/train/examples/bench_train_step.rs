//! Times one full training step of the generator on Flex (CPU): forward, L1 + VGG-16
//! perceptual loss, backward, global-norm clipping, AdamW and the EMA update — the
//! `Trainer::step` that `cosmotok train` runs. Also times encode and decode (no autodiff) of
//! the same model. Issue #5's benchmark; the PyTorch side is `scripts/bench_train_step.py`,
//! both are run by `scripts/bench_train_step.sh`.
//!
//! ```text
//! cargo run -p cosmotok-train --example bench_train_step -- \
//!     --channels 8 --frames 17 --height 64 --width 64 --batch 1 \
//!     --warmup 2 --steps 5 --vgg target/bench/vgg16_random.safetensors
//! ```
//!
//! Model: the `Cosmos-1.0-Tokenizer-CV8x8x8` structure (channels_mult [2,4,4], 2 res blocks,
//! patch 4, z 16, unused sampler convs dropped) with `--channels` as the base width.
//! Clips: random crops of the bundled frame folder `assets/media/frames/episode_000`.
//! Prints one JSON object (seconds per step, peak RSS from `/proc/self/status` VmHWM).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::prelude::*;
use cosmotok_model::Tokenizer;
use cosmotok_model::pool::in_pool;
use cosmotok_train::{Trainer, TrainerOptions, trainer::Resume};

/// Command-line arguments (`--name value` pairs).
struct Args {
    channels: usize,
    frames: usize,
    height: usize,
    width: usize,
    batch: usize,
    warmup: usize,
    steps: usize,
    vgg: PathBuf,
    perceptual: f64,
    /// `[loss] cpu_vgg` (1: CpuVgg, 0: burn autodiff).
    cpu_vgg: bool,
    /// Tune glibc malloc as `cosmotok` does (1) or leave it alone (0).
    keep_freed_memory: bool,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut a = Args {
            channels: 8,
            frames: 17,
            height: 64,
            width: 64,
            batch: 1,
            warmup: 2,
            steps: 5,
            vgg: PathBuf::from("target/bench/vgg16_random.safetensors"),
            perceptual: 0.1,
            cpu_vgg: true,
            keep_freed_memory: true,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        for pair in argv.chunks(2) {
            let [name, value] = pair else {
                bail!("argument `{}` has no value", pair[0]);
            };
            let num = || -> Result<usize> {
                value
                    .parse()
                    .with_context(|| format!("{name} = `{value}`: expected a whole number"))
            };
            match name.as_str() {
                "--channels" => a.channels = num()?,
                "--frames" => a.frames = num()?,
                "--height" => a.height = num()?,
                "--width" => a.width = num()?,
                "--batch" => a.batch = num()?,
                "--warmup" => a.warmup = num()?,
                "--steps" => a.steps = num()?,
                "--vgg" => a.vgg = PathBuf::from(value),
                "--cpu-vgg" => a.cpu_vgg = num()? != 0,
                "--keep-freed-memory" => a.keep_freed_memory = num()? != 0,
                "--perceptual" => {
                    a.perceptual = value
                        .parse()
                        .with_context(|| format!("--perceptual = `{value}`: expected a number"))?
                }
                other => bail!(
                    "unknown argument `{other}` (expected --channels --frames --height --width \
                     --batch --warmup --steps --vgg --perceptual --cpu-vgg --keep-freed-memory)"
                ),
            }
        }
        if a.steps == 0 {
            bail!("--steps must be at least 1");
        }
        Ok(a)
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `[data]` table: random `--height`×`--width` crops of the 256×192 (4:3) frames at their
/// native size (one custom bucket, no resize), as `scripts/bench_train_step.py` does.
fn data_table(a: &Args) -> Result<toml::Table> {
    let frames = repo().join("assets/media/frames/episode_000");
    let text = format!(
        r#"
sources = [{{ path = "{frames}" }}]
eval_sources = [{{ path = "{frames}" }}]
num_frames = {t}
buckets = [{{ ratio = "4:3", resize = [256, 192], crop = [{w}, {h}] }}]
batch_size = {b}
seed = 3
"#,
        frames = frames.display(),
        t = a.frames,
        h = a.height,
        w = a.width,
        b = a.batch
    );
    Ok(toml::from_str(&text)?)
}

/// The whole training config: CV8x8x8 structure at `--channels`, L1 + 0.1 × perceptual,
/// AdamW (lr 1e-4, betas (0.5, 0.999), wd 0.01, no warm-up), clipping 1.0, EMA 0.9999.
fn train_config(a: &Args, out: &std::path::Path) -> Result<cosmotok_train::TrainConfig> {
    // `{:?}` keeps the decimal point (TOML `0.0`, not the integer `0`).
    let perc = format!("{:?}", a.perceptual);
    let text = format!(
        r#"
[run]
out_dir = "{out}"
seed = 7
iterations = 1000000
log_every = 1000000
checkpoint_every = 1000000

[model]
preset = "Cosmos-1.0-Tokenizer-CV8x8x8"
channels = {channels}

[optim]
lr = 1e-4
betas = [0.5, 0.999]
weight_decay = 0.01
warmup = 0
clip_grad_norm = 1.0

[ema]
beta = 0.9999

[loss]
pixel = "l1"
pixel_weight = 1.0
perceptual_weight = {perc}
gram_weight = 0.0
vgg_weights = "{vgg}"
cpu_vgg = {cpu_vgg}

[eval]
every = 0
grids = 0
"#,
        out = out.display(),
        channels = a.channels,
        vgg = a.vgg.display(),
        cpu_vgg = a.cpu_vgg
    );
    let mut table: toml::Table = toml::from_str(&text)?;
    table.insert("data".into(), toml::Value::Table(data_table(a)?));
    cosmotok_train::config::from_table(table)
}

/// Peak resident set size of this process in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let (_, peak) = cosmotok_train::memory::process_rss()?;
    Some(peak as f64 / (1024.0 * 1024.0))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn main() -> Result<()> {
    let a = Args::parse()?;
    // As `cosmotok` does at start-up (crates/cli/src/main.rs).
    let malloc_tuned = a.keep_freed_memory && cosmotok_train::memory::keep_freed_memory();
    let out = std::env::temp_dir().join(format!("cosmotok_bench_train_{}", std::process::id()));
    let cfg = train_config(&a, &out)?;
    let t0 = Instant::now();
    let mut trainer = Trainer::new(
        cfg,
        TrainerOptions {
            resume: Resume::Never,
            quiet: true,
        },
    )?;
    let build_s = t0.elapsed().as_secs_f64();
    let num_params = trainer.model.num_params();

    let mut losses = Vec::new();
    for _ in 0..a.warmup {
        losses.push(in_pool(|| trainer.step())?.loss);
    }
    let mut times = Vec::new();
    for _ in 0..a.steps {
        let t = Instant::now();
        let s = in_pool(|| trainer.step())?;
        times.push(t.elapsed().as_secs_f64());
        losses.push(s.loss);
    }
    let peak_train = peak_rss_mib();

    // Encode / decode of the same model without autodiff, on a clip of the same shape.
    let dev = Device::flex();
    let model: Tokenizer = trainer.model.valid();
    let shape = [a.batch, 3, a.frames, a.height, a.width];
    let x = Tensor::<5>::random(shape, burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
    let (mut enc_t, mut dec_t) = (Vec::new(), Vec::new());
    for i in 0..(a.warmup + a.steps) {
        let t = Instant::now();
        // On the pool's threads, as the `cosmotok` binary runs every command.
        let z = in_pool(|| model.encode(x.clone()).latent);
        let z = Tensor::<5>::from_data(z.into_data(), &dev);
        let te = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = in_pool(|| model.decode(z).into_data());
        let td = t.elapsed().as_secs_f64();
        if i >= a.warmup {
            enc_t.push(te);
            dec_t.push(td);
        }
    }
    let _ = std::fs::remove_dir_all(&out);

    let report = serde_json::json!({
        "impl": "cosmotok",
        "backend": "burn 0.22.1 Flex (CPU)",
        "model": "Cosmos-1.0-Tokenizer-CV8x8x8 structure",
        "channels": a.channels,
        "input": shape,
        "num_params": num_params,
        "loss": format!("L1 + {} x VGG16 perceptual", a.perceptual),
        "warmup_steps": a.warmup,
        "timed_steps": a.steps,
        "build_s": build_s,
        "step_s": times,
        "step_mean_s": mean(&times),
        "step_median_s": median(&times),
        "encode_median_s": median(&enc_t),
        "decode_median_s": median(&dec_t),
        "losses": losses,
        "peak_rss_train_mib": peak_train,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_vgg": a.cpu_vgg,
        "malloc_keeps_freed_memory": malloc_tuned,
    });
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
