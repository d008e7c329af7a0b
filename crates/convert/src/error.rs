//! Errors of reading and converting PyTorch archives; every one names the file.

use std::path::PathBuf;

use crate::pickle::PickleError;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a PyTorch zip archive (TorchScript .jit or torch.save .pt): {reason}")]
    NotZip { path: PathBuf, reason: String },
    #[error("`{path}`: cannot read the archive entry `{entry}`: {reason}")]
    Entry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("`{path}` has no `<archive>/data.pkl` entry (entries: {entries})")]
    NoDataPkl { path: PathBuf, entries: String },
    /// The pickle names a global outside the allow-list; nothing was run.
    #[error(
        "refusing to load `{path}`: pickle references `{global}`, which is not a tensor or container type"
    )]
    Refused { path: PathBuf, global: String },
    #[error("`{path}`: `{entry}`: {source}")]
    Pickle {
        path: PathBuf,
        entry: String,
        #[source]
        source: PickleError,
    },
    #[error("`{path}`: tensor `{key}`: {reason}")]
    Tensor {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("`{path}`: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("cannot write `{path}`: {reason}")]
    Write { path: PathBuf, reason: String },
}
