//! The iteration-based training loop: generator step (reconstruction losses, gradient
//! accumulation, global-norm clipping, AdamW, EMA), non-finite guard with roll-back,
//! checkpoints with exact resume, in-loop evaluation and logging.
//!
//! Determinism: every random draw of a step comes from the backend RNG seeded with
//! `(run seed, step)` at the start of the step, and the data order is a function of the loader
//! position stored in the checkpoint, so a resumed run repeats an uninterrupted one exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{DType, GradientCheckpointingStrategy};
use cosmotok_losses::{
    Discriminator, LeCam, ReconLoss, adaptive_weight_tensors, d_loss, g_loss, r1_penalty,
};
use cosmotok_model::weights::{self, MatchReport};
use cosmotok_model::{Formulation, Tokenizer, params};

pub use crate::checkpoint::TrainState;
use crate::checkpoint::{Checkpoints, Contents, write_atomic};
use crate::clip::{clip_global_norm, scale_grads};
use crate::collective::{Collective, all_reduce_mean};
use crate::config::{TrainConfig, TrainMode};
use crate::dashboard::View;
use crate::data::{Batch, Loader, Mode, batch_tensor};
use crate::ema::Ema;
use crate::eval::{EvalReport, evaluate};
use crate::logger::{MetricsLog, summary};
use crate::lr::learning_rate;
use crate::memory::MemoryProbe;
use crate::precision::Precision;

/// How to start: resume from the run directory's newest checkpoint when there is one
/// (the default, so re-running a crashed command continues it), from a given checkpoint
/// directory, or never.
#[derive(Clone, Debug, Default)]
pub enum Resume {
    #[default]
    Auto,
    From(PathBuf),
    Never,
}

#[derive(Clone, Debug, Default)]
pub struct TrainerOptions {
    pub resume: Resume,
    /// No progress display at all, whatever `dashboard` says (tests, non-interactive logs).
    pub quiet: bool,
    /// How progress is shown (see [`crate::dashboard`]).
    pub dashboard: crate::dashboard::Dashboard,
}

/// The result of one optimizer step.
#[derive(Clone, Debug)]
pub struct StepStats {
    /// The step number this update produced (1-based after the update).
    pub step: u64,
    pub loss: f64,
    pub terms: Vec<(String, f64)>,
    pub grad_norm: Option<f64>,
    pub lr: f64,
    /// The update was skipped (non-finite loss or gradient).
    pub skipped: bool,
    pub samples: usize,
    /// Discriminator step: its loss (incl. penalties) when it ran.
    pub d_loss: Option<f64>,
    /// Adaptive weight of the adversarial term (generator step) when it was on.
    pub adaptive_weight: Option<f64>,
}

/// The adversarial stage: discriminator, its optimizer and the LeCam state.
pub struct Gan {
    pub disc: Discriminator,
    optim: ModuleOptimizer,
    pub lecam: LeCam,
}

/// A training run.
pub struct Trainer {
    pub cfg: TrainConfig,
    run_dir: PathBuf,
    /// Non-autodiff device (EMA, evaluation).
    base: Device,
    /// Autodiff device of the trained model.
    device: Device,
    pub model: Tokenizer,
    pub ema: Option<Ema>,
    optim: ModuleOptimizer,
    /// Parameters that receive updates (all of them unless a fine-tuning mode freezes some).
    trainable: Vec<ParamId>,
    loss: ReconLoss,
    /// LPIPS for the evaluations (`[eval] lpips_vgg` / `lpips_lin`).
    lpips: Option<cosmotok_losses::Lpips>,
    pub gan: Option<Gan>,
    /// The generator's last layer (for the adaptive weight).
    last_layer: ParamId,
    /// Data-parallel replica devices (autodiff), empty or one for single-device training.
    replicas: Vec<Device>,
    /// How the replicas' gradients are averaged (NCCL between CUDA devices).
    collective: Collective,
    loader: Loader,
    eval_batches: Vec<Batch>,
    pub state: TrainState,
    log: MetricsLog,
    /// Device memory (GPU) or process RSS (Flex), sampled at each log step.
    memory: MemoryProbe,
    ckpts: Checkpoints,
    dashboard: crate::dashboard::Dashboard,
    /// Fine-tuning load report (when `[finetune] from` is set on a fresh start).
    pub finetune_report: Option<MatchReport>,
    /// Fault injection for tests: the next N losses are made NaN.
    #[doc(hidden)]
    pub inject_nonfinite: u32,
}

/// Serialises use of the process-wide backend RNG between trainers in one process.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Mixes the run seed and the step into the seed of that step's RNG (splitmix64).
fn step_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The AdamW of both optimizers (and of `cosmotok check-device`): betas, epsilon and decoupled
/// weight decay from the config; the learning rate is passed per step.
pub fn adamw(betas: [f64; 2], eps: f64, weight_decay: f64) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(betas[0] as f32)
        .with_beta_2(betas[1] as f32)
        .with_epsilon(eps as f32)
        .with_weight_decay(weight_decay as f32)
        .init()
}

