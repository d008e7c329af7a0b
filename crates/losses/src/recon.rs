//! The reconstruction loss of the tokenizer (docs/architecture.md §9.2 `TokenizerLoss`): pixel +
//! perceptual + Gram (+ KL for VAEs, + any extra [`ReconTerm`], e.g. a future RAFT optical-flow
//! loss), each weighted by its schedule at the current iteration.

use burn::prelude::*;

use crate::config::LossConfig;
use crate::error::LossError;
use crate::perceptual::FeaturePair;
use crate::pixel::pixel_loss;
use crate::schedule::Schedule;
use crate::vgg::Vgg16;
use crate::vgg_cpu::CpuVgg;

/// Extension point for additional reconstruction terms (the RAFT flow loss of docs/architecture.md
/// §9.2 is out of scope; implement this trait and register it with [`ReconLoss::with_term`]).
pub trait ReconTerm: Send + Sync {
    /// Unweighted loss of x̂ against x ([B, C, T, H, W] each), shape `[1]`.
    fn forward(&self, x: Tensor<5>, xhat: Tensor<5>) -> Tensor<1>;
}

/// The weighted loss and its weighted parts (for logging).
#[derive(Clone, Debug)]
pub struct LossTerms {
    /// Sum of the weighted terms, shape `[1]`.
    pub total: Tensor<1>,
    /// `(name, weighted value)`: "pixel", "perceptual", "gram", "kl", extras by name. Terms
    /// whose weight is 0 at this iteration are not computed and not listed.
    pub terms: Vec<(String, Tensor<1>)>,
}

impl LossTerms {
    /// The weighted terms as host numbers.
    pub fn values(&self) -> Vec<(String, f64)> {
        self.terms
            .iter()
            .map(|(n, t)| (n.clone(), t.clone().into_scalar::<f64>()))
            .collect()
    }
}

/// Pixel + perceptual + Gram + KL (+ extras). Holds the frozen VGG when needed.
///
/// On the Flex (CPU) device the VGG terms run on [`CpuVgg`], which computes the loss and its
/// gradient w.r.t. x̂ directly (the VGG is frozen, so nothing else needs a gradient); the
/// gradient enters the autodiff graph through the `perceptual` term (or `gram` when the
/// perceptual weight is 0). Only [`LossTerms::total`] is meant to be differentiated.
/// Other devices run [`Vgg16::features`] under burn's autodiff.
pub struct ReconLoss {
    cfg: LossConfig,
    vgg: Option<Vgg16>,
    cpu_vgg: Option<CpuVgg>,
    extras: Vec<(String, Schedule, Box<dyn ReconTerm>)>,
}

impl ReconLoss {
    /// Builds the loss; loads the VGG from `cfg.vgg_weights` unless the perceptual and Gram
    /// weights are 0 for the whole run. A missing file is an error naming the converter.
    pub fn new(cfg: &LossConfig, device: &Device) -> Result<Self, LossError> {
        cfg.validate()?;
        let vgg = if cfg.needs_vgg() {
            let path = cfg
                .vgg_weights
                .as_ref()
                .ok_or_else(|| LossError::MissingVggWeights {
                    path: "(`[loss] vgg_weights` not set)".into(),
                })?;
            Some(Vgg16::load(path, cfg.vgg_widths, device)?)
        } else {
            None
        };
        Self::with_vgg(cfg, vgg)
    }

    /// Runs the VGG of the perceptual and Gram terms in `dtype` (bf16 under mixed precision, as
    /// autocast does; see [`Vgg16::cast`]). The host-memory VGG used on Flex stays f32.
    pub fn set_vgg_dtype(&mut self, dtype: burn::tensor::FloatDType) {
        if self.cpu_vgg.is_none()
            && let Some(vgg) = self.vgg.take()
        {
            self.vgg = Some(vgg.cast(dtype));
        }
    }

    /// Uses an already built VGG (e.g. randomly initialised in tests).
    pub fn with_vgg(cfg: &LossConfig, vgg: Option<Vgg16>) -> Result<Self, LossError> {
        cfg.validate()?;
        if vgg.is_none() && cfg.needs_vgg() {
            return Err(LossError::MissingVggWeights {
                path: "(no VGG given)".into(),
            });
        }
        Ok(Self {
            cfg: cfg.clone(),
            cpu_vgg: vgg.as_ref().filter(|_| cfg.cpu_vgg).and_then(cpu_vgg_for),
            vgg,
            extras: Vec::new(),
        })
    }

    /// Turns the host-memory VGG ([`CpuVgg`]) on or off. It is on when the VGG lives on the
    /// Flex device and `[loss] cpu_vgg` is true (the default); off, the VGG terms run through
    /// burn's autodiff on any device.
    pub fn with_cpu_vgg(mut self, on: bool) -> Self {
        self.cpu_vgg = match (on, self.cpu_vgg.take()) {
            (false, _) => None,
            (true, Some(built)) => Some(built),
            (true, None) => self.vgg.as_ref().map(CpuVgg::new),
        };
        self
    }

