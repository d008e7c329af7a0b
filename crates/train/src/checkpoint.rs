//! Training checkpoints: one directory per step under `<run>/checkpoints/step_NNNNNNNN/`,
//! written atomically — every file goes into a scratch directory `.tmp-step_…`, is fsynced,
//! and the directory is renamed into place (then the parent is fsynced). A crash at any point
//! leaves the previous checkpoints intact; scratch directories are ignored and cleaned up.
//! After a successful save only the newest `keep_last` checkpoints are kept. What a checkpoint
//! holds is [`Contents`] (written by [`Checkpoints::save_contents`], read by [`read`]).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use cosmotok_losses::Discriminator;
use cosmotok_model::Tokenizer;
use cosmotok_model::weights::sync_dir;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::LoaderPosition;

const PREFIX: &str = "step_";
const TMP_PREFIX: &str = ".tmp-";
/// The file that completes a checkpoint (written last, so its presence means "complete").
pub const STATE_FILE: &str = "state.json";

/// The checkpoints of one run directory.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Checkpoints {
        Checkpoints {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the checkpoint of `step`.
    pub fn path(&self, step: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{step:08}"))
    }

    /// Complete checkpoints, oldest first.
    pub fn list(&self) -> Vec<(u64, PathBuf)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, PathBuf)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let step = name.strip_prefix(PREFIX)?.parse::<u64>().ok()?;
                let p = e.path();
                p.join(STATE_FILE).is_file().then_some((step, p))
            })
            .collect();
        v.sort();
        v
    }

    /// The newest complete checkpoint.
    pub fn latest(&self) -> Option<(u64, PathBuf)> {
        self.list().pop()
    }

    /// Writes a checkpoint: `write` fills the scratch directory (it must write [`STATE_FILE`]
    /// last or not at all — this function checks it exists), then the directory is published
    /// atomically. On error nothing is published and the scratch directory is removed.
    pub fn save(
        &self,
        step: u64,
        keep_last: usize,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create `{}`", self.dir.display()))?;
        let final_dir = self.path(step);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{PREFIX}{step:08}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ok();
        }
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
        let result = write(&tmp).and_then(|_| {
            if !tmp.join(STATE_FILE).is_file() {
                bail!("checkpoint writer did not write {STATE_FILE}");
            }
            sync_dir_files(&tmp)
        });
        if let Err(e) = result {
            fs::remove_dir_all(&tmp).ok();
            return Err(e.context(format!("checkpoint of step {step} not saved")));
        }
        if final_dir.exists() {
            // Re-saving the same step (e.g. after a roll-back): replace it.
            fs::remove_dir_all(&final_dir)
                .with_context(|| format!("cannot replace `{}`", final_dir.display()))?;
        }
        fs::rename(&tmp, &final_dir).with_context(|| {
            format!(
                "cannot rename `{}` to `{}`",
                tmp.display(),
                final_dir.display()
            )
        })?;
        sync_dir(&self.dir);
        self.prune(keep_last);
        Ok(final_dir)
    }

    /// Deletes all but the newest `keep_last` complete checkpoints, and stale scratch dirs.
    pub fn prune(&self, keep_last: usize) {
        let list = self.list();
        if list.len() > keep_last {
            for (_, p) in &list[..list.len() - keep_last] {
                fs::remove_dir_all(p).ok();
            }
        }
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    fs::remove_dir_all(e.path()).ok();
                }
            }
        }
    }
}

/// Writes `bytes` to `path` atomically and durably
/// ([`cosmotok_model::weights::write_file_atomic`]), naming the file in an error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    cosmotok_model::weights::write_file_atomic(path, bytes)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn sync_dir_files(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        if e.path().is_file() {
            fs::File::open(e.path())
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync `{}`", e.path().display()))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Everything about the run's progress that is not a tensor (saved as [`STATE_FILE`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Optimizer steps done.
    pub step: u64,
    /// Learning-rate multiplier (lowered by each roll-back).
    pub lr_scale: f64,
    /// Non-finite steps in a row.
    pub bad_in_row: u32,
    /// Steps skipped because the loss or a gradient was not finite.
    pub skipped_steps: u64,
    pub rollbacks: u32,
    /// Position of the next training batch.
    pub loader: LoaderPosition,
    pub samples_seen: u64,
    /// LeCam EMAs of the mean discriminator outputs on real and fake clips.
    #[serde(default)]
    pub lecam: Option<(f64, f64)>,
}

/// The files of a checkpoint directory.
const MODEL_FILE: &str = "model.bpk";
const OPTIM_FILE: &str = "optim.bpk";
const EMA_FILE: &str = "ema.bpk";
const DISC_FILE: &str = "disc.bpk";
const OPTIM_D_FILE: &str = "optim_d.bpk";
const CONFIG_FILE: &str = "config.toml";

