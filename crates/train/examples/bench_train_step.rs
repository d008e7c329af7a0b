//! Times one full training step (`cosmotok_train::bench`): forward, L1 + VGG-16 perceptual
//! loss, backward, global-norm clipping, AdamW and the EMA update, plus encode and decode.
//! Issue #5's benchmark on CPU; `scripts/bench_train_step.sh` runs it beside PyTorch's
//! `scripts/bench_train_step.py`. `cosmotok bench-step` is the same benchmark in the CLI (what
//! `scripts/gpu_check.sh` runs on a GPU).
//!
//! ```text
//! cargo run -p cosmotok-train --example bench_train_step -- \
//!     --channels 8 --frames 17 --height 64 --width 64 --batch 1 \
//!     --warmup 2 --steps 5 --vgg target/bench/vgg16_random.safetensors
//! ```
//!
//! Also `--device flex|wgpu|cuda`, `--precision f32|bf16-mixed|bf16`, `--checkpointing 0|1`,
//! `--cpu-vgg 0|1`, `--keep-freed-memory 0|1`. Prints one JSON object.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cosmotok_train::bench::{BenchStep, train_step};

fn parse() -> Result<(BenchStep, bool)> {
    let mut a = BenchStep {
        clip_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../assets/media/frames/episode_000"),
        ..BenchStep::default()
    };
    let mut keep_freed = true;
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
            "--checkpointing" => a.checkpointing = num()? != 0,
            "--keep-freed-memory" => keep_freed = num()? != 0,
            "--device" => a.device = value.clone(),
            "--precision" => {
                a.precision = value
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--precision {e}"))?
            }
            "--perceptual" => {
                a.perceptual = value
                    .parse()
                    .with_context(|| format!("--perceptual = `{value}`: expected a number"))?
            }
            other => bail!(
                "unknown argument `{other}` (expected --channels --frames --height --width \
                 --batch --warmup --steps --vgg --perceptual --cpu-vgg --keep-freed-memory \
                 --device --precision --checkpointing)"
            ),
        }
    }
    Ok((a, keep_freed))
}

fn main() -> Result<()> {
    let (a, keep_freed) = parse()?;
    // As `cosmotok` does at start-up (crates/cli/src/main.rs).
    let tuned = keep_freed && cosmotok_train::memory::keep_freed_memory();
    let mut report = train_step(&a)?;
    report["malloc_keeps_freed_memory"] = tuned.into();
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
