//! cosmotok-model: the NVIDIA Cosmos causal wavelet tokenizers (image/video, AE/VAE/FSQ) in
//! Burn, weight-compatible with the official PyTorch state_dicts. No I/O beyond weights.
//!
//! The architecture is described in `docs/architecture.md` (with the public NVIDIA sources it
//! follows); `§N` in comments refers to its sections.

pub mod attention;
pub mod bottleneck;
pub mod causal_conv;
pub mod config;
pub mod decoder2d;
pub mod decoder3d;
pub mod downsample;
pub mod encoder2d;
pub mod encoder3d;
pub mod fsq;
pub mod norm;
pub mod precision;
pub mod resnet;
pub mod stream;
pub mod tiling;
pub mod tokenizer;
pub mod upsample;
pub mod wavelet;

pub use config::{ConfigError, Formulation, Modality, PatchMethod, SamplerConvs, TokenizerConfig};
pub use fsq::Fsq;
pub use tokenizer::{Encoded, Tokenizer};
pub mod infer;
pub mod params;
pub mod presets;
pub mod weights;