    /// Whether the VGG terms run on [`CpuVgg`].
    pub fn uses_cpu_vgg(&self) -> bool {
        self.cpu_vgg.is_some()
    }

    /// Adds an extra term with its own schedule.
    pub fn with_term(mut self, name: &str, weight: Schedule, term: Box<dyn ReconTerm>) -> Self {
        self.extras.push((name.into(), weight, term));
        self
    }

    pub fn config(&self) -> &LossConfig {
        &self.cfg
    }

    pub fn vgg(&self) -> Option<&Vgg16> {
        self.vgg.as_ref()
    }

    /// Loss of x̂ against x ([B, 3, T, H, W], T = 1 for images) at iteration `iter`.
    pub fn forward(&self, x: Tensor<5>, xhat: Tensor<5>, iter: u64) -> LossTerms {
        self.forward_with(x, xhat, None, None, iter)
    }

    /// As [`forward`](Self::forward), with an optional pixel mask (broadcast to [B, C, T, H, W])
    /// and the VAE KL (`Posterior::kl`, shape `[1]`) when the model has one.
    pub fn forward_with(
        &self,
        x: Tensor<5>,
        xhat: Tensor<5>,
        mask: Option<Tensor<5>>,
        kl: Option<Tensor<1>>,
        iter: u64,
    ) -> LossTerms {
        let x = x.detach();
        let mut terms: Vec<(String, Tensor<1>)> = Vec::new();
        let wp = self.cfg.pixel_weight.at(iter);
        if wp != 0.0 {
            let l = pixel_loss(self.cfg.pixel, x.clone(), xhat.clone(), mask);
            terms.push(("pixel".into(), l.mul_scalar(wp)));
        }
        let wperc = self.cfg.perceptual_weight.at(iter);
        let wgram = self.cfg.gram_weight.at(iter);
        if (wperc != 0.0 || wgram != 0.0)
            && let Some(vgg) = &self.vgg
        {
            if let Some(cpu) = &self.cpu_vgg {
                terms.extend(cpu_vgg_terms(
                    cpu,
                    &x,
                    &xhat,
                    wperc,
                    wgram,
                    self.cfg.gram_mode,
                ));
            } else {
                let f = FeaturePair::compute(vgg, x.clone(), xhat.clone());
                if wperc != 0.0 {
                    terms.push(("perceptual".into(), f.perceptual().mul_scalar(wperc)));
                }
                if wgram != 0.0 {
                    terms.push(("gram".into(), f.gram(self.cfg.gram_mode).mul_scalar(wgram)));
                }
            }
        }
        if let Some(kl) = kl {
            let wk = self.cfg.kl_weight.at(iter);
            if wk != 0.0 {
                terms.push(("kl".into(), kl.mul_scalar(wk)));
            }
        }
        for (name, w, term) in &self.extras {
            let w = w.at(iter);
            if w != 0.0 {
                terms.push((
                    name.clone(),
                    term.forward(x.clone(), xhat.clone()).mul_scalar(w),
                ));
            }
        }
        let total = terms
            .iter()
            .map(|(_, t)| t.clone())
            .reduce(|a, b| a.add(b))
            .unwrap_or_else(|| xhat.sum().mul_scalar(0.0));
        LossTerms { total, terms }
    }
}

/// The host-memory VGG for a VGG on the Flex device.
fn cpu_vgg_for(vgg: &Vgg16) -> Option<CpuVgg> {
    let device = vgg.convs.first()?.weight.device();
    (device.inner() == Device::flex()).then(|| CpuVgg::new(vgg))
}

/// The weighted perceptual / Gram terms from [`CpuVgg::loss`]. Their values are constants; the
/// gradient g of `wperc·perceptual + wgram·gram` w.r.t. x̂ enters the graph as
/// `Σ (x̂ − detach(x̂)) · g`, which is exactly 0 in value and has gradient g. It rides on the
/// first term listed.
fn cpu_vgg_terms(
    cpu: &CpuVgg,
    x: &Tensor<5>,
    xhat: &Tensor<5>,
    wperc: f64,
    wgram: f64,
    mode: crate::config::GramMode,
) -> Vec<(String, Tensor<1>)> {
    let dims = xhat.dims();
    let host = |t: &Tensor<5>| {
        t.to_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 after convert")
    };
    let out = cpu.loss(&host(x), &host(xhat), dims, wperc, wgram, mode);
    let device = xhat.device();
    let grad = Tensor::<5>::from_data(TensorData::new(out.grad, dims), &device);
    let carrier = xhat.clone().sub(xhat.clone().detach()).mul(grad).sum();
    let value = |v: f64| Tensor::<1>::from_floats([v as f32], &device);
    let mut carrier = Some(carrier);
    let mut terms = Vec::new();
    for (name, w, v) in [
        ("perceptual", wperc, out.perceptual),
        ("gram", wgram, out.gram),
    ] {
        if w != 0.0 {
            let t = value(v * w);
            let t = match carrier.take() {
                Some(c) => c.add(t),
                None => t,
            };
            terms.push((name.to_string(), t));
        }
    }
    terms
}
