//! cosmotok-train: the training loop, checkpoints, evaluation and export of cosmotok
//! tokenizers.
//!
//! * [`config`]: the training TOML (`configs/recipes/*.toml`) with `--set` overrides.
//! * [`trainer`]: iteration-based loop — AdamW, warm-up + schedule ([`lr`]), global-norm
//!   clipping ([`clip`]), gradient accumulation, EMA ([`ema`]), non-finite guard with
//!   roll-back, atomic checkpoints with exact resume ([`checkpoint`]).
//! * [`eval`] / [`metrics`]: PSNR and SSIM (TokenBench formulas), FSQ code statistics, PNG
//!   grids ([`grid`]); [`paired_eval`]: TokenBench's paired mode (folders of videos and
//!   reconstructions; PSNR, SSIM, LPIPS).
//! * [`logger`]: `metrics.jsonl` and the progress bar; [`dashboard`]: bar, burn-train's TUI or
//!   nothing; [`memory`]: GPU memory or process RSS
//!   in each log line.
//! * [`dataset`]: burn `Dataset`s in ([`dataset::BurnClips`]) and out ([`dataset::ClipDataset`]).
//! * [`device`]: device names (`flex`, `wgpu[:N|:integrated|:cpu]`, `cuda[:N]`).

pub mod bench;
pub mod checkpoint;
pub mod clip;
pub mod collective;
pub mod config;
pub mod dashboard;
pub mod data;
pub mod dataset;
pub mod device;
pub mod ema;
pub mod eval;
pub mod export;
pub mod grid;
pub mod logger;
pub mod lr;
pub mod memory;
pub mod metrics;
pub mod paired_eval;
pub mod precision;
pub mod trainer;

pub use config::TrainConfig;
pub use precision::Precision;
pub use trainer::{Resume, RunSummary, StepStats, TrainState, Trainer, TrainerOptions};
