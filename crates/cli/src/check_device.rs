//! `cosmotok check-device`: runs the same model (same seed, same weights) and the same batch on
//! Flex and on another device, and compares every stage — encoder output, decoder output,
//! training loss, parameter gradients, and the loss after one AdamW step.
//!
//! Errors are `max |device − flex|` and that divided by `max |flex|` of the stage (a relative
//! error of the tensor as a whole: element-wise ratios blow up where the reference is near
//! zero). GPU kernels add and multiply in a different order than Flex (tiled matmul and
//! convolution, tree reductions, fused multiply-adds), so f32 results differ by a few ulps
//! per operation, and these differences grow through the depth of the network and again
//! through the backward pass. The tolerances below are two to three orders of magnitude above
//! what a correct backend shows on the quickstart model (see README "GPU"), and far below what
//! a wrong kernel gives (errors of order 1).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use clap::Args;
use cosmotok_losses::ReconLoss;
use cosmotok_model::{Tokenizer, params};
use cosmotok_train::TrainConfig;

/// Relative tolerance of the forward stages (encoder moments, decoder output).
pub const TOL_FORWARD: f64 = 1e-3;
/// Relative tolerance of the loss value, before and after the optimizer step.
pub const TOL_LOSS: f64 = 1e-3;
/// Relative tolerance of every parameter's gradient (the backward pass through the whole
/// network accumulates more reordering than the forward pass).
pub const TOL_GRAD: f64 = 1e-2;
/// A gradient tensor's error is taken relative to its own largest value, but at least this
/// fraction of the model's largest gradient.
pub const GRAD_FLOOR: f64 = 1e-3;
/// Largest fraction of FSQ indices allowed to differ (a value on a rounding boundary may
/// round either way).
pub const TOL_INDICES: f64 = 1e-2;

/// The model of the quickstart recipe (used when neither `--config` nor `--preset` is given).
const DEFAULT_PRESET: &str = "Cosmos-Tokenize1-CV4x8x8-360p";

#[derive(Args, Debug)]
pub struct CheckDeviceArgs {
    /// The device to check against Flex (e.g. wgpu, wgpu:cpu, cuda:0).
    #[arg(long)]
    pub device: String,
    /// Training recipe (TOML): its [model], [loss] and [optim] are used.
    #[arg(long, short, conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Model preset (default: the quickstart model, CV4x8x8 with 16 channels and one res
    /// block per level). The loss is L1 only.
    #[arg(long)]
    pub preset: Option<String>,
    /// Override a config value: `--set model.channels=32`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Image, video or frame folder for the batch (default: a synthetic smooth pattern).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Crop the input to at most this many pixels per side (rounded down to a multiple of the
    /// spatial compression).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Use at most this many frames (rounded down to 1 + k·t for video models).
    #[arg(long, default_value_t = 9)]
    pub frames: usize,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// How far the device's tensor is from Flex's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diff {
    pub max_abs: f64,
    /// `max |flex|` of the stage.
    pub scale: f64,
}

impl Diff {
    pub fn of(flex: &[f32], dev: &[f32]) -> Diff {
        assert_eq!(flex.len(), dev.len(), "tensors of different sizes");
        let mut max_abs = 0.0f64;
        let mut scale = 0.0f64;
        for (a, b) in flex.iter().zip(dev) {
            let d = (*a as f64 - *b as f64).abs();
            // NaN anywhere makes the stage fail.
            max_abs = if d.is_nan() { f64::NAN } else { max_abs.max(d) };
            scale = scale.max((*a as f64).abs());
        }
        Diff { max_abs, scale }
    }

    pub fn rel(&self) -> f64 {
        self.max_abs / self.scale.max(1e-30)
    }

    /// The worse of two diffs (by relative error).
    fn worst(self, other: Diff) -> Diff {
        if other.rel().is_nan() || other.rel() > self.rel() {
            other
        } else {
            self
        }
    }
}

/// One compared stage.
#[derive(Clone, Debug)]
pub struct Stage {
    pub name: String,
    /// The measured error (relative, or a fraction for FSQ indices).
    pub error: f64,
    pub max_abs: Option<f64>,
    pub tolerance: f64,
    pub detail: String,
}

