//! Clip sampling and the per-epoch batch plan.
//!
//! Every indexed clip source becomes one *item* per epoch (times its source's repeat factor),
//! assigned to a *group* = (bucket, image-or-video). A batch is drawn from one group only, so it
//! never mixes buckets or clip lengths. In training, epoch `e`'s plan is: each group's items
//! shuffled by `(seed, e, group)` and cut into full batches (the last one filled up by cycling),
//! the video batches and the image batches each shuffled by `(seed, e)` — so a bucket is drawn
//! in proportion to its number of clips — and, when both images and videos exist, slot `i` of the
//! epoch is an image batch with probability `image_ratio` (drawn from `(seed, e, i)`). Evaluation
//! is one pass over the groups in order, batches in item order (the last one of a group may be
//! smaller).
//!
//! Why not burn-dataset's `DataLoader`: it can neither keep batches bucket-homogeneous nor resume
//! in the middle of an epoch; this plan plus the counter-based [`crate::rng`] makes a position
//! just `(epoch, batch)`.

use anyhow::{Result, bail};

use crate::bucket::BucketTable;
use crate::config::{DataConfig, Mode};
use crate::index::{DatasetIndex, IndexEntry, MediaKind, Skipped};
use crate::rng::{SeededRng, Tag};

/// One clip source in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Index into [`DatasetIndex::entries`].
    pub entry: usize,
    /// Bucket index.
    pub bucket: usize,
    /// Frames per clip (`num_frames`, or 1 for images).
    pub frames: usize,
    /// Frame step.
    pub stride: usize,
    /// `Some(target_fps)`: a variable-frame-rate video sampled by timestamps
    /// ([`crate::timestamps`]; `stride` is then 1).
    pub by_time: Option<f64>,
}

impl Item {
    /// Frames covered by one clip: `(frames - 1) * stride + 1`.
    pub fn span(&self) -> usize {
        (self.frames - 1) * self.stride + 1
    }
}

/// Items that may share a batch: same bucket and clip length.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Bucket index.
    pub bucket: usize,
    /// Frames per clip of the group.
    pub frames: usize,
    /// Item indices.
    pub items: Vec<usize>,
}

/// A batch of the plan: positions into one group's item list.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBatch {
    /// Group index.
    pub group: usize,
    /// Positions in `groups[group].items` (a failed clip is replaced by the next position).
    pub slots: Vec<usize>,
}

/// The sampler: items, groups and the batch plans.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// All items.
    pub items: Vec<Item>,
    /// Groups in a fixed order (video groups first, then by bucket).
    pub groups: Vec<Group>,
    /// Clips left out at planning time (too short for the clip length).
    pub too_short: Vec<Skipped>,
    batch_size: usize,
    seed: u64,
    image_ratio: f64,
    mode: Mode,
}

/// Frame step of `entry` under `cfg` (1 for variable-frame-rate videos with a target frame
/// rate: those are sampled by timestamps).
pub fn stride_for(cfg: &DataConfig, entry: &IndexEntry) -> usize {
    match (cfg.target_fps, entry.fps) {
        _ if by_time(cfg, entry).is_some() => 1,
        (Some(target), Some(fps)) => ((fps / target).round() as usize).max(1),
        _ => cfg.frame_stride,
    }
}

/// `Some(target_fps)` when `entry`'s clips are sampled by timestamps.
fn by_time(cfg: &DataConfig, entry: &IndexEntry) -> Option<f64> {
    cfg.target_fps.filter(|_| entry.info.variable_rate)
}

