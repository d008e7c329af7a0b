//! The training configuration: one TOML file (`configs/recipes/*.toml`) with the tables
//! `[run]`, `[model]`, `[data]`, `[loss]`, `[optim]`, `[ema]`, `[finetune]`, `[guard]` and
//! `[eval]`. Unknown keys are errors that name the key; `--set a.b=c` overrides any value.
//!
//! `[model]` is either a full [`TokenizerConfig`] or `preset = "<name>"` plus the fields that
//! differ from the preset (e.g. a narrower `channels` for a quick run).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cosmotok_model::{TokenizerConfig, presets};
use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::precision::Precision;
use cosmotok_losses::LossConfig;

/// The whole training configuration, as resolved (the `[model]` preset expanded).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default)]
    pub run: RunConfig,
    pub model: TokenizerConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    #[serde(default)]
    pub ema: EmaConfig,
    #[serde(default)]
    pub finetune: FinetuneConfig,
    #[serde(default)]
    pub guard: GuardConfig,
    #[serde(default)]
    pub eval: EvalConfig,
}

/// `[run]`: where outputs go, how long to train and how often to log, evaluate and save.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Run name (used in logs).
    pub name: String,
    /// Run directory: checkpoints, `metrics.jsonl`, grids, exports.
    pub out_dir: PathBuf,
    /// Seed of model init, VAE sampling and (unless `[data] seed` is set) the data order.
    pub seed: u64,
    /// Number of optimizer steps (iterations) to train.
    pub iterations: u64,
    /// Micro-batches per optimizer step (gradient accumulation).
    pub grad_accum: usize,
    pub log_every: u64,
    /// Save a checkpoint every N steps (and always at the end, and on Ctrl-C or SIGTERM).
    pub checkpoint_every: u64,
    /// Keep the newest K checkpoints (older ones are deleted after a successful save).
    pub keep_last: usize,
    /// `flex` (CPU), `wgpu` or `cuda`.
    pub device: String,
    /// Data-parallel replicas on one node, e.g. `["cuda:0", "cuda:1"]` or, to test on CPU,
    /// `["flex", "flex"]`: each micro-batch is split evenly across them, gradients are
    /// averaged (all-reduce mean) on `device`, and one optimizer step updates the weights.
    pub devices: Vec<String>,
    /// `f32`, `bf16-mixed` (f32 master weights, bf16 forward/backward) or `bf16` (see
    /// [`crate::precision`]).
    pub precision: Precision,
    /// Activation checkpointing: the encoder becomes a recomputed segment (its activations are
    /// never alive together with the decoder's) and burn-autodiff's balanced checkpointing
    /// recomputes the element-wise activations inside each segment; same gradients, less
    /// memory, one more encoder forward per step (see `trainer::recon_pass`).
    pub activation_checkpointing: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            name: "run".into(),
            out_dir: PathBuf::from("checkpoints/run"),
            seed: 1234,
            iterations: 1000,
            grad_accum: 1,
            log_every: 10,
            checkpoint_every: 500,
            keep_last: 3,
            device: "flex".into(),
            devices: Vec::new(),
            precision: Precision::F32,
            activation_checkpointing: false,
        }
    }
}

/// Learning-rate schedule after the linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    Constant,
    Cosine,
}

/// `[optim]`: AdamW with docs/architecture.md §9.2 defaults, warm-up, schedule and global-norm
/// clipping.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
    /// Linear warm-up steps (from 0 to `lr`).
    pub warmup: u64,
    pub schedule: LrSchedule,
    /// Final learning rate of the cosine schedule.
    pub min_lr: f64,
    /// Length of the cosine decay after warm-up (default: the rest of the run).
    pub decay_steps: Option<u64>,
    /// Clip the global L2 norm of all gradients to this value (0 disables).
    pub clip_grad_norm: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-4,
            betas: [0.5, 0.999],
            eps: 1e-8,
            weight_decay: 0.01,
            warmup: 5000,
            schedule: LrSchedule::Constant,
            min_lr: 1e-8,
            decay_steps: None,
            clip_grad_norm: 1.0,
        }
    }
}

