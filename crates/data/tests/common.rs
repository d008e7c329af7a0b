//! Shared helpers for the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `assets/media` at the workspace root.
pub fn media() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/media")
}

/// A fresh, unique, empty temporary directory (removed by [`TempDir`]'s `Drop`).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "cosmotok-data-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Frame `t` of `f` as raw RGB bytes.
pub fn frame_bytes(f: &cosmotok_data::Frames, t: usize) -> Vec<u8> {
    f.to_rgb8(t).into_raw()
}

/// A tiny custom bucket table (crops of 32–64 px) so loader tests run in seconds.
pub fn tiny_buckets() -> Vec<cosmotok_data::BucketSpec> {
    let b = |ratio: &str, resize: [u32; 2], crop: [u32; 2]| cosmotok_data::BucketSpec {
        ratio: ratio.into(),
        resize,
        crop,
    };
    vec![
        b("1:1", [48, 48], [48, 48]),
        b("4:3", [64, 48], [64, 48]),
        b("3:4", [48, 64], [48, 64]),
        b("16:9", [86, 48], [80, 48]),
        b("9:16", [48, 86], [48, 80]),
    ]
}

/// A tiny config over `sources` (auto kind): 9-frame clips, batch 2, tiny buckets.
pub fn tiny_config(sources: &[&Path]) -> cosmotok_data::DataConfig {
    cosmotok_data::DataConfig {
        sources: sources
            .iter()
            .map(|p| cosmotok_data::SourceConfig::auto(*p))
            .collect(),
        num_frames: 9,
        buckets: tiny_buckets(),
        batch_size: 2,
        workers: 2,
        prefetch: 3,
        seed: 7,
        ..cosmotok_data::DataConfig::default()
    }
}