impl Sampler {
    /// Builds items and groups. Multi-frame sources shorter than one clip are left out (listed
    /// in `too_short`).
    pub fn new(
        cfg: &DataConfig,
        table: &BucketTable,
        index: &DatasetIndex,
        mode: Mode,
    ) -> Result<Sampler> {
        let mut items = Vec::new();
        let mut too_short = Vec::new();
        for (e, entry) in index.entries.iter().enumerate() {
            let single = entry.info.kind == MediaKind::Image
                || (entry.info.kind == MediaKind::Provided && entry.info.frames == 1);
            let frames = if single { 1 } else { cfg.num_frames };
            let item = Item {
                entry: e,
                bucket: table.closest(entry.info.width, entry.info.height),
                frames,
                stride: stride_for(cfg, entry),
                by_time: by_time(cfg, entry),
            };
            if entry.frames < item.span() {
                too_short.push(Skipped {
                    path: entry.path.display().to_string(),
                    reason: format!(
                        "too short: {} frames, a clip of {} frames with stride {} needs {}",
                        entry.frames,
                        item.frames,
                        item.stride,
                        item.span()
                    ),
                });
                continue;
            }
            let repeat = if mode == Mode::Eval { 1 } else { entry.repeat };
            for _ in 0..repeat {
                items.push(item.clone());
            }
        }
        for s in &too_short {
            tracing::warn!("skipped {}: {}", s.path, s.reason);
        }
        if items.is_empty() {
            let sources: Vec<String> = cfg
                .sources_for(mode)
                .iter()
                .map(|s| s.path.display().to_string())
                .collect();
            bail!(
                "empty dataset: no usable clips in {} ({} entries indexed, {} files skipped, {} \
                 too short for {} frames)",
                sources.join(", "),
                index.entries.len(),
                index.skipped.len(),
                too_short.len(),
                cfg.num_frames
            );
        }
        let mut groups: Vec<Group> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|g| g.bucket == it.bucket && g.frames == it.frames)
            {
                Some(g) => g.items.push(i),
                None => groups.push(Group {
                    bucket: it.bucket,
                    frames: it.frames,
                    items: vec![i],
                }),
            }
        }
        groups.sort_by_key(|g| (std::cmp::Reverse(g.frames), g.bucket));
        Ok(Sampler {
            items,
            groups,
            too_short,
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            image_ratio: cfg.image_ratio,
            mode,
        })
    }

    /// Batches per epoch (train) or in the single pass (eval).
    pub fn epoch_len(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.items.len().div_ceil(self.batch_size))
            .sum()
    }

    /// The plan of epoch `epoch` (eval: the pass, whatever `epoch`).
    pub fn plan(&self, epoch: u64) -> Vec<PlannedBatch> {
        let b = self.batch_size;
        if self.mode == Mode::Eval {
            let mut out = Vec::new();
            for (gi, g) in self.groups.iter().enumerate() {
                let n = g.items.len();
                for s in (0..n).step_by(b) {
                    out.push(PlannedBatch {
                        group: gi,
                        slots: (s..(s + b).min(n)).collect(),
                    });
                }
            }
            return out;
        }
        let mut multi = Vec::new();
        let mut single = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let n = g.items.len();
            let mut order: Vec<usize> = (0..n).collect();
            SeededRng::new(self.seed, Tag::GroupShuffle, epoch, gi as u64, 0).shuffle(&mut order);
            for s in (0..n).step_by(b) {
                let slots = (s..s + b).map(|k| order[k % n]).collect();
                let batch = PlannedBatch { group: gi, slots };
                if g.frames > 1 {
                    multi.push(batch);
                } else {
                    single.push(batch);
                }
            }
        }
        SeededRng::new(self.seed, Tag::BatchOrder, epoch, 0, 0).shuffle(&mut multi);
        SeededRng::new(self.seed, Tag::BatchOrder, epoch, 1, 0).shuffle(&mut single);
        if multi.is_empty() || single.is_empty() {
            multi.extend(single);
            return multi;
        }
        let len = multi.len() + single.len();
        let (mut vi, mut ii) = (0, 0);
        (0..len)
            .map(|slot| {
                let image = SeededRng::new(self.seed, Tag::Mix, epoch, slot as u64, 0)
                    .chance(self.image_ratio);
                if image {
                    ii += 1;
                    single[(ii - 1) % single.len()].clone()
                } else {
                    vi += 1;
                    multi[(vi - 1) % multi.len()].clone()
                }
            })
            .collect()
    }
}