/// `[ema]`: exponential moving average of the weights (kept in f32).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmaConfig {
    pub enabled: bool,
    pub beta: f64,
    /// Steps before the EMA starts; until then it is a copy of the weights.
    pub start: u64,
    /// Evaluate and export the EMA weights (instead of the raw ones).
    pub use_for_eval: bool,
}

impl Default for EmaConfig {
    fn default() -> Self {
        EmaConfig {
            enabled: true,
            beta: 0.9999,
            start: 0,
            use_for_eval: true,
        }
    }
}

/// Which parameters a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrainMode {
    /// Everything.
    #[default]
    Full,
    /// `decoder.*` and `post_quant_conv.*` only: the latent space stays exactly the same.
    DecoderOnly,
    /// Everything but `encoder.*`.
    EncoderFrozen,
}

/// `[finetune]`: start from released (or any safetensors) weights.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// Safetensors checkpoint with official keys, or a cosmotok checkpoint directory, or a run
    /// directory (its newest checkpoint; EMA weights when it has them). Tensors whose shapes
    /// differ from the model (a new compression ratio) are re-initialised and reported.
    pub from: Option<PathBuf>,
    pub mode: TrainMode,
    /// From this step on, train every parameter: `mode = "decoder_only"` with
    /// `unfreeze_at = N` is the usual two-stage fine-tune (the decoder adapts to the new
    /// footage under the released latent space first, then everything) in one resumable run.
    pub unfreeze_at: Option<u64>,
}

impl FinetuneConfig {
    /// The fine-tuning mode of step `step`.
    pub fn mode_at(&self, step: u64) -> TrainMode {
        match self.unfreeze_at {
            Some(n) if step >= n => TrainMode::Full,
            _ => self.mode,
        }
    }
}

/// `[guard]`: what to do with non-finite losses or gradients.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// After this many non-finite steps in a row, roll back to the last checkpoint.
    pub max_bad_steps: u32,
    /// Multiply the learning rate by this factor at each roll-back.
    pub lr_factor: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_bad_steps: 5,
            lr_factor: 0.5,
        }
    }
}

/// `[eval]`: in-loop validation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Validate every N steps (0: only at the end).
    pub every: u64,
    /// Evaluate at most this many clips.
    pub max_clips: usize,
    /// Write a PNG grid (input | reconstruction | error) of this many clips per evaluation.
    pub grids: usize,
    /// Also write side-by-side mp4s (input | reconstruction) of the grid clips under
    /// `<run>/videos/step_N/` (needs the `video` feature).
    pub videos: bool,
    /// LPIPS too (TokenBench's third metric): torchvision's VGG-16 (`scripts/convert_vgg16.py`,
    /// or `cosmotok fetch vgg16`) and the lpips v0.1 heads (`cosmotok fetch lpips`). Both or
    /// neither.
    pub lpips_vgg: Option<PathBuf>,
    pub lpips_lin: Option<PathBuf>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            every: 500,
            max_clips: 8,
            grids: 2,
            videos: false,
            lpips_vgg: None,
            lpips_lin: None,
        }
    }
}

impl EvalConfig {
    /// The LPIPS network of `lpips_vgg` / `lpips_lin`, when set.
    pub fn lpips(&self, device: &burn::prelude::Device) -> Result<Option<cosmotok_losses::Lpips>> {
        crate::eval::load_lpips(self.lpips_vgg.as_deref(), self.lpips_lin.as_deref(), device)
            .context("[eval] lpips_vgg / lpips_lin")
    }
}

/// Reads a training TOML, applies `--set` overrides, expands the model preset and validates.
pub fn load(path: &Path, overrides: &[String]) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the training config `{}`", path.display()))?;
    let mut value: toml::Table =
        toml::from_str(&text).with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    for o in overrides {
        apply_override(&mut value, o)?;
    }
    from_table(value).with_context(|| format!("in `{}`", path.display()))
}

/// Builds the config from a TOML table (the file content after overrides).
pub fn from_table(mut value: toml::Table) -> Result<TrainConfig> {
    if let Some(toml::Value::Table(model)) = value.get_mut("model") {
        expand_preset(model)?;
    }
    let cfg: TrainConfig = toml::Value::Table(value)
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message().trim()))?;
    cfg.validate()?;
    Ok(cfg)
}

