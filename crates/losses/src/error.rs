//! Errors of the loss crate: each names the file / key / field and what was expected.

use std::path::PathBuf;

/// The command that produces the VGG-16 weights file (quoted in errors).
pub const CONVERTER_COMMAND: &str =
    "python3 scripts/convert_vgg16.py --out weights/vgg16.safetensors";

#[derive(Debug, thiserror::Error)]
pub enum LossError {
    /// The perceptual/Gram loss is enabled but no weights file is configured or it is missing.
    #[error(
        "VGG-16 weights {path}: file not found (perceptual/Gram loss enabled). Create it with \
         `cosmotok fetch vgg16` or `{CONVERTER_COMMAND}` (torchvision IMAGENET1K_V1, needs \
         internet once) and set `[loss] vgg_weights` to its path"
    )]
    MissingVggWeights { path: String },
    /// The weights file exists but a tensor is missing or has the wrong shape / dtype.
    #[error("VGG-16 weights {path}: key `{key}`: {problem}")]
    BadVggWeights {
        path: PathBuf,
        key: String,
        problem: String,
    },
    /// The discriminator cannot take an input of this shape.
    #[error("discriminator input {shape:?} ([B, C, T, H, W]): {problem}")]
    DiscInput { shape: [usize; 5], problem: String },
    /// A loss configuration value is out of range.
    #[error("invalid loss config: `{field}` = {value}: {expected}")]
    Config {
        field: String,
        value: String,
        expected: String,
    },
}

pub(crate) fn bad_config(field: &str, value: impl std::fmt::Debug, expected: &str) -> LossError {
    LossError::Config {
        field: field.into(),
        value: format!("{value:?}"),
        expected: expected.into(),
    }
}