impl Stage {
    fn diff(name: &str, d: Diff, tolerance: f64, detail: String) -> Stage {
        Stage {
            name: name.into(),
            error: d.rel(),
            max_abs: Some(d.max_abs),
            tolerance,
            detail,
        }
    }

    pub fn passed(&self) -> bool {
        self.error <= self.tolerance
    }
}

fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read a tensor back: {e:?}"))
}

/// The run's config: a recipe, or a preset with an L1-only loss.
fn config(args: &CheckDeviceArgs) -> Result<TrainConfig> {
    if let Some(path) = &args.config {
        return cosmotok_train::config::load(path, &args.set);
    }
    let mut table = toml::Table::new();
    let mut model = toml::Table::new();
    match &args.preset {
        Some(p) => {
            model.insert("preset".into(), p.clone().into());
        }
        None => {
            model.insert("preset".into(), DEFAULT_PRESET.into());
            model.insert("channels".into(), 16.into());
            model.insert("num_res_blocks".into(), 1.into());
        }
    }
    table.insert("model".into(), model.into());
    let mut loss = toml::Table::new();
    loss.insert("perceptual_weight".into(), 0.0.into());
    loss.insert("gram_weight".into(), 0.0.into());
    table.insert("loss".into(), loss.into());
    // The batch comes from --input, not from a data loader; the table only has to validate.
    let source: toml::Table = toml::from_str("path = \".\"")?;
    let mut data = toml::Table::new();
    data.insert("sources".into(), vec![toml::Value::Table(source)].into());
    table.insert("data".into(), data.into());
    for o in &args.set {
        cosmotok_train::config::apply_override(&mut table, o)?;
    }
    cosmotok_train::config::from_table(table)
}

/// The batch [1, 3, T, H, W] in [−1, 1], fitted to the model's length and size rules.
fn batch(args: &CheckDeviceArgs, cfg: &TrainConfig) -> Result<(Vec<f32>, [usize; 5])> {
    let m = &cfg.model;
    let s = m.spatial_compression;
    let tc = m.temporal_compression.max(1);
    let (t_avail, h_avail, w_avail, frames) = match &args.input {
        Some(p) => {
            let f = cosmotok_data::read_any(p, 0, None)
                .with_context(|| format!("--input `{}`", p.display()))?;
            (f.frames, f.height, f.width, Some(f))
        }
        None => (args.frames, args.size, args.size, None),
    };
    let t_max = args.frames.min(t_avail).max(1);
    let t = if m.is_video() {
        1 + (t_max - 1) / tc * tc
    } else {
        1
    };
    let h = args.size.min(h_avail) / s * s;
    let w = args.size.min(w_avail) / s * s;
    if h == 0 || w == 0 {
        bail!(
            "the input is {h_avail}×{w_avail} (with --size {}), smaller than the spatial \
             compression {s}",
            args.size
        );
    }
    let mut data = Vec::with_capacity(3 * t * h * w);
    // Centre crop.
    let (y0, x0) = ((h_avail - h) / 2, (w_avail - w) / 2);
    for c in 0..3 {
        for ti in 0..t {
            for y in 0..h {
                for x in 0..w {
                    data.push(match &frames {
                        Some(f) => {
                            f.data[((c * f.frames + ti) * f.height + y0 + y) * f.width + x0 + x]
                        }
                        None => {
                            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
                            (6.0 * u + 4.0 * v + 2.1 * c as f32 + 0.7 * ti as f32).sin() * 0.8
                        }
                    });
                }
            }
        }
    }
    Ok((data, [1, 3, t, h, w]))
}

/// Outputs of one device, read back to the host.
struct Run {
    moments: Vec<f32>,
    indices: Option<Vec<i64>>,
    latent: Vec<f32>,
    decoded: Vec<f32>,
    loss: f64,
    grads: BTreeMap<String, Vec<f32>>,
    loss_after: f64,
}

