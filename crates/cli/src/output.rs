//! How the CLI writes a file it produces (weights, tensors, JSON reports): its folder created,
//! then the bytes written atomically ([`cosmotok_model::weights::write_file_atomic`]), so an
//! interrupted command never leaves a half-written file.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` (creating the folder), readable as the umask allows.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    cosmotok_data::ensure_parent_dir(path)?;
    cosmotok_model::weights::write_file_atomic(path, bytes)
        .with_context(|| format!("cannot write `{}`", path.display()))
}
