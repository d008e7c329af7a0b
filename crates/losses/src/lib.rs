//! cosmotok-losses: the training losses of the Cosmos tokenizer recipe (spec §9.2) plus the
//! adversarial fine-tuning stage the paper mentions but NVIDIA never released.
//!
//! * [`ReconLoss`]: pixel L1/L2 (optional mask), VGG-16 perceptual and Gram-matrix losses, the
//!   VAE KL term, each weighted by a [`Schedule`] of the iteration; extra terms (e.g. a RAFT
//!   optical-flow loss) plug in through [`ReconTerm`].
//! * [`Discriminator`]: 2-D / 3-D / frame-wise PatchGAN with group, spectral or no norm;
//!   [`d_loss`] / [`g_loss`] (hinge, non-saturating), [`LeCam`], [`r1_penalty`],
//!   [`adaptive_weight`] and [`combine_grads`] for the generator step.
//!
//! Section numbers refer to `shared/spec/cosmos-architecture.md`.

pub mod adaptive;
pub mod config;
pub mod discriminator;
pub mod error;
pub mod gan;
pub mod lecam;
pub mod perceptual;
pub mod pixel;
pub mod r1;
pub mod recon;
pub mod schedule;
pub mod spectral_norm;
pub mod vgg;

pub use adaptive::{adaptive_weight, adaptive_weight_tensors, combine_grads};
pub use config::{AdvConfig, DiscKind, DiscNorm, GanLoss, GramMode, LossConfig, PixelKind};
pub use discriminator::Discriminator;
pub use error::LossError;
pub use gan::{d_loss, g_loss};
pub use lecam::LeCam;
pub use r1::{r1_penalty, r1_value};
pub use recon::{LossTerms, ReconLoss, ReconTerm};
pub use schedule::Schedule;
pub use vgg::Vgg16;