/// What a checkpoint holds: the weights (f32), the AdamW state (its moments are keyed by
/// parameter id, which the module files keep), the EMA weights, the discriminator and its
/// AdamW in the adversarial stage, the resolved config and the [`TrainState`] (step,
/// learning-rate scale, guard counters, data-loader position, LeCam EMAs). Written as
/// `model.bpk`, `optim.bpk`, `ema.bpk`, `disc.bpk`, `optim_d.bpk`, `config.toml` and, last,
/// `state.json`.
pub struct Contents<'a> {
    pub model: Tokenizer,
    pub optim: &'a ModuleOptimizer,
    pub ema: Option<&'a Tokenizer>,
    pub disc: Option<(&'a Discriminator, &'a ModuleOptimizer)>,
    pub config: String,
    pub state: &'a TrainState,
}

/// What [`read`] gives back; the caller rebuilds its optimizers from the records.
pub struct Restored {
    pub model: Tokenizer,
    pub optim: OptimizerRecord,
    /// `None` when the checkpoint has no EMA file (the EMA restarts from the weights).
    pub ema: Option<Tokenizer>,
    /// `None` before the adversarial stage saved a discriminator.
    pub disc: Option<(Discriminator, OptimizerRecord)>,
    pub state: TrainState,
}

impl Checkpoints {
    /// Saves `c` as the checkpoint of `c.state.step` (atomic; keeps the newest `keep_last`).
    pub fn save_contents(&self, keep_last: usize, c: Contents<'_>) -> Result<PathBuf> {
        let state = serde_json::to_vec_pretty(c.state)?;
        self.save(c.state.step, keep_last, |dir| {
            let err = |what: &str, e: &dyn std::fmt::Display| {
                anyhow::anyhow!("cannot write the {what} of the checkpoint: {e}")
            };
            c.model
                .save_file(dir.join(MODEL_FILE))
                .map_err(|e| err("model", &e))?;
            c.optim
                .to_record()
                .save(dir.join(OPTIM_FILE))
                .map_err(|e| err("optimizer state", &e))?;
            if let Some(ema) = c.ema {
                ema.clone()
                    .save_file(dir.join(EMA_FILE))
                    .map_err(|e| err("EMA", &e))?;
            }
            if let Some((disc, optim)) = c.disc {
                disc.clone()
                    .save_file(dir.join(DISC_FILE))
                    .map_err(|e| err("discriminator", &e))?;
                optim
                    .to_record()
                    .save(dir.join(OPTIM_D_FILE))
                    .map_err(|e| err("discriminator optimizer state", &e))?;
            }
            fs::write(dir.join(CONFIG_FILE), &c.config)?;
            fs::write(dir.join(STATE_FILE), &state)?;
            Ok(())
        })
    }
}

/// Reads the checkpoint in `dir` for a run of `cfg`: the model on `device` (autodiff), the EMA
/// on `base`, the discriminator on `device` when the run has an adversarial stage and the
/// checkpoint one. Loading a module file restores the parameter ids, which key the optimizer
/// records. The optimizer state is materialised on burn's default device (burn-optim's
/// `load_record`) and moves to the parameters' device at the next step: in a build with `cuda`
/// that default is CUDA, so a program resuming elsewhere sets `BURN_DEVICE=flex` first (the
/// `cosmotok` CLI does).
pub fn read(dir: &Path, cfg: &TrainConfig, device: &Device, base: &Device) -> Result<Restored> {
    let ctx = |what: &str| format!("checkpoint `{}`: cannot load the {what}", dir.display());
    let state: TrainState =
        serde_json::from_slice(&fs::read(dir.join(STATE_FILE)).with_context(|| ctx(STATE_FILE))?)
            .with_context(|| ctx(STATE_FILE))?;
    let model = Tokenizer::new(&cfg.model, device)?
        .try_load_file(dir.join(MODEL_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| ctx("model (model.bpk)"))?;
    let optim = OptimizerRecord::load(dir.join(OPTIM_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| ctx("optimizer state (optim.bpk)"))?;
    let ema_path = dir.join(EMA_FILE);
    let ema = if cfg.ema.enabled && ema_path.is_file() {
        Some(
            Tokenizer::new(&cfg.model, base)?
                .try_load_file(&ema_path)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| ctx("EMA (ema.bpk)"))?,
        )
    } else {
        None
    };
    let disc_path = dir.join(DISC_FILE);
    let disc = if cfg.loss.adversarial.enabled && disc_path.is_file() {
        let disc = Discriminator::new(&cfg.loss.adversarial, device)
            .try_load_file(&disc_path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| ctx("discriminator (disc.bpk)"))?;
        let record = OptimizerRecord::load(dir.join(OPTIM_D_FILE))
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| ctx("discriminator optimizer (optim_d.bpk)"))?;
        Some((disc, record))
    } else {
        None
    };
    Ok(Restored {
        model,
        optim,
        ema,
        disc,
        state,
    })
}
