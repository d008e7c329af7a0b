//! cosmotok-losses: the training losses of the Cosmos tokenizer recipe (docs/architecture.md §9.2)
//! plus the adversarial fine-tuning stage the paper mentions but NVIDIA never released.
//!
//! * [`ReconLoss`]: pixel L1/L2 (optional mask), VGG-16 perceptual and Gram-matrix losses, the
//!   VAE KL term, each weighted by a [`Schedule`] of the iteration; extra terms (e.g. a RAFT
//!   optical-flow loss) plug in through [`ReconTerm`].
//! * [`CpuVgg`]: the frozen VGG-16 on host memory (NHWC, Winograd F(4×4, 3×3)), loss and
//!   gradient w.r.t. x̂ only — what `ReconLoss` runs on the Flex device.
//! * [`Discriminator`]: 2-D / 3-D / frame-wise PatchGAN with group, spectral or no norm;
//!   [`d_loss`] / [`g_loss`] (hinge, non-saturating), [`LeCam`], [`r1_penalty`],
//!   [`adaptive_weight`] and [`combine_grads`] for the generator step.
//!
//! Section numbers (`§N`) refer to `docs/architecture.md`.
//!
//! # The `[loss]` table
//!
//! ```toml
//! [loss]
//! pixel = "l1"                                     # or "l2"
//! pixel_weight = 1.0                               # constant
//! perceptual_weight = [[0, 0.1], [500000, 0.073]]  # piecewise constant (value from step on)
//! gram_weight = [[500000, 0.062]]                  # 0 before the first step
//! gram_mode = "clip"                               # or "frame"
//! kl_weight = 1e-6
//! vgg_weights = "weights/vgg16.safetensors"        # python3 scripts/convert_vgg16.py --out …
//! cpu_vgg = true                                   # Flex: VGG on CpuVgg's kernels (false: burn autodiff)
//! [loss.adversarial]
//! enabled = true
//! disc = "patch3d"                                 # patch2d | patch3d | frames2d
//! norm = "group"                                   # group | spectral | none
//! loss = "hinge"                                   # or "non_saturating"
//! start_iter = 100000
//! warmup = 5000
//! weight = { start = 100000, end = 200000, from = 0.1, to = 0.5 }  # linear ramp
//! lecam_weight = 0.001
//! r1_weight = 0.0
//! ```
//!
//! # How the trainer uses them
//!
//! `cosmotok_train::Trainer::step` (crates/train/src/trainer.rs), per step:
//!
//! ```text
//! generator_pass:      for each micro-batch
//!     x̂ = model(x); terms = recon.forward_with(x, x̂, mask, kl, it); g_rec = ∇ terms.total
//!     if adv.factor(it) > 0:                                   // adversarial_grads
//!         g_adv = ∇ g_loss(disc.forward(model(x)), adv.loss)   // a second forward
//!         w = adaptive_weight_tensors(g_rec[LAST], g_adv[LAST], adv.adaptive_max)
//!         g_adv ·= w · adv.weight.at(it) · adv.factor(it)
//!     grads += g_rec + g_adv
//! clip_global_norm(grads); non-finite → skip (and roll back after max_bad_steps)
//! model = AdamW(model, grads); ema.update(model)
//! discriminator_step:  on the last micro-batch's (x, x̂.detach())
//!     loss = d_loss(disc(x), disc(x̂), kind) + lecam_weight · lecam.penalty(…)
//!            + r1_penalty(&disc, x, r1_weight);  lecam.update(…)
//!     disc = AdamW_d(adv.lr, disc, ∇ loss).power_iteration()   // spectral-norm state
//! ```
//! `LAST` is `decoder.conv_out.weight` (image models) or `decoder.conv_out.1.conv3d.weight`
//! (video models). `tests/gan_run.rs` runs the same loop on a toy problem.

pub mod adaptive;
pub mod config;
pub mod discriminator;
pub mod error;
pub mod gan;
pub mod lecam;
pub mod lpips;
pub mod perceptual;
pub mod pixel;
pub mod r1;
pub mod recon;
pub mod schedule;
pub mod spectral_norm;
pub mod vgg;
pub mod vgg_cpu;

pub use adaptive::{adaptive_weight, adaptive_weight_tensors, combine_grads};
pub use config::{AdvConfig, DiscKind, DiscNorm, GanLoss, GramMode, LossConfig, PixelKind};
pub use discriminator::Discriminator;
pub use error::LossError;
pub use gan::{d_loss, g_loss};
pub use lecam::LeCam;
pub use lpips::Lpips;
pub use r1::{r1_penalty, r1_value};
pub use recon::{LossTerms, ReconLoss, ReconTerm};
pub use schedule::Schedule;
pub use vgg::Vgg16;
pub use vgg_cpu::CpuVgg;