/// The official key of the decoder's last conv weight (docs/architecture.md §7.1).
pub fn last_layer_key(model: &Tokenizer) -> &'static str {
    if model.config().is_video() {
        "decoder.conv_out.1.conv3d.weight"
    } else {
        "decoder.conv_out.weight"
    }
}

fn last_layer_id(model: &Tokenizer) -> Result<ParamId> {
    let key = last_layer_key(model);
    params::param_ids(model)
        .get(key)
        .copied()
        .with_context(|| format!("the model has no `{key}` (needed for the adaptive weight)"))
}

/// The gradient of the last layer (rank 4 for image models, 5 for video models), flattened.
fn last_grad(model: &Tokenizer, grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    if model.config().is_video() {
        grads.get::<5>(id).map(|g| g.flatten(0, 4))
    } else {
        grads.get::<4>(id).map(|g| g.flatten(0, 3))
    }
}

/// The generator's side of a step ([`Trainer::step`]): accumulated gradients, the mean loss
/// and terms over the micro-batches, and the last micro-batch's (real, reconstruction) pair
/// for the discriminator.
#[derive(Default)]
struct GeneratorPass {
    grads: GradientsParams,
    loss: f64,
    terms: BTreeMap<String, f64>,
    samples: usize,
    adaptive: Option<f64>,
    last_pair: Option<(Tensor<5>, Tensor<5>)>,
}

/// Loss values and gradients of the reconstruction terms on one batch (or shard).
struct Pass {
    grads: GradientsParams,
    loss: f64,
    terms: Vec<(String, f64)>,
    /// The reconstruction (attached to the graph; detach before reuse), for the discriminator
    /// step. None from data-parallel passes (the adversarial stage runs on one device).
    recon: Option<Tensor<5>>,
}

/// The autodiff device of a run on `base`: with balanced gradient checkpointing
/// (`[run] activation_checkpointing`), burn-autodiff keeps the outputs of compute-bound ops
/// (convs, matmuls, reductions) and recomputes the memory-bound ones (element-wise ops,
/// reshapes, cosmotok's fused SiLU and per-frame norm) in the backward pass.
pub fn autodiff_device(base: &Device, checkpointing: bool) -> Device {
    let device = base.clone().autodiff();
    if checkpointing {
        device.gradient_checkpointing()
    } else {
        device
    }
}

/// `module` forked onto `device` (fresh autodiff leaves there), its parameters carrying the
/// device's gradient-checkpointing strategy: a fork onto the same backend (Flex to Flex) keeps
/// the strategy the tensors had, and burn refuses ops that mix strategies.
pub fn fork_onto<M: Module>(module: M, device: &Device) -> M {
    struct Strategy(GradientCheckpointingStrategy);
    impl ModuleMapper for Strategy {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let s = self.0;
            param.map(|t| t.with_gradient_checkpointing_strategy(s))
        }
    }
    let module = module.fork(device);
    match device.gradient_checkpointing_strategy() {
        Some(s @ GradientCheckpointingStrategy::Balanced) => module.map(&mut Strategy(s)),
        _ => module,
    }
}

/// The forward of a training step in the run's precision: the compute copy of `model`
/// encodes and decodes `x` (cast to the compute dtype); the reconstruction is returned in f32
/// (the losses and the discriminator are f32), the KL is f32 already.
fn forward(
    model: &Tokenizer,
    precision: Precision,
    x: Tensor<5>,
    sample: bool,
) -> (Option<Tensor<1>>, Tensor<5>) {
    let compute = precision.compute_copy(model);
    let (enc, recon) = compute.autoencode(x.cast(precision.compute_dtype()), sample);
    let kl = enc.posterior.as_ref().map(|p| p.kl());
    (kl, recon.cast(DType::F32))
}

/// How the forward and backward of a step run: the precision, and whether the encoder is a
/// recomputed segment (`[run] activation_checkpointing`, see [`recon_pass`]).
#[derive(Clone, Copy, Debug)]
struct Compute {
    precision: Precision,
    segmented: bool,
}

