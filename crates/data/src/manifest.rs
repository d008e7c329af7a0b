//! JSONL manifests: one clip per line,
//! `{"path": "clips/a.mp4", "start": 10, "end": 60, "fps": 30, "caption": "...", "meta": {...}}`.
//!
//! `path` is required (relative paths are relative to the manifest's directory) and may be a
//! video, an image or a frame folder; `start` / `end` (frame indices, `end` exclusive) restrict
//! the frames clips are drawn from; `fps` overrides the file's frame rate (used with
//! `target_fps`); `caption` and `meta` are carried along. Empty lines and lines starting with
//! `#` are ignored.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use serde::Deserialize;

use crate::shown;

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Media path (resolved against the manifest directory).
    pub path: PathBuf,
    /// First usable frame.
    #[serde(default)]
    pub start: Option<usize>,
    /// One past the last usable frame.
    #[serde(default)]
    pub end: Option<usize>,
    /// Frame rate override.
    #[serde(default)]
    pub fps: Option<f64>,
    /// Free text.
    #[serde(default)]
    pub caption: Option<String>,
    /// Free metadata.
    #[serde(default)]
    pub meta: Option<serde_json::Value>,
}

/// Reads a manifest: `Ok` lines as entries, malformed lines as `(line number, error)` so the
/// caller can skip and count them. A missing or unreadable file is an error.
pub fn read_manifest(path: &Path) -> Result<Vec<std::result::Result<ManifestEntry, String>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("{}: cannot read manifest: {e}", shown(path)))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            serde_json::from_str::<ManifestEntry>(line)
                .map_err(|e| format!("{}:{}: bad manifest line: {e}", shown(path), i + 1))
                .and_then(|mut e| {
                    if e.path.is_relative() {
                        e.path = base.join(&e.path);
                    }
                    match (e.start, e.end) {
                        (Some(s), Some(t)) if t <= s => Err(format!(
                            "{}:{}: start = {s} must be below end = {t}",
                            shown(path),
                            i + 1
                        )),
                        _ => Ok(e),
                    }
                }),
        );
    }
    Ok(out)
}
