//! Clips that do not come from files: a [`ClipProvider`] hands the loader its clips' sizes and
//! frames, and [`crate::Loader::with_provider`] buckets, batches, augments and resumes them
//! like any other source. cosmotok-train wraps any burn `Dataset` of clips as a provider
//! (`cosmotok_train::dataset`).

use anyhow::Result;
use image::RgbImage;

use crate::index::{IndexEntry, MediaInfo, MediaKind, Skipped};

/// Size and length of one provided clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipInfo {
    /// Frames (1: an image).
    pub frames: usize,
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frame rate, when known.
    pub fps: Option<f64>,
}

/// A random-access collection of clips.
pub trait ClipProvider: Send + Sync {
    /// Number of clips.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Size and length of clip `i`.
    fn info(&self, i: usize) -> Result<ClipInfo>;
    /// Frames `indices` (increasing; within `0..info(i).frames`) of clip `i`, all of one size.
    fn frames(&self, i: usize, indices: &[usize]) -> Result<Vec<RgbImage>>;
    /// How clip `i` is named in logs and batch sources.
    fn name(&self, i: usize) -> String {
        format!("clip {i}")
    }
}

/// The index entries of a provider's clips (those whose info cannot be read are skipped).
pub(crate) fn entries(p: &dyn ClipProvider, repeat: usize) -> (Vec<IndexEntry>, Vec<Skipped>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..p.len() {
        match p.info(i) {
            Ok(c) if c.frames > 0 && c.width > 0 && c.height > 0 => entries.push(IndexEntry {
                path: p.name(i).into(),
                info: MediaInfo {
                    kind: MediaKind::Provided,
                    frames: c.frames,
                    width: c.width,
                    height: c.height,
                    fps: c.fps,
                    decoded: None,
                    variable_rate: false,
                },
                first: 0,
                frames: c.frames,
                fps: c.fps,
                caption: None,
                repeat,
                label: None,
                provided: Some(i),
            }),
            Ok(c) => skipped.push(Skipped {
                path: p.name(i),
                reason: format!("{}: empty clip ({c:?})", p.name(i)),
            }),
            Err(e) => skipped.push(Skipped {
                path: p.name(i),
                reason: format!("{}: {e:#}", p.name(i)),
            }),
        }
    }
    (entries, skipped)
}