/// Forward, reconstruction loss, backward of `loss · scale`; gradients of `trainable` only.
///
/// Segmented (activation checkpointing), the encoder is a checkpointed segment, as
/// `torch.utils.checkpoint` would make it: (1) the encoder runs without a graph and only its
/// output (quant_conv's moments) is kept; (2) bottleneck, decoder and losses run with a graph
/// from those moments as a leaf, and their backward gives the decoder's gradients and
/// dL/dmoments; (3) the encoder runs again with a graph, and the backward of
/// Σ moments · dL/dmoments gives its gradients. The encoder's and the decoder's activations
/// are never alive together (the peak is the larger of the two, not their sum) for the cost of
/// a second encoder forward; the gradients are those of the unsegmented pass.
#[allow(clippy::too_many_arguments)]
fn recon_pass(
    model: &Tokenizer,
    how: Compute,
    loss_fn: &ReconLoss,
    x: Tensor<5>,
    sample: bool,
    step: u64,
    scale: f64,
    trainable: &[ParamId],
) -> Pass {
    let precision = how.precision;
    let mut moments_leaf = None;
    let (kl, recon) = if how.segmented {
        // (1) The encoder without a graph.
        let strategy = x.gradient_checkpointing_strategy();
        let compute = precision.compute_copy(&model.valid());
        let moments = compute.encode_moments(x.clone().inner().cast(precision.compute_dtype()));
        let mut leaf = moments.autodiff();
        if let Some(s) = strategy {
            leaf = leaf.with_gradient_checkpointing_strategy(s);
        }
        let leaf = leaf.require_grad();
        moments_leaf = Some(leaf.clone());
        // (2) Bottleneck and decoder with a graph, from the moments.
        let compute = precision.compute_copy(model);
        let enc = compute.bottleneck(leaf, sample);
        let kl = enc.posterior.as_ref().map(|p| p.kl());
        (kl, compute.decode(enc.latent).cast(DType::F32))
    } else {
        forward(model, precision, x.clone(), sample)
    };
    let out = loss_fn.forward_with(x.clone(), recon.clone(), None, kl, step);
    let loss = out.total;
    let value = loss.clone().into_scalar::<f32>() as f64;
    let terms = out
        .terms
        .into_iter()
        .map(|(n, t)| (n, t.into_scalar::<f32>() as f64))
        .collect();
    let mut g = loss.mul_scalar(scale).backward();
    let mut grads = GradientsParams::from_params(&mut g, model, trainable);
    if let Some(leaf) = moments_leaf {
        let d_moments = leaf.grad_remove(&mut g).expect("the moments feed the loss");
        drop(g);
        // (3) The encoder again, with a graph; backward of Σ moments · dL/dmoments.
        let compute = precision.compute_copy(model);
        let moments = compute.encode_moments(x.cast(precision.compute_dtype()));
        let surrogate = moments
            .cast(DType::F32)
            .mul(d_moments.cast(DType::F32))
            .sum();
        let mut g = surrogate.backward();
        let encoder = GradientsParams::from_params(&mut g, model, trainable);
        let mut acc = GradientsAccumulator::<Tokenizer>::new();
        acc.accumulate(model, grads);
        acc.accumulate(model, encoder);
        grads = acc.grads();
    }
    Pass {
        grads,
        loss: value,
        terms,
        recon: Some(recon),
    }
}

fn trainable_ids(model: &Tokenizer, mode: TrainMode) -> Vec<ParamId> {
    params::param_ids(model)
        .into_iter()
        .filter(|(k, _)| match mode {
            TrainMode::Full => true,
            TrainMode::DecoderOnly => {
                k.starts_with("decoder.") || k.starts_with("post_quant_conv.")
            }
            TrainMode::EncoderFrozen => !k.starts_with("encoder."),
        })
        .map(|(_, id)| id)
        .collect()
}

