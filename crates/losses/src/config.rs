//! The `[loss]` table of the training TOML: every term's weight schedule, the VGG weights, and
//! the adversarial stage (`[loss.adversarial]`). Defaults are the docs/architecture.md §9.2 recipe
//! (L1 1.0, perceptual 0.1→0.073 at 500k, Gram 0→0.062 at 500k, KL 1e-6) with the GAN off.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{LossError, bad_config};
use crate::schedule::Schedule;

/// Pixel reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PixelKind {
    /// |x − x̂| (the Cosmos `color` loss).
    #[default]
    L1,
    /// (x − x̂)².
    L2,
}

/// How the Gram matrix of a video's features is normalised (docs/architecture.md §9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GramMode {
    /// One C×C matrix per clip over all T·H·W positions, divided by T·H·W (Cosmos).
    #[default]
    Clip,
    /// One C×C matrix per frame, divided by H·W (identical to `clip` for images).
    Frame,
}

/// Discriminator architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DiscKind {
    /// 2-D PatchGAN on images (T must be 1).
    #[default]
    Patch2d,
    /// 3-D PatchGAN on clips (4×4×4 kernels).
    Patch3d,
    /// 2-D PatchGAN applied to every frame of a clip.
    Frames2d,
}

/// Normalisation inside the discriminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DiscNorm {
    /// GroupNorm after every inner conv (groups = gcd(channels, `groups`)).
    #[default]
    Group,
    /// Spectral normalisation of every conv weight (one power iteration per step).
    Spectral,
    /// Plain convs.
    None,
}

/// Adversarial loss formulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    #[default]
    Hinge,
    NonSaturating,
}

/// `[loss.adversarial]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvConfig {
    pub enabled: bool,
    pub disc: DiscKind,
    pub norm: DiscNorm,
    /// Channels of the first conv (doubled per layer, capped at 8×).
    pub channels: usize,
    /// Strided inner layers (taming `n_layers`).
    pub n_layers: usize,
    /// GroupNorm group count upper bound.
    pub groups: usize,
    /// 3-D only: how many leading convs also stride 2 in time (the rest stride 1).
    pub temporal_downsamples: usize,
    pub loss: GanLoss,
    /// No adversarial term before this iteration.
    pub start_iter: u64,
    /// Linear warm-up of the adversarial factor over this many iterations after `start_iter`.
    pub warmup: u64,
    /// Generator-side adversarial weight (`disc_weight`), times the adaptive weight.
    pub weight: Schedule,
    /// LeCam regularisation weight (0 = off) and its EMA decay.
    pub lecam_weight: f64,
    pub lecam_decay: f64,
    /// R1 γ (0 = off).
    pub r1_weight: f64,
    /// Clamp of the adaptive weight.
    pub adaptive_max: f64,
    /// Discriminator AdamW.
    pub lr: f64,
    pub betas: (f64, f64),
}

impl Default for AdvConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            disc: DiscKind::Patch2d,
            norm: DiscNorm::Group,
            channels: 64,
            n_layers: 3,
            groups: 32,
            temporal_downsamples: 1,
            loss: GanLoss::Hinge,
            start_iter: 0,
            warmup: 0,
            weight: Schedule::Constant(1.0),
            lecam_weight: 0.0,
            lecam_decay: 0.99,
            r1_weight: 0.0,
            adaptive_max: 1e4,
            lr: 4e-4,
            betas: (0.5, 0.999),
        }
    }
}

impl AdvConfig {
    /// Start/warm-up factor: 0 before `start_iter`, then linear up to 1 over `warmup` iters.
    pub fn factor(&self, iter: u64) -> f64 {
        if !self.enabled || iter < self.start_iter {
            0.0
        } else if self.warmup == 0 {
            1.0
        } else {
            (((iter - self.start_iter + 1) as f64) / self.warmup as f64).min(1.0)
        }
    }

    pub fn validate(&self) -> Result<(), LossError> {
        let f = |n: &str| format!("adversarial.{n}");
        if self.channels == 0 {
            return Err(bad_config(&f("channels"), self.channels, "at least 1"));
        }
        if self.n_layers == 0 {
            return Err(bad_config(&f("n_layers"), self.n_layers, "at least 1"));
        }
        if self.groups == 0 {
            return Err(bad_config(&f("groups"), self.groups, "at least 1"));
        }
        self.weight.validate(&f("weight"))?;
        for (n, v) in [
            ("lecam_weight", self.lecam_weight),
            ("r1_weight", self.r1_weight),
            ("adaptive_max", self.adaptive_max),
            ("lr", self.lr),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad_config(&f(n), v, "a finite non-negative number"));
            }
        }
        if !(0.0..1.0).contains(&self.lecam_decay) {
            return Err(bad_config(&f("lecam_decay"), self.lecam_decay, "in [0, 1)"));
        }
        Ok(())
    }
}

/// `[loss]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    pub pixel: PixelKind,
    pub pixel_weight: Schedule,
    pub perceptual_weight: Schedule,
    pub gram_weight: Schedule,
    pub gram_mode: GramMode,
    /// Only used for VAE posteriors.
    pub kl_weight: Schedule,
    /// safetensors from `scripts/convert_vgg16.py`; required when perceptual/Gram is ever on.
    pub vgg_weights: Option<PathBuf>,
    /// VGG-16 block widths (the real network: [64, 128, 256, 512, 512]).
    pub vgg_widths: [usize; 5],
    /// On the Flex (CPU) device, run the frozen VGG on the host-memory kernels of
    /// [`CpuVgg`](crate::CpuVgg) (default) instead of burn's autodiff. Same losses and
    /// gradients (tests hold them to ≤ 1e-5 of each other and of PyTorch); other devices
    /// always use burn's path.
    pub cpu_vgg: bool,
    pub adversarial: AdvConfig,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            pixel: PixelKind::L1,
            pixel_weight: Schedule::Constant(1.0),
            perceptual_weight: Schedule::Piecewise {
                steps: vec![(0, 0.1), (500_000, 0.073)],
            },
            gram_weight: Schedule::Piecewise {
                steps: vec![(500_000, 0.062)],
            },
            gram_mode: GramMode::Clip,
            kl_weight: Schedule::Constant(1e-6),
            vgg_weights: None,
            vgg_widths: crate::vgg::VGG16_WIDTHS,
            cpu_vgg: true,
            adversarial: AdvConfig::default(),
        }
    }
}

impl LossConfig {
    /// True when the VGG is needed at some iteration.
    pub fn needs_vgg(&self) -> bool {
        !(self.perceptual_weight.is_always_zero() && self.gram_weight.is_always_zero())
    }

    pub fn validate(&self) -> Result<(), LossError> {
        self.pixel_weight.validate("pixel_weight")?;
        self.perceptual_weight.validate("perceptual_weight")?;
        self.gram_weight.validate("gram_weight")?;
        self.kl_weight.validate("kl_weight")?;
        if self.vgg_widths.contains(&0) {
            return Err(bad_config("vgg_widths", self.vgg_widths, "positive widths"));
        }
        self.adversarial.validate()
    }
}
