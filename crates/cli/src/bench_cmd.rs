//! `cosmotok bench-step`: the training-step benchmark of `cosmotok_train::bench` (what
//! `scripts/gpu_check.sh` runs on a GPU machine, beside `scripts/bench_train_step.py`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use cosmotok_train::Precision;
use cosmotok_train::bench::{BenchStep, train_step};

#[derive(Args, Debug)]
pub struct BenchStepArgs {
    /// Device name (flex, wgpu[:N|:cpu], cuda[:N]).
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// f32, bf16-mixed or bf16.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// Balanced gradient checkpointing.
    #[arg(long)]
    pub checkpointing: bool,
    /// Base width of the CV8x8x8-structured model (128 is the released model's).
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    #[arg(long, default_value_t = 17)]
    pub frames: usize,
    #[arg(long, default_value_t = 64)]
    pub height: usize,
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// VGG-16 weights (torchvision key names), e.g. from `scripts/bench_train_step.py --write-vgg`.
    #[arg(long, default_value = "target/bench/vgg16_random.safetensors")]
    pub vgg: PathBuf,
    /// Weight of the perceptual term (0: L1 only, no VGG).
    #[arg(long, default_value_t = 0.1)]
    pub perceptual: f64,
    /// Frame folder the clips are cut from.
    #[arg(long, default_value = "assets/media/frames/episode_000")]
    pub clip_dir: PathBuf,
    /// Time the training step only (no encode / decode afterwards; their medians are then
    /// null): the run's last kernels are the last timed step's, for a kernel profile.
    #[arg(long)]
    pub train_only: bool,
}

pub fn run(a: &BenchStepArgs) -> Result<()> {
    let report = train_step(&BenchStep {
        device: a.device.clone(),
        precision: a.precision,
        checkpointing: a.checkpointing,
        channels: a.channels,
        frames: a.frames,
        height: a.height,
        width: a.width,
        batch: a.batch,
        warmup: a.warmup,
        steps: a.steps,
        vgg: a.vgg.clone(),
        perceptual: a.perceptual,
        cpu_vgg: true,
        clip_dir: a.clip_dir.clone(),
        infer: !a.train_only,
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