impl Trainer {
    /// Builds the run: model (fresh, fine-tuned from `[finetune] from`, or resumed), optimizer,
    /// EMA, data and losses.
    pub fn new(mut cfg: TrainConfig, opts: TrainerOptions) -> Result<Trainer> {
        cfg.validate()?;
        if cfg.eval.videos && !cfg!(feature = "video") {
            tracing::warn!(
                "[eval] videos = true, but this build has no `video` feature: no side-by-side mp4s \
                 (PNG grids are still written)"
            );
            cfg.eval.videos = false;
        }
        let base = crate::device::parse(&cfg.run.device)?;
        let precision = cfg.run.precision;
        if precision != Precision::F32 && !base.supports_dtype(DType::BF16) {
            bail!(
                "[run] precision = \"{precision}\": device `{}` has no bf16 support; use \
                 precision = \"f32\" there",
                cfg.run.device
            );
        }
        let device = autodiff_device(&base, cfg.run.activation_checkpointing);
        let run_dir = cfg.run.out_dir.clone();
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create the run directory `{}`", run_dir.display()))?;
        let ckpts = Checkpoints::new(&run_dir);
        let resume_from = match &opts.resume {
            Resume::Never => None,
            Resume::From(p) => Some(p.clone()),
            Resume::Auto => ckpts.latest().map(|(_, p)| p),
        };

        // The backend RNG is process-wide: hold the lock while seeding and drawing from it, and
        // draw the (lazily initialised) parameters now, so that trainers running in other
        // threads cannot interleave their draws with ours.
        // Parameters are drawn on Flex and copied to the device, so a seed gives the same
        // initial weights on every device (the backends' random streams differ).
        let rng = rng_lock();
        let init = Device::flex().autodiff();
        init.seed(cfg.run.seed);
        base.seed(cfg.run.seed);
        let mut model = fork_onto(
            params::initialized(Tokenizer::new(&cfg.model, &init)?),
            &device,
        );
        let mut finetune_report = None;
        if resume_from.is_none()
            && let Some(from) = &cfg.finetune.from
        {
            let report = crate::export::finetune_weights(from, &run_dir)
                .and_then(|file| Ok(weights::load_matching(&mut model, &file)?))
                .with_context(|| format!("[finetune] from = `{}`", from.display()))?;
            if report.loaded.is_empty() {
                bail!(
                    "[finetune] from = `{}`: no tensor of the file fits the model (is [model] the \
                     right architecture?)",
                    from.display()
                );
            }
            tracing::info!(
                "fine-tuning from {}: {} tensors loaded, {} re-initialised (shape differs), {} \
                 missing from the file, {} unused",
                from.display(),
                report.loaded.len(),
                report.reinitialized.len(),
                report.missing.len(),
                report.unused.len()
            );
            for (k, file, ours) in &report.reinitialized {
                tracing::info!("  re-initialised {k}: file {file:?} → model {ours:?}");
            }
            finetune_report = Some(report);
        }
        let model = precision.to_master(model);
        let trainable = trainable_ids(&model, cfg.finetune.mode_at(0));
        let optim = adamw(cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay);
        let ema = cfg.ema.enabled.then(|| Ema::new(&model, cfg.ema.beta));
        let mut loss =
            ReconLoss::new(&cfg.loss, &device).map_err(|e| anyhow::anyhow!("[loss] {e}"))?;
        // The perceptual VGG in the compute dtype, as autocast runs it (not on Flex, whose
        // host-memory VGG is f32).
        loss.set_vgg_dtype(precision.compute_dtype());
        let adv = &cfg.loss.adversarial;
        let gan = adv.enabled.then(|| Gan {
            disc: fork_onto(params::initialized(Discriminator::new(adv, &init)), &device),
            optim: adamw([adv.betas.0, adv.betas.1], cfg.optim.eps, 0.0),
            lecam: LeCam::new(adv.lecam_decay),
        });
        drop(rng);
        let last_layer = last_layer_id(&model)?;
        let mut names = Vec::new();
        let mut replicas = Vec::new();
        for d in &cfg.run.devices {
            names.push(crate::device::parse_name(d)?);
            let opened = crate::device::parse(d)?;
            replicas.push(autodiff_device(&opened, cfg.run.activation_checkpointing));
        }
        let collective = Collective::for_devices(&names, &replicas);
        if collective.is_nccl() {
            tracing::info!(
                "data parallelism over {} CUDA devices: gradients averaged with NCCL all-reduce",
                replicas.len()
            );
        }
        let loader = Loader::new(&cfg.data, Mode::Train)?;
        let eval_batches = Loader::eval_batches(&cfg.data)?;
        let log = MetricsLog::open(&run_dir)?;
        let memory = MemoryProbe::new(&base);
        let lpips = cfg.eval.lpips(&base)?;
        let mut trainer = Trainer {
            run_dir,
            memory,
            base,
            device,
            model,
            ema,
            optim,
            trainable,
            loss,
            lpips,
            gan,
            last_layer,
            replicas,
            collective,
            loader,
            eval_batches,
            state: TrainState {
                lr_scale: 1.0,
                ..TrainState::default()
            },
            log,
            ckpts,
            dashboard: if opts.quiet {
                crate::dashboard::Dashboard::None
            } else {
                opts.dashboard
            },
            finetune_report,
            inject_nonfinite: 0,
            cfg,
        };
        if let Some(dir) = resume_from {
            trainer.load_checkpoint(&dir)?;
            tracing::info!(
                "resumed from {} at step {}",
                dir.display(),
                trainer.state.step
            );
        }
        write_atomic(
            &trainer.run_dir.join("config.toml"),
            trainer.cfg.to_toml().as_bytes(),
        )?;
        Ok(trainer)
    }

