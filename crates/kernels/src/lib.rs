//! cosmotok-kernels: the CPU kernels behind cosmotok on burn's Flex backend, registered as burn
//! backend extensions (forward and backward). Each is tested against burn's own op or a
//! plain-tensor version of it (`flex_norm::reference`, `silu::backward_with_ops`), which is
//! also what other devices run.
//!
//! | op | kernel | used by |
//! |---|---|---|
//! | causal conv3d: forward, input and weight gradients | [`conv_grad::conv3d`] (autodiff op) over [`flex_conv`] (im2col / GEMM), [`flex_winograd`] (3×3 spatial convs as Winograd F(4×4, 3×3)) and [`flex_temporal`] (kt×1×1 convs as one GEMM per tap) | cosmotok-model `causal_conv.rs` |
//! | per-frame norm (GroupNorm-1 per frame) | [`flex_norm::frame_norm`] | cosmotok-model `norm.rs` |
//! | one 3-D Haar level and its inverse | [`flex_haar::haar3d`] | cosmotok-model `wavelet.rs` |
//! | SiLU | [`silu::silu`] | the model's resnet and norm stacks |
//! | host-memory 3×3 conv on a padded NHWC buffer | [`winograd::Winograd`], [`padded_nhwc::PaddedNhwc`] | the VGG of cosmotok-losses (`vgg_cpu.rs`) |
//!
//! [`pool::in_pool`] runs a flow on rayon's pool threads (where these kernels start their
//! parallel work without waking the pool). [`bench`] holds the helpers of the kernel
//! benchmarks (`examples/`). Every `applies` function says when a kernel takes over (Flex and
//! f32); elsewhere burn's own ops run.

pub mod bench;
pub mod conv_grad;
pub mod flex_conv;
pub mod flex_haar;
mod flex_host;
pub mod flex_norm;
pub mod flex_temporal;
pub mod flex_winograd;
pub mod padded_nhwc;
pub mod pool;
pub mod silu;
pub mod winograd;