/// `preset = "name"` → the preset's fields, overridden by the other keys of the table.
fn expand_preset(model: &mut toml::Table) -> Result<()> {
    let Some(preset) = model.remove("preset") else {
        return Ok(());
    };
    let name = preset
        .as_str()
        .context("[model] preset must be a string (a preset name)")?;
    let cfg = presets::by_name(name).with_context(|| {
        format!(
            "[model] preset = `{name}` is not a known preset; presets: {}",
            presets::names().join(", ")
        )
    })?;
    let mut base = toml::Table::try_from(&cfg).context("serialising the preset")?;
    for (k, v) in std::mem::take(model) {
        base.insert(k, v);
    }
    if !model_name_overridden(&base, &cfg) {
        base.insert(
            "name".into(),
            toml::Value::String(format!("{name} (modified)")),
        );
    }
    *model = base;
    Ok(())
}

fn model_name_overridden(base: &toml::Table, preset: &TokenizerConfig) -> bool {
    // Unmodified preset: keep its name. Any changed field marks the model as modified.
    match toml::Value::Table(base.clone()).try_into::<TokenizerConfig>() {
        Ok(c) => c == *preset || c.name != preset.name,
        Err(_) => true, // the error surfaces when the whole config is parsed
    }
}

/// `a.b.c=value`: the value is parsed as TOML (number, bool, array, inline table), falling back
/// to a string.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<()> {
    let Some((key, raw)) = spec.split_once('=') else {
        bail!("--set `{spec}`: expected `section.key=value`");
    };
    let key = key.trim();
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set `{spec}`: empty key segment in `{key}`");
    }
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .with_context(|| format!("--set `{spec}`: `{p}` is not a table"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

impl TrainConfig {
    /// Checks the values that serde cannot: model architecture, clip length against the
    /// model's temporal compression, crop sizes against its spatial compression.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.finetune.unfreeze_at.is_some() && self.finetune.mode == TrainMode::Full {
            bail!(
                "[finetune] unfreeze_at = {}: mode is already \"full\" (unfreeze_at ends a \
                 decoder_only or encoder_frozen stage)",
                self.finetune.unfreeze_at.unwrap_or_default()
            );
        }
        if self.run.iterations == 0 {
            bail!("[run] iterations = 0: expected at least 1");
        }
        if self.run.grad_accum == 0 {
            bail!("[run] grad_accum = 0: expected at least 1");
        }
        if self.run.checkpoint_every == 0 {
            bail!("[run] checkpoint_every = 0: expected at least 1");
        }
        if self.run.keep_last == 0 {
            bail!("[run] keep_last = 0: expected at least 1");
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            bail!("[optim] lr = {}: expected a positive number", self.optim.lr);
        }
        for (i, b) in self.optim.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                bail!("[optim] betas[{i}] = {b}: expected a value in [0, 1)");
            }
        }
        if self.optim.clip_grad_norm < 0.0 {
            bail!(
                "[optim] clip_grad_norm = {}: expected ≥ 0 (0 disables clipping)",
                self.optim.clip_grad_norm
            );
        }
        if !(0.0..=1.0).contains(&self.ema.beta) {
            bail!("[ema] beta = {}: expected a value in [0, 1]", self.ema.beta);
        }
        if !(self.guard.lr_factor > 0.0 && self.guard.lr_factor <= 1.0) {
            bail!(
                "[guard] lr_factor = {}: expected (0, 1]",
                self.guard.lr_factor
            );
        }
        self.loss
            .validate()
            .map_err(|e| anyhow::anyhow!("[loss] {e}"))?;
        if self.run.devices.len() > 1 {
            let n = self.run.devices.len();
            if !self.data.batch_size.is_multiple_of(n) {
                bail!(
                    "[data] batch_size = {}: data parallelism over {n} devices needs a multiple of {n}",
                    self.data.batch_size
                );
            }
            if self.loss.adversarial.enabled {
                bail!(
                    "[run] devices: the adversarial stage runs on one device; set \
                     [loss.adversarial] enabled = false or use a single device"
                );
            }
        }
        self.data.validate(
            self.model.temporal_compression,
            self.model.spatial_compression,
        )?;
        Ok(())
    }

    /// The config as TOML (stored in every checkpoint and the run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serialises to TOML")
    }
}
