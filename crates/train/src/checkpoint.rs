//! Training checkpoints: one directory per step under `<run>/checkpoints/step_NNNNNNNN/`,
//! written atomically — every file goes into a scratch directory `.tmp-step_…`, is fsynced,
//! and the directory is renamed into place (then the parent is fsynced). A crash at any point
//! leaves the previous checkpoints intact; scratch directories are ignored and cleaned up.
//! After a successful save only the newest `keep_last` checkpoints are kept.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const PREFIX: &str = "step_";
const TMP_PREFIX: &str = ".tmp-";
/// The file that completes a checkpoint (written last, so its presence means "complete").
pub const STATE_FILE: &str = "state.json";

/// The checkpoints of one run directory.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Checkpoints {
        Checkpoints {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the checkpoint of `step`.
    pub fn path(&self, step: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{step:08}"))
    }

    /// Complete checkpoints, oldest first.
    pub fn list(&self) -> Vec<(u64, PathBuf)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, PathBuf)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let step = name.strip_prefix(PREFIX)?.parse::<u64>().ok()?;
                let p = e.path();
                p.join(STATE_FILE).is_file().then_some((step, p))
            })
            .collect();
        v.sort();
        v
    }

    /// The newest complete checkpoint.
    pub fn latest(&self) -> Option<(u64, PathBuf)> {
        self.list().pop()
    }

    /// Writes a checkpoint: `write` fills the scratch directory (it must write [`STATE_FILE`]
    /// last or not at all — this function checks it exists), then the directory is published
    /// atomically. On error nothing is published and the scratch directory is removed.
    pub fn save(
        &self,
        step: u64,
        keep_last: usize,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create `{}`", self.dir.display()))?;
        let final_dir = self.path(step);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{PREFIX}{step:08}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ok();
        }
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
        let result = write(&tmp).and_then(|_| {
            if !tmp.join(STATE_FILE).is_file() {
                bail!("checkpoint writer did not write {STATE_FILE}");
            }
            sync_dir_files(&tmp)
        });
        if let Err(e) = result {
            fs::remove_dir_all(&tmp).ok();
            return Err(e.context(format!("checkpoint of step {step} not saved")));
        }
        if final_dir.exists() {
            // Re-saving the same step (e.g. after a roll-back): replace it.
            fs::remove_dir_all(&final_dir)
                .with_context(|| format!("cannot replace `{}`", final_dir.display()))?;
        }
        fs::rename(&tmp, &final_dir).with_context(|| {
            format!(
                "cannot rename `{}` to `{}`",
                tmp.display(),
                final_dir.display()
            )
        })?;
        sync_dir(&self.dir);
        self.prune(keep_last);
        Ok(final_dir)
    }

    /// Deletes all but the newest `keep_last` complete checkpoints, and stale scratch dirs.
    pub fn prune(&self, keep_last: usize) {
        let list = self.list();
        if list.len() > keep_last {
            for (_, p) in &list[..list.len() - keep_last] {
                fs::remove_dir_all(p).ok();
            }
        }
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    fs::remove_dir_all(e.path()).ok();
                }
            }
        }
    }
}

/// Writes `bytes` to `path` through a scratch file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync `{}`", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

fn sync_dir_files(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        if e.path().is_file() {
            fs::File::open(e.path())
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync `{}`", e.path().display()))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// fsync of a directory (makes renames durable); best effort on platforms that refuse it.
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
