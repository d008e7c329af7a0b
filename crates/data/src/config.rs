//! [`DataConfig`]: the `[data]` table of a training TOML (sources, clip length, buckets,
//! augmentations, batching, workers, seed).

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::bucket::BucketSpec;
use crate::lerobot::EpisodeSet;

/// What a source path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Decided from the path: a `.jsonl` file is a manifest, an image / video file is itself; a
    /// directory is walked recursively: video files are videos, a directory whose image files
    /// all share one name pattern up to digits (`frame_1.png`, `frame_2.png`, ...) is a frame
    /// folder, other image files are single images.
    #[default]
    Auto,
    /// Every image file under the path (recursive) is a one-frame clip.
    Images,
    /// Every video file under the path (recursive).
    Videos,
    /// The path is a frame folder, or every directory under it holding image files is one.
    Frames,
    /// A JSONL manifest, one clip per line (see [`crate::manifest`]).
    Manifest,
    /// A LeRobot dataset (v2.x or v3.0; see [`crate::lerobot`]): every episode of every chosen
    /// camera is a clip source. `auto` recognises one by its `meta/info.json`.
    #[serde(rename = "lerobot")]
    LeRobot,
}

/// One dataset source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// File or directory.
    pub path: PathBuf,
    /// What the path holds (default `auto`).
    #[serde(default)]
    pub kind: SourceKind,
    /// Repeat factor of the source's clips per epoch, rounded to an integer (default 1; 0 drops
    /// the source).
    #[serde(default = "one")]
    pub weight: f64,
    /// LeRobot only: the camera keys to use, e.g. `["observation.images.top"]` (default: every
    /// video feature).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<String>,
    /// LeRobot only: the episodes to use, e.g. `"0..200"`, `"0..10,15"` or `[0, 3]` (default:
    /// all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<EpisodeSet>,
    /// LeRobot only: episodes held out for evaluation: left out of training, and the only
    /// episodes of this source that the evaluation pass reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_episodes: Option<EpisodeSet>,
}

fn one() -> f64 {
    1.0
}

impl SourceConfig {
    /// Whether the source is a LeRobot dataset: kind `lerobot`, or `auto` on a directory that
    /// holds `meta/info.json`.
    pub fn is_lerobot(&self) -> bool {
        match self.kind {
            SourceKind::LeRobot => true,
            SourceKind::Auto => self.path.is_dir() && crate::lerobot::is_lerobot_root(&self.path),
            _ => false,
        }
    }

    /// A source of kind `auto` and weight 1.
    pub fn auto(path: impl Into<PathBuf>) -> SourceConfig {
        SourceConfig {
            path: path.into(),
            kind: SourceKind::Auto,
            weight: 1.0,
            cameras: Vec::new(),
            episodes: None,
            eval_episodes: None,
        }
    }
}

/// Training (random clips, crops, flips, endless) or evaluation (deterministic and finite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Random temporal crop, random spatial crop, flip / reversal; endless epochs.
    Train,
    /// One centred clip per file, centre crop, no flip / reversal; one pass.
    Eval,
}

/// The data pipeline's configuration; the `[data]` table of the training TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Dataset sources (at least one).
    pub sources: Vec<SourceConfig>,
    /// Sources of the evaluation pass ([`Mode::Eval`]); empty = `sources`.
    pub eval_sources: Vec<SourceConfig>,
    /// Frames per clip: `1 + k * t_comp` (1 for image models; videos then give single frames).
    pub num_frames: usize,
    /// Fraction of batches that are image batches (`T = 1`) when the dataset holds both images
    /// and videos and `num_frames > 1`; ignored otherwise.
    pub image_ratio: f64,
    /// Take every `frame_stride`-th frame (1 = consecutive frames, the Cosmos recipe).
    pub frame_stride: usize,
    /// When set, the stride per file is `round(file_fps / target_fps)` (at least 1) instead of
    /// `frame_stride` (files without a known frame rate use `frame_stride`).
    pub target_fps: Option<f64>,
    /// Resize key of the docs/architecture.md §9.2 tables: 256, 360, 480, 512, 720 or 1080. Ignored
    /// when
    /// `buckets` is given.
    pub resolution: u32,
    /// Crop size: the long side of the crop (the official recipe's `crop=256` table is 256×256,
    /// 256×192, 192×256, 256×144, 144×256), capped per ratio at the largest multiple-of-16 size inside the
    /// resize target; 0 = full-frame validation crops (see [`crate::bucket`]). Ignored when
    /// `buckets` is given.
    pub crop: u32,
    /// Custom bucket table (replaces `resolution` / `crop` when not empty).
    pub buckets: Vec<BucketSpec>,
    /// Random temporal reversal with probability 0.5 (train).
    pub random_reverse: bool,
    /// Random horizontal flip with probability 0.5 (train).
    pub hflip: bool,
    /// Probability of a plain random crop at native resolution (no resize; reflection padding
    /// when the frame is smaller than the crop). The Cosmos recipe uses 0.1.
    pub crop_only_prob: f64,
    /// Clips per batch.
    pub batch_size: usize,
    /// Decoding worker threads (0 = decode on the caller's thread).
    pub workers: usize,
    /// Batches decoded ahead of the consumer (at least 1 when `workers > 0`).
    pub prefetch: usize,
    /// Seed of every random choice (shuffles, clip starts, crops, flips).
    pub seed: u64,
    /// JSON file caching the dataset index (frame counts, sizes), keyed by path, size and mtime.
    pub index_cache: Option<PathBuf>,
}

