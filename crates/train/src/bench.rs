//! The training-step benchmark (`scripts/bench_train_step.sh` on CPU, `scripts/gpu_check.sh`
//! on a GPU; `cosmotok bench-step` and `examples/bench_train_step.rs` run it): one full
//! generator step — forward, L1 + VGG-16 perceptual loss, backward, global-norm clipping,
//! AdamW and the EMA update, the [`Trainer::step`] that `cosmotok train` runs — of a
//! Cosmos-1.0-Tokenizer-CV8x8x8-structured tokenizer (channels_mult [2,4,4], 2 res blocks,
//! patch 4, z 16, unused sampler convs dropped) at base width `channels`, then encode and
//! decode (no autodiff) of the same model. Its PyTorch twin is `scripts/bench_train_step.py`.
//!
//! Clips: random crops of a frame folder (the bundled `assets/media/frames/episode_000`, 17
//! real 256×192 frames), resized to cover the crop when it is larger.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use cosmotok_kernels::pool::in_pool;
use cosmotok_model::Tokenizer;

use crate::precision::Precision;
use crate::trainer::{Resume, Trainer, TrainerOptions};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchStep {
    pub device: String,
    pub precision: Precision,
    pub checkpointing: bool,
    pub channels: usize,
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub batch: usize,
    pub warmup: usize,
    pub steps: usize,
    /// VGG-16 weights (torchvision names) for the perceptual term.
    pub vgg: PathBuf,
    /// Weight of the perceptual term (0 drops the VGG).
    pub perceptual: f64,
    /// `[loss] cpu_vgg` (Flex only).
    pub cpu_vgg: bool,
    /// The frame folder the clips are cut from.
    pub clip_dir: PathBuf,
    /// Also time encode and decode without autodiff after the training steps (off: the run
    /// ends with the last timed step, which is what a kernel profile of the step wants).
    pub infer: bool,
}

impl Default for BenchStep {
    fn default() -> Self {
        BenchStep {
            device: "flex".into(),
            precision: Precision::F32,
            checkpointing: false,
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
            clip_dir: PathBuf::from("assets/media/frames/episode_000"),
            infer: true,
        }
    }
}

/// The 4:3 size the 256×192 frames are resized to so that the crop fits (their own size when
/// it already does); the same rule as the PyTorch side's `cover_size`.
pub fn cover_size(height: usize, width: usize) -> [usize; 2] {
    let side = height.max(width).max(192);
    if side <= 192 && width <= 256 {
        return [256, 192];
    }
    [(side * 4).div_ceil(3), side]
}

fn train_config(a: &BenchStep, out: &Path) -> Result<crate::TrainConfig> {
    // `{:?}` keeps the decimal point (TOML `0.0`, not the integer `0`).
    let perc = format!("{:?}", a.perceptual);
    let [rw, rh] = cover_size(a.height, a.width);
    let text = format!(
        r#"
[run]
out_dir = "{out}"
seed = 7
iterations = 1000000
log_every = 1000000
checkpoint_every = 1000000
device = "{device}"
precision = "{precision}"
activation_checkpointing = {ckpt}

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

[data]
sources = [{{ path = "{frames}" }}]
eval_sources = [{{ path = "{frames}" }}]
num_frames = {t}
buckets = [{{ ratio = "4:3", resize = [{rw}, {rh}], crop = [{w}, {h}] }}]
batch_size = {b}
seed = 3
"#,
        out = out.display(),
        device = a.device,
        precision = a.precision,
        ckpt = a.checkpointing,
        channels = a.channels,
        vgg = a.vgg.display(),
        cpu_vgg = a.cpu_vgg,
        frames = a.clip_dir.display(),
        t = a.frames,
        h = a.height,
        w = a.width,
        b = a.batch
    );
    crate::config::from_table(toml::from_str(&text)?)
}

/// Peak resident set size of this process in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let (_, peak) = crate::memory::process_rss()?;
    Some(peak as f64 / (1024.0 * 1024.0))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Runs the benchmark; the report has the same keys as the PyTorch side's.
pub fn train_step(a: &BenchStep) -> Result<serde_json::Value> {
    // The device first: a build without its backend says so (scripts/gpu_check.sh asks).
    let dev = crate::device::parse(&a.device)?;
    anyhow::ensure!(a.steps >= 1, "bench: steps must be at least 1");
    anyhow::ensure!(
        a.clip_dir.is_dir(),
        "bench: clip folder `{}` not found (run from the repository root or pass its path)",
        a.clip_dir.display()
    );
    let out = std::env::temp_dir().join(format!("cosmotok_bench_train_{}", std::process::id()));
    let cfg = train_config(a, &out)?;
    let t0 = Instant::now();
    let mut trainer = Trainer::new(
        cfg,
        TrainerOptions {
            resume: Resume::Never,
            quiet: true,
            ..TrainerOptions::default()
        },
    )
    .context("bench: building the trainer")?;
    let build_s = t0.elapsed().as_secs_f64();
    let num_params = trainer.model.num_params();

    let mut losses = Vec::new();
    for _ in 0..a.warmup {
        losses.push(in_pool(|| trainer.step())?.loss);
    }
    let mut memory = crate::memory::MemoryProbe::new(&dev);
    memory.sample();
    let mut times = Vec::new();
    for _ in 0..a.steps {
        let t = Instant::now();
        let s = in_pool(|| trainer.step())?;
        // The update and the EMA are queued on a GPU: wait for them.
        let _ = dev.sync();
        times.push(t.elapsed().as_secs_f64());
        losses.push(s.loss);
        memory.sample();
    }
    let mem_train: serde_json::Map<String, serde_json::Value> = memory
        .sample()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    let peak_train = peak_rss_mib();

    // Encode / decode of the same model without autodiff, on a clip of the same shape.
    let model: Tokenizer = crate::precision::Precision::to_f32(trainer.model.valid());
    let compute = a.precision.compute_copy(&model);
    let shape = [a.batch, 3, a.frames, a.height, a.width];
    let x = Tensor::<5>::random(shape, burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev)
        .cast(a.precision.compute_dtype());
    let (mut enc_t, mut dec_t) = (Vec::new(), Vec::new());
    let infer_runs = if a.infer { a.warmup + a.steps } else { 0 };
    for i in 0..infer_runs {
        let t = Instant::now();
        let z = in_pool(|| compute.encode(x.clone()).latent);
        let _ = dev.sync();
        let te = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = in_pool(|| compute.decode(z));
        let _ = dev.sync();
        let td = t.elapsed().as_secs_f64();
        drop(r);
        if i >= a.warmup {
            enc_t.push(te);
            dec_t.push(td);
        }
    }
    let _ = std::fs::remove_dir_all(&out);

    let mut report = serde_json::json!({
        "impl": "cosmotok",
        "backend": format!("burn 0.22.1 {}", a.device),
        "device": a.device,
        "precision": a.precision.to_string(),
        "checkpointing": a.checkpointing,
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
    });
    if let Some(obj) = report.as_object_mut() {
        obj.extend(mem_train);
    }
    Ok(report)
}