/// Runs every stage on `device`. `latent_in` is the latent decoded in the decode stage (Flex's,
/// so that the decoder is compared on identical input); `None` decodes this device's own.
fn run(
    model: &Tokenizer,
    cfg: &TrainConfig,
    x: &(Vec<f32>, [usize; 5]),
    device: &Device,
    latent_in: Option<&(Vec<f32>, [usize; 5])>,
) -> Result<(Run, [usize; 5])> {
    let input = || Tensor::<5>::from_data(TensorData::new(x.0.clone(), x.1), device);
    // (a) inference: encoder moments, bottleneck, decoder.
    let infer = model.valid().to_device(device);
    let moments = infer.encode_moments(input());
    let enc = infer.encode(input());
    let latent_shape: [usize; 5] = enc.latent.dims();
    let indices = match enc.indices {
        Some(i) => Some(
            i.into_data()
                .try_into_vec_as::<i64>()
                .map_err(|e| anyhow::anyhow!("cannot read the indices back: {e:?}"))?,
        ),
        None => None,
    };
    let latent = floats(enc.latent.clone())?;
    let to_decode = match latent_in {
        Some((v, shape)) => Tensor::<5>::from_data(TensorData::new(v.clone(), *shape), device),
        None => enc.latent,
    };
    let decoded = floats(infer.decode(to_decode))?;
    let moments = floats(moments)?;

    // (b) one training step: loss, gradients, AdamW step, loss again.
    let ad = device.clone().autodiff();
    let train = model.clone().fork(&ad);
    let loss_fn = ReconLoss::new(&cfg.loss, &ad).map_err(|e| anyhow::anyhow!("[loss] {e}"))?;
    let xa = Tensor::<5>::from_data(TensorData::new(x.0.clone(), x.1), &ad);
    let loss_of = |m: &Tokenizer| {
        // The posterior mean for VAEs: the two backends' random streams differ.
        let (enc, recon) = m.autoencode(xa.clone(), false);
        let kl = enc.posterior.as_ref().map(|p| p.kl());
        loss_fn.forward_with(xa.clone(), recon, None, kl, 0).total
    };
    let loss = loss_of(&train);
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    let g = loss.backward();
    let grads = params::named_grads(&train, &g)
        .into_iter()
        .map(|(k, v)| {
            let v = v
                .try_into_vec_as::<f32>()
                .map_err(|e| anyhow::anyhow!("cannot read the gradient of {k}: {e:?}"))?;
            Ok((k, v))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let gp = GradientsParams::from_grads(g, &train);
    let mut optim =
        cosmotok_train::trainer::adamw(cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay);
    let stepped = optim.step(cfg.optim.lr, train, gp);
    let loss_after = loss_of(&stepped).into_scalar::<f32>() as f64;
    Ok((
        Run {
            moments,
            indices,
            latent,
            decoded,
            loss: loss_value,
            grads,
            loss_after,
        },
        latent_shape,
    ))
}

/// Builds the model once on Flex (seeded), copies it to `device`, runs the same batch on both
/// and compares every stage.
pub fn compare(args: &CheckDeviceArgs) -> Result<(Vec<Stage>, String)> {
    let cfg = config(args)?;
    let device = cosmotok_train::device::parse(&args.device)?;
    let flex = Device::flex();
    let x = batch(args, &cfg)?;
    flex.seed(args.seed);
    let model = params::initialized(Tokenizer::new(&cfg.model, &flex.clone().autodiff())?);
    let t0 = std::time::Instant::now();
    let (f, latent_shape) = run(&model, &cfg, &x, &flex, None)?;
    let t_flex = t0.elapsed().as_secs_f64();
    let latent = (f.latent.clone(), latent_shape);
    let t0 = std::time::Instant::now();
    let (d, _) = run(&model, &cfg, &x, &device, Some(&latent))?;
    let t_dev = t0.elapsed().as_secs_f64();

    let mut stages = vec![Stage::diff(
        "encode (moments)",
        Diff::of(&f.moments, &d.moments),
        TOL_FORWARD,
        format!("{} values", f.moments.len()),
    )];
    match (&f.indices, &d.indices) {
        (Some(a), Some(b)) => {
            let differ = a.iter().zip(b).filter(|(p, q)| p != q).count();
            stages.push(Stage {
                name: "encode (FSQ indices)".into(),
                error: differ as f64 / a.len().max(1) as f64,
                max_abs: None,
                tolerance: TOL_INDICES,
                detail: format!("{differ} of {} differ", a.len()),
            });
        }
        _ => stages.push(Stage::diff(
            "encode (latent)",
            Diff::of(&f.latent, &d.latent),
            TOL_FORWARD,
            format!("{} values", f.latent.len()),
        )),
    }
    stages.push(Stage::diff(
        "decode (Flex latent)",
        Diff::of(&f.decoded, &d.decoded),
        TOL_FORWARD,
        format!("{} values", f.decoded.len()),
    ));
    let scalar = |a: f64, b: f64| Diff {
        max_abs: (a - b).abs(),
        scale: a.abs(),
    };
    stages.push(Stage::diff(
        "train loss",
        scalar(f.loss, d.loss),
        TOL_LOSS,
        format!("flex {:.6} device {:.6}", f.loss, d.loss),
    ));
    // Each tensor against its own scale, floored at GRAD_FLOOR of the model's largest
    // gradient: some gradients are zero in exact arithmetic (an attention key bias shifts every
    // logit of a row alike, and softmax ignores that), and both backends return rounding noise
    // there, whose ratio means nothing.
    let largest = f
        .grads
        .values()
        .flat_map(|g| g.iter())
        .fold(0.0f64, |m, v| m.max((*v as f64).abs()));
    let mut worst = Diff {
        max_abs: 0.0,
        scale: 1.0,
    };
    let mut worst_key = String::new();
    for (k, gf) in &f.grads {
        let gd = d
            .grads
            .get(k)
            .with_context(|| format!("the device gave no gradient for {k}"))?;
        let mut diff = Diff::of(gf, gd);
        diff.scale = diff.scale.max(GRAD_FLOOR * largest);
        if diff.worst(worst) != worst {
            worst = diff;
            worst_key = k.clone();
        }
    }
    stages.push(Stage::diff(
        "gradients (worst tensor)",
        worst,
        TOL_GRAD,
        format!("{} tensors; worst {worst_key}", f.grads.len()),
    ));
    stages.push(Stage::diff(
        "loss after 1 AdamW step",
        scalar(f.loss_after, d.loss_after),
        TOL_LOSS,
        format!(
            "flex {:.6} device {:.6} (lr {:.1e})",
            f.loss_after, d.loss_after, cfg.optim.lr
        ),
    ));
    let header = format!(
        "model {} · batch {:?} · device {} · wall time flex {t_flex:.2}s, device {t_dev:.2}s \
         (first run on a GPU includes shader compilation)",
        cfg.model.name, x.1, args.device
    );
    Ok((stages, header))
}

pub fn run_cmd(args: &CheckDeviceArgs) -> Result<()> {
    let (stages, header) = compare(args)?;
    println!("{header}");
    println!(
        "{:<26} {:>12} {:>12} {:>10}  result",
        "stage", "max abs", "rel error", "tolerance"
    );
    for s in &stages {
        println!(
            "{:<26} {:>12} {:>12.3e} {:>10.0e}  {}  {}",
            s.name,
            s.max_abs.map_or("-".into(), |m| format!("{m:.3e}")),
            s.error,
            s.tolerance,
            if s.passed() { "PASS" } else { "FAIL" },
            s.detail
        );
    }
    // One machine-readable line (for scripts and tests).
    let json: Vec<serde_json::Value> = stages
        .iter()
        .map(|s| {
            serde_json::json!({
                "stage": s.name,
                "rel_error": if s.error.is_finite() { s.error.into() } else { serde_json::Value::from(s.error.to_string()) },
                "max_abs": s.max_abs,
                "tolerance": s.tolerance,
                "pass": s.passed(),
            })
        })
        .collect();
    println!("{}", serde_json::Value::from(json));
    let failed: Vec<&str> = stages
        .iter()
        .filter(|s| !s.passed())
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "device `{}` disagrees with Flex beyond tolerance in: {}",
            args.device,
            failed.join(", ")
        );
    }
    println!("all stages within tolerance");
    Ok(())
}