impl Default for DataConfig {
    fn default() -> DataConfig {
        DataConfig {
            sources: Vec::new(),
            eval_sources: Vec::new(),
            num_frames: 17,
            image_ratio: 0.25,
            frame_stride: 1,
            target_fps: None,
            resolution: 256,
            crop: 256,
            buckets: Vec::new(),
            random_reverse: true,
            hflip: true,
            crop_only_prob: 0.1,
            batch_size: 2,
            workers: 2,
            prefetch: 4,
            seed: 0,
            index_cache: None,
        }
    }
}

impl DataConfig {
    /// The sources a loader in `mode` reads: `eval_sources` in eval mode when given, else
    /// `sources`.
    pub fn sources_for(&self, mode: Mode) -> &[SourceConfig] {
        if mode == Mode::Eval && !self.eval_sources.is_empty() {
            &self.eval_sources
        } else {
            &self.sources
        }
    }

    /// Checks the values that do not depend on the model (also done by [`crate::Loader::new`]).
    pub fn validate_basic(&self) -> Result<()> {
        if self.sources.is_empty() {
            bail!("data.sources: no sources given (expected at least one `[[data.sources]]`)");
        }
        self.validate_values()
    }

    /// [`DataConfig::validate_basic`] without requiring sources (clips may come from a
    /// [`crate::provider::ClipProvider`]).
    pub fn validate_values(&self) -> Result<()> {
        for (key, list) in [
            ("sources", &self.sources),
            ("eval_sources", &self.eval_sources),
        ] {
            for (i, s) in list.iter().enumerate() {
                if !(s.weight.is_finite() && s.weight >= 0.0) {
                    bail!(
                        "data.{key}[{i}].weight = {}: expected a number >= 0",
                        s.weight
                    );
                }
            }
        }
        if self.num_frames == 0 {
            bail!("data.num_frames = 0: expected at least 1");
        }
        if !(0.0..=1.0).contains(&self.image_ratio) {
            bail!(
                "data.image_ratio = {}: expected a fraction in [0, 1]",
                self.image_ratio
            );
        }
        if !(0.0..=1.0).contains(&self.crop_only_prob) {
            bail!(
                "data.crop_only_prob = {}: expected a probability in [0, 1]",
                self.crop_only_prob
            );
        }
        if self.frame_stride == 0 {
            bail!("data.frame_stride = 0: expected at least 1");
        }
        if let Some(f) = self.target_fps
            && !(f.is_finite() && f > 0.0)
        {
            bail!("data.target_fps = {f}: expected a positive frame rate");
        }
        if self.batch_size == 0 {
            bail!("data.batch_size = 0: expected at least 1");
        }
        if self.workers > 0 && self.prefetch == 0 {
            bail!(
                "data.prefetch = 0 with {} workers: expected at least 1",
                self.workers
            );
        }
        crate::bucket::BucketTable::from_config(self)?;
        Ok(())
    }

    /// Checks the configuration against a model with temporal compression `t_comp` and spatial
    /// compression `spatial`: `num_frames = 1 + k * t_comp` and every crop side a multiple of
    /// `spatial` (and of 16).
    pub fn validate(&self, t_comp: usize, spatial: usize) -> Result<()> {
        self.validate_basic()?;
        if t_comp == 0 || spatial == 0 {
            bail!("model compression t_comp = {t_comp}, spatial = {spatial}: expected >= 1");
        }
        if !(self.num_frames - 1).is_multiple_of(t_comp) {
            bail!(
                "data.num_frames = {}: the model compresses time by {t_comp}, so clips need \
                 1 + k*{t_comp} frames (e.g. {} or {})",
                self.num_frames,
                1 + (self.num_frames - 1) / t_comp * t_comp,
                1 + ((self.num_frames - 1) / t_comp + 1) * t_comp
            );
        }
        let table = crate::bucket::BucketTable::from_config(self)?;
        for b in &table.buckets {
            let [w, h] = b.crop;
            if !(w as usize).is_multiple_of(spatial) || !(h as usize).is_multiple_of(spatial) {
                bail!(
                    "data bucket {}: crop {w}x{h} (WxH) is not a multiple of the model's spatial \
                     compression {spatial}",
                    b.name
                );
            }
        }
        Ok(())
    }
}
