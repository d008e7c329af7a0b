//! Run logging: one JSON object per log step in `<run>/metrics.jsonl` (what
//! `scripts/wandb_sync.py` replays into Weights & Biases), and a progress bar (indicatif) with
//! step, losses, learning rate, samples/s and ETA on the terminal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};

/// Appends metric records to `metrics.jsonl` (flushed after every line, so a crash loses
/// nothing already logged).
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    pub fn open(run_dir: &Path) -> Result<MetricsLog> {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create `{}`", run_dir.display()))?;
        let path = run_dir.join("metrics.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        Ok(MetricsLog { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `{"kind": kind, "step": step, ...fields}` as one line.
    pub fn write(&mut self, kind: &str, step: u64, fields: &[(String, f64)]) -> Result<()> {
        let mut m = Map::new();
        m.insert("kind".into(), Value::from(kind));
        m.insert("step".into(), Value::from(step));
        m.insert(
            "time".into(),
            Value::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            ),
        );
        for (k, v) in fields {
            // JSON has no NaN/Inf: write them as strings so the line stays valid.
            let v = if v.is_finite() {
                Value::from(*v)
            } else {
                Value::from(v.to_string())
            };
            m.insert(k.clone(), v);
        }
        let line = serde_json::to_string(&Value::Object(m))?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write `{}`", self.path.display()))
    }
}

/// The terminal progress bar (hidden when stderr is not a terminal or `quiet`).
pub fn progress_bar(total: u64, start: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {wide_msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    bar
}

/// `name=value` pairs for the progress bar message.
pub fn summary(fields: &[(String, f64)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            if k == "lr" {
                format!("{k}={v:.2e}")
            } else if k.ends_with("_mib") {
                format!("{k}={v:.0}")
            } else {
                format!("{k}={v:.4}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