    fn compute(&self) -> Compute {
        Compute {
            precision: self.cfg.run.precision,
            segmented: self.cfg.run.activation_checkpointing,
        }
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn checkpoints(&self) -> &Checkpoints {
        &self.ckpts
    }

    /// One optimizer step (with `grad_accum` micro-batches): generator update, then — in the
    /// adversarial stage — a discriminator update on the last micro-batch.
    ///
    /// For speed on Flex, call it on a thread of rayon's pool (`cosmotok_kernels::pool::in_pool`),
    /// as `cosmotok` runs its commands — but not from several threads at once (see `in_pool`).
    pub fn step(&mut self) -> Result<StepStats> {
        // Every random draw of the step (VAE sampling) comes from the seeded backend RNG.
        let _rng = rng_lock();
        let step = self.state.step;
        if self.cfg.finetune.unfreeze_at == Some(step) && step > 0 {
            self.trainable = trainable_ids(&self.model, self.cfg.finetune.mode_at(step));
            tracing::info!("step {step}: [finetune] unfreeze_at reached, training every parameter");
        }
        // 1. Generator: losses and gradients over the micro-batches.
        let mut g = self.generator_pass(step)?;
        if self.inject_nonfinite > 0 {
            // Test seam: this step's loss is made non-finite.
            self.inject_nonfinite -= 1;
            g.loss = f64::NAN;
        }
        let lr =
            learning_rate(&self.cfg.optim, step, self.cfg.run.iterations) * self.state.lr_scale;
        // 2. Global-norm clipping; a non-finite loss or gradient skips the update (guard).
        let grad_norm = if g.loss.is_finite() {
            clip_global_norm(&self.model, &mut g.grads, self.cfg.optim.clip_grad_norm)
        } else {
            None
        };
        let Some(grad_norm) = grad_norm else {
            return self.skip(step, g, lr);
        };
        // 3. AdamW on the master weights, then the EMA.
        let precision = self.cfg.run.precision;
        self.model = precision.optimizer_step(&mut self.optim, lr, self.model.clone(), g.grads);
        if let Some(ema) = &mut self.ema {
            ema.update(&self.model, step, self.cfg.ema.start);
        }
        // 4. The discriminator, on the last micro-batch's real and reconstructed clips.
        let d_value = g
            .last_pair
            .and_then(|(real, fake)| self.discriminator_step(step, real, fake));
        if let Some(v) = d_value {
            g.terms.insert("d_loss".into(), v);
        }
        // 5. Bookkeeping.
        self.state.bad_in_row = 0;
        self.state.step += 1;
        self.state.samples_seen += g.samples as u64;
        self.state.loader = self.loader.position();
        Ok(StepStats {
            step: self.state.step,
            loss: g.loss,
            terms: g.terms.into_iter().collect(),
            grad_norm: Some(grad_norm),
            lr,
            skipped: false,
            samples: g.samples,
            d_loss: d_value,
            adaptive_weight: g.adaptive,
        })
    }

    /// The generator's side of a step: for each micro-batch the reconstruction losses and their
    /// gradients (split over the replicas with data parallelism), plus the adversarial term
    /// scaled by the adaptive weight once that stage has started; gradients accumulated.
    fn generator_pass(&mut self, step: u64) -> Result<GeneratorPass> {
        let seed = step_seed(self.cfg.run.seed, step);
        let accum = self.cfg.run.grad_accum;
        let sample = self.cfg.model.formulation == Formulation::Vae;
        let adv = &self.cfg.loss.adversarial;
        // `factor` is 0 before the adversarial stage starts and ramps up over its warm-up.
        let g_factor = adv.factor(step);
        let train_d = adv.enabled && step >= adv.start_iter;
        let mut acc = GradientsAccumulator::<Tokenizer>::new();
        let mut out = GeneratorPass::default();
        for micro in 0..accum {
            let batch = self.loader.next_batch()?;
            out.samples += batch.shape[0];
            let x = batch_tensor(&batch, &self.device);
            // Seeded per micro-batch so the adversarial pass sees the same VAE noise.
            self.base.seed(seed ^ micro as u64);
            let pass = if self.replicas.len() > 1 {
                self.data_parallel_pass(x.clone(), sample, step, accum)?
            } else {
                recon_pass(
                    &self.model,
                    self.compute(),
                    &self.loss,
                    x.clone(),
                    sample,
                    step,
                    1.0 / accum as f64,
                    &self.trainable,
                )
            };
            out.loss += pass.loss / accum as f64;
            for (name, v) in pass.terms {
                *out.terms.entry(name).or_default() += v / accum as f64;
            }
            let adversarial = (g_factor > 0.0).then(|| {
                self.base.seed(seed ^ micro as u64);
                let (grads_g, g_adv, w) = self.adversarial_grads(x.clone(), &pass.grads, step);
                *out.terms.entry("g_adv".into()).or_default() += g_adv / accum as f64;
                out.terms.insert("adaptive_weight".into(), w);
                out.adaptive = Some(w);
                grads_g
            });
            acc.accumulate(&self.model, pass.grads);
            if let Some(grads_g) = adversarial {
                acc.accumulate(&self.model, grads_g);
            }
            if train_d && micro + 1 == accum {
                out.last_pair = pass.recon.map(|r| (x.detach(), r.detach()));
            }
        }
        out.grads = acc.grads();
        Ok(out)
    }

    /// The adversarial generator term of one micro-batch: a second forward (burn backpropagates
    /// a graph once), g_loss of the discriminator's logits, its gradients scaled by
    /// adaptive weight × schedule × warm-up factor / grad_accum. Returns those gradients, the
    /// term's value and the adaptive weight.
    fn adversarial_grads(
        &self,
        x: Tensor<5>,
        recon_grads: &GradientsParams,
        step: u64,
    ) -> (GradientsParams, f64, f64) {
        let adv = &self.cfg.loss.adversarial;
        let gan = self
            .gan
            .as_ref()
            .expect("the adversarial stage has a discriminator");
        let accum = self.cfg.run.grad_accum as f64;
        let sample = self.cfg.model.formulation == Formulation::Vae;
        let (_, recon) = forward(&self.model, self.cfg.run.precision, x, sample);
        let gl = g_loss(gan.disc.forward(recon), adv.loss);
        let value = gl.clone().into_scalar::<f32>() as f64;
        let mut gg = gl.div_scalar(accum).backward();
        let mut grads = GradientsParams::from_params(&mut gg, &self.model, &self.trainable);
        let w = match (
            last_grad(&self.model, recon_grads, self.last_layer),
            last_grad(&self.model, &grads, self.last_layer),
        ) {
            (Some(a), Some(b)) => adaptive_weight_tensors(a, b, adv.adaptive_max),
            _ => 0.0,
        };
        scale_grads(
            &self.model,
            &mut grads,
            w * adv.weight.at(step) * adv.factor(step),
        );
        (grads, value, w)
    }

    /// One discriminator update on real and reconstructed clips: hinge / non-saturating loss
    /// with the LeCam and R1 penalties; skipped (with a warning) when the loss is not finite.
    /// Returns the loss.
    fn discriminator_step(&mut self, step: u64, real: Tensor<5>, fake: Tensor<5>) -> Option<f64> {
        let adv = &self.cfg.loss.adversarial;
        let gan = self.gan.as_mut()?;
        let real_logits = gan.disc.forward(real.clone());
        let fake_logits = gan.disc.forward(fake);
        let mut dl = d_loss(real_logits.clone(), fake_logits.clone(), adv.loss);
        if adv.lecam_weight > 0.0 {
            let penalty = gan.lecam.penalty(real_logits.clone(), fake_logits.clone());
            dl = dl + penalty.mul_scalar(adv.lecam_weight);
        }
        if adv.r1_weight > 0.0 {
            dl = dl + r1_penalty(&gan.disc, real, adv.r1_weight);
        }
        gan.lecam.update(real_logits.detach(), fake_logits.detach());
        let v = dl.clone().into_scalar::<f32>() as f64;
        if v.is_finite() {
            let gd = GradientsParams::from_grads(dl.backward(), &gan.disc);
            let lr_d = adv.lr * self.state.lr_scale;
            gan.disc = gan.optim.step(lr_d, gan.disc.clone(), gd).power_iteration();
        } else {
            tracing::warn!(
                "step {}: non-finite discriminator loss; D update skipped",
                step + 1
            );
        }
        self.state.lecam = Some((gan.lecam.ema_real, gan.lecam.ema_fake));
        Some(v)
    }

    /// The non-finite guard: the update is skipped and counted; `guard.max_bad_steps` in a row
    /// roll back to the newest checkpoint with a lower learning rate.
    fn skip(&mut self, step: u64, g: GeneratorPass, lr: f64) -> Result<StepStats> {
        self.state.bad_in_row += 1;
        self.state.skipped_steps += 1;
        self.state.loader = self.loader.position();
        tracing::warn!(
            "step {}: non-finite loss or gradient (loss {}); update skipped ({} in a row)",
            step + 1,
            g.loss,
            self.state.bad_in_row
        );
        self.log.write(
            "skip",
            step + 1,
            &[
                ("loss".into(), g.loss),
                ("in_row".into(), self.state.bad_in_row as f64),
            ],
        )?;
        if self.state.bad_in_row >= self.cfg.guard.max_bad_steps {
            self.roll_back()?;
        }
        Ok(StepStats {
            step: self.state.step,
            loss: g.loss,
            terms: g.terms.into_iter().collect(),
            grad_norm: None,
            lr,
            skipped: true,
            samples: g.samples,
            d_loss: None,
            adaptive_weight: g.adaptive,
        })
    }

    /// One micro-batch split evenly over the replica devices: each replica runs forward and
    /// backward on its shard in its own thread; the gradients are averaged — by NCCL
    /// all-reduce between CUDA devices, else on the main device (see [`crate::collective`]) —
    /// so the result equals the single-device gradient of the whole micro-batch.
    fn data_parallel_pass(
        &self,
        x: Tensor<5>,
        sample: bool,
        step: u64,
        accum: usize,
    ) -> Result<Pass> {
        let n = self.replicas.len();
        let b = x.dims()[0];
        let per = b / n;
        let nccl = match &self.collective {
            Collective::Nccl { devices, .. } => Some(devices),
            Collective::Gather => None,
        };
        // Gathering sums the replicas' gradients, NCCL averages them.
        let scale = if nccl.is_some() {
            1.0 / accum as f64
        } else {
            1.0 / (accum * n) as f64
        };
        let results: Vec<Pass> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .replicas
                .iter()
                .enumerate()
                .map(|(i, dev)| {
                    let shard = x.clone().narrow(0, i * per, per).to_device(dev);
                    let model = fork_onto(self.model.clone(), dev);
                    let loss = &self.loss;
                    let trainable = &self.trainable;
                    let main = &self.device;
                    let how = self.compute();
                    scope.spawn(move || {
                        let mut p =
                            recon_pass(&model, how, loss, shard, sample, step, scale, trainable);
                        if let Some(devices) = nccl {
                            all_reduce_mean(&model, &mut p.grads, devices);
                            if i > 0 {
                                // Every replica now holds the mean; the first one's is used.
                                p.grads = GradientsParams::new();
                            }
                        }
                        p.grads = p.grads.to_device(main, &model);
                        p.recon = None;
                        p
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a data-parallel replica panicked"))
                .collect()
        });
        let mut acc = GradientsAccumulator::<Tokenizer>::new();
        let mut loss = 0.0;
        let mut terms: BTreeMap<String, f64> = BTreeMap::new();
        for p in results {
            loss += p.loss / n as f64;
            for (k, v) in p.terms {
                *terms.entry(k).or_default() += v / n as f64;
            }
            acc.accumulate(&self.model, p.grads);
        }
        Ok(Pass {
            grads: acc.grads(),
            loss,
            terms: terms.into_iter().collect(),
            recon: None,
        })
    }

    /// After `max_bad_steps` non-finite steps in a row: reload the newest checkpoint's
    /// weights, optimizer and EMA, and lower the learning rate. The data stream goes on from
    /// where it is (the batches that produced the non-finite values are not replayed).
    fn roll_back(&mut self) -> Result<()> {
        let Some((step, dir)) = self.ckpts.latest() else {
            bail!(
                "{} non-finite steps in a row at step {} and no checkpoint to roll back to; \
                 lower [optim] lr or check the data",
                self.state.bad_in_row,
                self.state.step
            );
        };
        let keep = self.state.clone();
        self.load_checkpoint(&dir)?;
        self.state.lr_scale = keep.lr_scale * self.cfg.guard.lr_factor;
        self.state.rollbacks = keep.rollbacks + 1;
        self.state.skipped_steps = keep.skipped_steps;
        self.state.bad_in_row = 0;
        self.state.loader = keep.loader;
        self.loader.seek(&keep.loader)?;
        tracing::error!(
            "ROLL-BACK: {} non-finite steps in a row; reloaded the checkpoint of step {step} and \
             lowered the learning rate to {:.3}× the schedule",
            self.cfg.guard.max_bad_steps,
            self.state.lr_scale
        );
        self.log.write(
            "rollback",
            step,
            &[
                ("lr_scale".into(), self.state.lr_scale),
                ("rollbacks".into(), self.state.rollbacks as f64),
            ],
        )?;
        Ok(())
    }

    /// Saves a checkpoint of the current step (atomic; keeps the newest `keep_last`); what it
    /// holds is [`crate::checkpoint::Contents`].
    pub fn save_checkpoint(&self) -> Result<PathBuf> {
        let dir = self.ckpts.save_contents(
            self.cfg.run.keep_last,
            Contents {
                model: Precision::to_f32(self.model.clone()),
                optim: &self.optim,
                ema: self.ema.as_ref().map(|e| &e.model),
                disc: self.gan.as_ref().map(|g| (&g.disc, &g.optim)),
                config: self.cfg.to_toml(),
                state: &self.state,
            },
        )?;
        tracing::info!("checkpoint {}", dir.display());
        Ok(dir)
    }

    /// Restores model, optimizer, EMA, state and data position from a checkpoint directory.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let r = crate::checkpoint::read(dir, &self.cfg, &self.device, &self.base)?;
        self.model = self.cfg.run.precision.to_master(r.model);
        self.optim = self.optim.clone().load_record(r.optim);
        if let Some(ema) = &mut self.ema {
            ema.model = match r.ema {
                Some(model) => model,
                None => {
                    tracing::warn!(
                        "{}: no EMA weights; the EMA restarts from the weights",
                        dir.display()
                    );
                    Precision::to_f32(self.model.valid())
                }
            };
        }
        if let Some(gan) = &mut self.gan {
            match r.disc {
                Some((disc, record)) => {
                    gan.disc = disc;
                    gan.optim = gan.optim.clone().load_record(record);
                }
                None => tracing::info!(
                    "{}: no discriminator yet; the adversarial stage starts a fresh one",
                    dir.display()
                ),
            }
            if let Some((r, f)) = r.state.lecam {
                gan.lecam.ema_real = r;
                gan.lecam.ema_fake = f;
            }
        }
        self.trainable = trainable_ids(&self.model, self.cfg.finetune.mode_at(r.state.step));
        self.last_layer = last_layer_id(&self.model)?;
        self.loader.seek(&r.state.loader)?;
        self.state = r.state;
        Ok(())
    }

    /// Evaluates on the eval clips (EMA weights when configured) and writes grids.
    pub fn evaluate(&mut self, write_grids: bool) -> Result<EvalReport> {
        let model = match (&self.ema, self.cfg.ema.use_for_eval) {
            (Some(ema), true) => ema.model.clone(),
            _ => Precision::to_f32(self.model.valid()),
        };
        let video_dir =
            (write_grids && self.cfg.eval.videos && self.cfg.eval.grids > 0).then(|| {
                self.run_dir
                    .join("videos")
                    .join(format!("step_{:08}", self.state.step))
            });
        let grid_path = (write_grids && self.cfg.eval.grids > 0).then(|| {
            self.run_dir
                .join("grids")
                .join(format!("step_{:08}.png", self.state.step))
        });
        let report = evaluate(
            &model,
            &self.eval_batches,
            &self.base,
            self.cfg.eval.max_clips,
            self.cfg.eval.grids,
            grid_path.as_deref(),
            video_dir.as_deref(),
            self.lpips.as_ref(),
        )?;
        self.log.write("eval", self.state.step, &report.fields())?;
        Ok(report)
    }

    /// Trains until `[run] iterations` or until `stop` is set (then the current step finishes
    /// and a checkpoint is saved). Evaluates at the start of a fresh run, every
    /// `[eval] every` steps and at the end.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<RunSummary> {
        let total = self.cfg.run.iterations;
        let first_eval = if self.state.step == 0 {
            Some(self.evaluate(false)?)
        } else {
            None
        };
        if let Some(r) = &first_eval {
            tracing::info!("step 0: {}", r.summary());
        }
        let mut view = View::new(self.dashboard, total, self.state.step);
        if let Some(r) = &first_eval {
            view.eval(0, r);
        }
        let mut last_log = Instant::now();
        let mut samples_since = 0usize;
        let mut last_eval: Option<EvalReport> = None;
        let mut interrupted = false;
        while self.state.step < total {
            if stop.load(Ordering::SeqCst) || view.should_stop() {
                interrupted = true;
                break;
            }
            let stats = self.step()?;
            samples_since += stats.samples;
            if stats.skipped {
                continue;
            }
            let s = stats.step;
            view.step(s);
            if s % self.cfg.run.log_every == 0 || s == total {
                let secs = last_log.elapsed().as_secs_f64().max(1e-9);
                let mut fields = vec![("loss".to_string(), stats.loss)];
                fields.extend(stats.terms.iter().cloned());
                fields.push(("lr".into(), stats.lr));
                fields.push(("grad_norm".into(), stats.grad_norm.unwrap_or(f64::NAN)));
                fields.push(("samples_per_s".into(), samples_since as f64 / secs));
                fields.extend(self.memory.sample());
                self.log.write("train", s, &fields)?;
                tracing::debug!("step {s}: {}", summary(&fields));
                view.train(s, &fields);
                last_log = Instant::now();
                samples_since = 0;
            }
            if s % self.cfg.run.checkpoint_every == 0 && s != total {
                self.save_checkpoint()?;
            }
            if self.cfg.eval.every > 0 && s % self.cfg.eval.every == 0 && s != total {
                let r = self.evaluate(true)?;
                view.eval(s, &r);
                last_eval = Some(r);
            }
        }
        view.finish();
        let checkpoint = self.save_checkpoint()?;
        let final_eval = if interrupted {
            // The newest in-loop evaluation (the step-0 one describes the untrained weights).
            last_eval
        } else {
            let r = self.evaluate(true)?;
            tracing::info!("step {}: {}", self.state.step, r.summary());
            Some(r)
        };
        Ok(RunSummary {
            steps: self.state.step,
            interrupted,
            checkpoint,
            first_eval,
            final_eval,
        })
    }
}

/// What a call to [`Trainer::run`] did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub steps: u64,
    pub interrupted: bool,
    pub checkpoint: PathBuf,
    /// Evaluation before the first step (fresh runs).
    pub first_eval: Option<EvalReport>,
    pub final_eval: Option<EvalReport>,
}
