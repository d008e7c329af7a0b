//! burn's `Dataset` on both sides of cosmotok's loader:
//!
//! * [`BurnClips`]: any `burn::data::dataset::Dataset<ClipItem>` (clips you already hold:
//!   decoded frames, a simulator's renders, another library's dataset mapped to
//!   [`ClipItem`]s) as a clip source of [`Loader::with_provider`], which buckets, augments,
//!   batches and resumes them like files.
//! * [`ClipDataset`]: a loader's clip sources as a `Dataset<Batch>` (one clip per item, cropped
//!   to its bucket), for code built on burn's data tools (`DataLoaderBuilder`,
//!   `ShuffledDataset`, `PartialDataset`, …).
//!
//! The training loop itself keeps cosmotok's loader: burn's `DataLoader` can neither keep a
//! batch inside one aspect-ratio bucket nor resume in the middle of an epoch.

use std::sync::Arc;

use anyhow::{Result, bail};
use burn::data::dataset::{Dataset, DatasetError};
use cosmotok_data::provider::{ClipInfo, ClipProvider};
use cosmotok_data::{Batch, Clips, DataConfig, Loader, Mode};
use image::RgbImage;

/// One clip of a user dataset: RGB frames of one size (one frame: an image).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipItem {
    pub frames: Vec<RgbImage>,
    /// Frame rate, when known (used by `data.target_fps`).
    pub fps: Option<f64>,
    /// How the clip is named in logs and batch sources (default `clip <i>`).
    pub name: Option<String>,
}

/// A burn `Dataset` of [`ClipItem`]s as a [`ClipProvider`].
pub struct BurnClips<D>(pub D);

impl<D: Dataset<ClipItem>> BurnClips<D> {
    fn item(&self, i: usize) -> Result<ClipItem> {
        if i >= self.0.len() {
            bail!("clip {i}: out of range (the dataset has {})", self.0.len());
        }
        self.0
            .get(i)
            .map_err(|e| anyhow::anyhow!("clip {i} of the dataset: {e}"))
    }
}

impl<D: Dataset<ClipItem>> ClipProvider for BurnClips<D> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn info(&self, i: usize) -> Result<ClipInfo> {
        let item = self.item(i)?;
        let Some(first) = item.frames.first() else {
            bail!("clip {i} of the dataset has no frames");
        };
        if let Some(f) = item
            .frames
            .iter()
            .find(|f| f.dimensions() != first.dimensions())
        {
            bail!(
                "clip {i} of the dataset: frames differ in size ({:?} vs {:?})",
                f.dimensions(),
                first.dimensions()
            );
        }
        Ok(ClipInfo {
            frames: item.frames.len(),
            width: first.width() as usize,
            height: first.height() as usize,
            fps: item.fps,
        })
    }

    fn frames(&self, i: usize, indices: &[usize]) -> Result<Vec<RgbImage>> {
        let item = self.item(i)?;
        indices
            .iter()
            .map(|&k| {
                item.frames.get(k).cloned().ok_or_else(|| {
                    anyhow::anyhow!(
                        "clip {i}: frame {k} asked for, it has {}",
                        item.frames.len()
                    )
                })
            })
            .collect()
    }

    fn name(&self, i: usize) -> String {
        match self.0.get(i).ok().and_then(|c| c.name) {
            Some(n) => n,
            None => format!("clip {i}"),
        }
    }
}

/// A loader over the clips of a burn `Dataset` (and `cfg`'s sources, if any).
pub fn loader_from_dataset<D: Dataset<ClipItem> + 'static>(
    cfg: &DataConfig,
    mode: Mode,
    dataset: D,
) -> Result<Loader> {
    Loader::with_provider(cfg, mode, Arc::new(BurnClips(dataset)))
}

/// A loader's clip sources as a burn `Dataset<Batch>` (see [`Clips`]).
#[derive(Clone)]
pub struct ClipDataset(pub Clips);

impl ClipDataset {
    /// The clip sources of `cfg` in `mode` (indexes them; decodes nothing yet).
    pub fn new(cfg: &DataConfig, mode: Mode) -> Result<ClipDataset> {
        Ok(ClipDataset(Loader::new(cfg, mode)?.clips()))
    }
}

impl Dataset<Batch> for ClipDataset {
    fn get(&self, index: usize) -> Result<Batch, DatasetError> {
        match self.0.get(index) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(DatasetError::new(std::io::Error::other(format!(
                "clip {index}: no clip of its bucket could be loaded"
            )))),
            Err(e) => Err(DatasetError::new(std::io::Error::other(format!("{e:#}")))),
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}
