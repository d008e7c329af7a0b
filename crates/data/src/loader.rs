//! [`Loader`]: bucket-homogeneous batches of augmented clips, decoded by worker threads,
//! handed back in order, resumable from a [`LoaderPosition`].
//!
//! Worker threads take batch jobs from a crossbeam channel and may finish out of order; the
//! loader keeps up to `prefetch` jobs in flight and a reorder buffer, so the sequence of batches
//! depends only on the configuration and the position (see [`crate::sampler`] and
//! [`crate::rng`]), not on the number of workers or their timing.
//!
//! A clip that fails to load (corrupt or truncated file) is replaced by the next clip of the same
//! group (deterministically), and the file is listed once in [`LoaderStats::load_failures`] with
//! one warning line. A video that decodes fewer frames than its header claims is not a failure:
//! its clips are drawn inside the frames that decode from then on (see [`crate::frame_count`]),
//! the true count goes into the index cache, and the file is listed once in
//! [`LoaderStats::fewer_frames`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use crossbeam_channel::{Receiver, Sender};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::augment::{AugmentParams, augment_clip};
use crate::bucket::BucketTable;
use crate::config::{DataConfig, Mode};
use crate::frame_count::{FewerFrames, fewer_frames_reason};
use crate::image_io::decode_rgb8;
use crate::index::{DatasetIndex, IndexEntry, MediaKind, Skipped, build_index};
use crate::provider::ClipProvider;
use crate::rng::{SeededRng, Tag};
use crate::sampler::{PlannedBatch, Sampler};
use crate::timestamps::{frames_at_rate, starts_at_rate};
use crate::{list_image_files, shown};

/// One batch: `data` is `[B, 3, T, H, W]` row-major in `[-1, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `B * 3 * T * H * W` values.
    pub data: Vec<f32>,
    /// `[B, 3, T, H, W]`.
    pub shape: [usize; 5],
    /// Bucket name, e.g. `"16:9"`.
    pub bucket: String,
    /// `path:start_frame` of each clip (for logs).
    pub sources: Vec<String>,
}

/// Where the loader is: the position of the NEXT batch. Save it with a checkpoint and pass it
/// to [`Loader::seek`] to continue the same sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderPosition {
    /// Epoch.
    pub epoch: u64,
    /// Batch within the epoch.
    pub batch: u64,
    /// The seed the sequence belongs to (checked by `seek`).
    pub seed: u64,
}

/// Counts and problems.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoaderStats {
    /// Indexed clip sources.
    pub entries: usize,
    /// Items per bucket name (after repeats), in table order.
    pub per_bucket: Vec<(String, usize)>,
    /// Batches per epoch (train) or in the pass (eval).
    pub epoch_len: usize,
    /// Files left out at index / planning time, with reasons.
    pub skipped: Vec<Skipped>,
    /// Files that failed while loading clips (each once), with reasons.
    pub load_failures: Vec<Skipped>,
    /// Clips replaced because their file failed to load.
    pub replaced: usize,
    /// Videos whose header claims more frames than decode (each once): clips are drawn inside
    /// the frames that decode. Not failures.
    pub fewer_frames: Vec<Skipped>,
    /// Batches handed out.
    pub batches: usize,
    /// Planned batches passed over because no clip of their group could be loaded.
    pub dropped_batches: usize,
    /// Paths probed while indexing (not from the cache).
    pub probed: usize,
}

#[derive(Default)]
struct Failures {
    bad: HashSet<usize>,
    list: Vec<Skipped>,
    replaced: usize,
    /// Entry → frames that decode, for videos whose header claims more (see
    /// [`crate::frame_count`]).
    decoded: HashMap<usize, usize>,
    /// The files of `decoded`, each reported once.
    fewer_frames: Vec<Skipped>,
}

impl Failures {
    /// Marks entry `e` unusable (listed once, with `reason`); counts the replaced clip.
    fn fail(&mut self, e: usize, path: &Path, reason: String) {
        self.replaced += 1;
        if self.bad.insert(e) {
            tracing::warn!("skipped {}: {reason}", path.display());
            self.list.push(Skipped {
                path: path.display().to_string(),
                reason,
            });
        }
    }

    /// Records that only `decoded` frames of entry `e` decode; `true` the first time.
    fn record_decoded(&mut self, e: usize, entry: &IndexEntry, decoded: usize) -> bool {
        if self.decoded.insert(e, decoded).is_some() {
            return false;
        }
        let reason = format!(
            "{}: {}",
            shown(&entry.path),
            fewer_frames_reason(entry.info.frames, decoded)
        );
        tracing::warn!("{reason}; using the frames that decode");
        self.fewer_frames.push(Skipped {
            path: entry.path.display().to_string(),
            reason,
        });
        true
    }
}

/// Where a clip of `span` frames may start inside entry `entry` (offsets from `entry.first`):
/// `[0, room]`, where `room` follows the frames that decode when known.
fn usable_room(entry: &IndexEntry, decoded: Option<usize>, span: usize) -> Option<usize> {
    let end = (entry.first + entry.frames).min(decoded.unwrap_or(usize::MAX));
    end.checked_sub(entry.first + span)
}

/// Everything a worker needs, shared read-only (plus the failure record).
struct Shared {
    index: DatasetIndex,
    sampler: Sampler,
    table: BucketTable,
    cfg: DataConfig,
    mode: Mode,
    failures: Mutex<Failures>,
    /// Serialises the workers' updates of the index cache file.
    cache_lock: Mutex<()>,
    /// Frame timestamps of the variable-frame-rate videos sampled by time.
    times: Mutex<HashMap<usize, Arc<Vec<f64>>>>,
    /// Where [`MediaKind::Provided`] clips come from.
    provider: Option<Arc<dyn ClipProvider>>,
}

struct Job {
    generation: u64,
    seq: u64,
    epoch: u64,
    batch: u64,
    plan: PlannedBatch,
}

type JobResult = (u64, u64, Result<Option<Batch>>);

struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<JobResult>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The data loader (see the module docs).
pub struct Loader {
    shared: Arc<Shared>,
    /// Global index of the next batch (`epoch * epoch_len + batch`).
    next: u64,
    /// Global index of the next job to issue.
    issued: u64,
    generation: u64,
    ready: BTreeMap<u64, Result<Option<Batch>>>,
    plan: Option<(u64, Arc<Vec<PlannedBatch>>)>,
    pool: Option<Pool>,
    handed: usize,
    dropped: usize,
}

/// Reads the raw frames of one clip: `count` frames from `start` (absolute) every `stride`.
pub fn read_clip(
    entry: &IndexEntry,
    start: usize,
    count: usize,
    stride: usize,
) -> Result<Vec<RgbImage>> {
    let indices: Vec<usize> = (0..count).map(|k| start + k * stride).collect();
    read_frames(entry, &indices)
}

/// Reads the raw frames `indices` (absolute, increasing) of one clip source.
pub fn read_frames(entry: &IndexEntry, indices: &[usize]) -> Result<Vec<RgbImage>> {
    let path = &entry.path;
    let (Some(&lo), Some(&hi)) = (indices.first(), indices.last()) else {
        bail!("{}: no frames asked for", shown(path));
    };
    let pick = |all: Vec<RgbImage>| -> Vec<RgbImage> {
        let mut all: Vec<Option<RgbImage>> = all.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            // A repeated index (a slow stretch of a variable-rate video) repeats the frame.
            let repeat = k > 0 && indices[k - 1] == i;
            match (repeat, all.get_mut(i - lo).and_then(Option::take)) {
                (_, Some(img)) => out.push(img),
                (true, None) => out.push(out.last().cloned().expect("repeat of a kept frame")),
                (false, None) => {}
            }
        }
        out
    };
    let frames = match entry.info.kind {
        MediaKind::Provided => bail!(
            "{}: a provided clip is read through its provider (Loader::with_provider)",
            shown(path)
        ),
        MediaKind::Image => vec![decode_rgb8(path)?],
        MediaKind::Frames => {
            let files = list_image_files(path)?;
            if hi >= files.len() {
                bail!(
                    "{}: has {} frames, asked for {}..{}",
                    shown(path),
                    files.len(),
                    lo,
                    hi + 1
                );
            }
            let mut v = Vec::with_capacity(indices.len());
            for &i in indices {
                v.push(decode_rgb8(&files[i])?);
            }
            v
        }
        MediaKind::Video => {
            #[cfg(feature = "video")]
            {
                let (all, _) = crate::video_io::read_video_rgb(path, lo, Some(hi - lo + 1))?;
                pick(all)
            }
            #[cfg(not(feature = "video"))]
            {
                let _ = pick;
                bail!(
                    "{}: video files need the `video` cargo feature of cosmotok-data",
                    shown(path)
                )
            }
        }
    };
    if let Some(f) = frames
        .iter()
        .find(|f| f.dimensions() != frames[0].dimensions())
    {
        bail!(
            "{}: frames differ in size ({}x{} vs {}x{})",
            shown(path),
            f.width(),
            f.height(),
            frames[0].width(),
            frames[0].height()
        );
    }
    let want = if entry.info.kind == MediaKind::Image {
        1
    } else {
        indices.len()
    };
    if frames.len() != want {
        bail!(
            "{}: read {} frames, expected {want}",
            shown(path),
            frames.len()
        );
    }
    Ok(frames)
}

impl Shared {
    /// Loads batch `batch` of epoch `epoch` following `plan`; `None` when no clip of the
    /// batch's group can be loaded (the loader then moves on to the next batch).
    fn load(&self, epoch: u64, batch: u64, plan: &PlannedBatch) -> Result<Option<Batch>> {
        let group = &self.sampler.groups[plan.group];
        let bucket = &self.table.buckets[group.bucket];
        let [cw, ch] = [bucket.crop[0] as usize, bucket.crop[1] as usize];
        let t = group.frames;
        let per = 3 * t * ch * cw;
        let b = plan.slots.len();
        let mut data = vec![0f32; b * per];
        let mut sources = Vec::with_capacity(b);
        let n = group.items.len();
        for (slot, &pos) in plan.slots.iter().enumerate() {
            let mut done = false;
            for attempt in 0..n {
                let item_ix = group.items[(pos + attempt) % n];
                let item = &self.sampler.items[item_ix];
                if self.failures.lock().unwrap().bad.contains(&item.entry) {
                    continue;
                }
                let entry = &self.index.entries[item.entry];
                let mut rng = SeededRng::new(self.cfg.seed, Tag::Sample, epoch, batch, slot as u64);
                // A variable-frame-rate video sampled by time: its frame timestamps.
                let times = match item.by_time.map(|_| self.frame_times(item.entry)) {
                    Some(Err(e)) => {
                        let mut f = self.failures.lock().unwrap();
                        f.fail(item.entry, &entry.path, format!("{e:#}"));
                        continue;
                    }
                    Some(Ok(t)) => Some(t),
                    None => None,
                };
                // One past the last usable frame, and the room for clip starts (offsets from
                // `entry.first`), given the frames that decode when known.
                let end = |decoded: Option<usize>| {
                    (entry.first + entry.frames).min(decoded.unwrap_or(usize::MAX))
                };
                let room_for = |decoded: Option<usize>| match (&times, item.by_time) {
                    (Some(ts), Some(fps)) => {
                        starts_at_rate(ts, entry.first, end(decoded), item.frames, fps)
                            .checked_sub(1)
                    }
                    _ => usable_room(entry, decoded, item.span()),
                };
                let Some(room) = room_for(None) else {
                    let secs = times.as_ref().map_or(0.0, |ts| {
                        ts[end(None).min(ts.len()).max(1) - 1] - ts[entry.first.min(ts.len() - 1)]
                    });
                    let reason = format!(
                        "{}: too short: {secs:.2} s of frames, a clip of {} frames at {} fps \
                         needs {:.2} s",
                        shown(&entry.path),
                        item.frames,
                        item.by_time.unwrap_or_default(),
                        (item.frames - 1) as f64 / item.by_time.unwrap_or(1.0)
                    );
                    self.failures
                        .lock()
                        .unwrap()
                        .fail(item.entry, &entry.path, reason);
                    continue;
                };
                let (mut offset, params) = match self.mode {
                    Mode::Eval => (room / 2, AugmentParams::CENTER),
                    Mode::Train => {
                        let offset = rng.below(room + 1);
                        let params = AugmentParams {
                            crop_only: rng.chance(self.cfg.crop_only_prob),
                            offset: (rng.unit(), rng.unit()),
                            flip: self.cfg.hflip && rng.chance(0.5),
                            reverse: self.cfg.random_reverse && t > 1 && rng.chance(0.5),
                        };
                        (offset, params)
                    }
                };
                // At most two reads: the planned clip, then (when the video turned out to hold
                // fewer frames than its header says) one inside the frames that decode.
                for _ in 0..2 {
                    let decoded = self
                        .failures
                        .lock()
                        .unwrap()
                        .decoded
                        .get(&item.entry)
                        .copied();
                    match room_for(decoded) {
                        None => {
                            let reason = format!(
                                "{}: {}, too short for a clip of {} frames with stride {}",
                                shown(&entry.path),
                                fewer_frames_reason(entry.info.frames, decoded.unwrap_or(0)),
                                item.frames,
                                item.stride
                            );
                            self.failures
                                .lock()
                                .unwrap()
                                .fail(item.entry, &entry.path, reason);
                            break;
                        }
                        Some(usable) if offset > usable => {
                            offset = self.redraw(&mut rng, room, usable);
                        }
                        Some(_) => {}
                    }
                    let start = entry.first + offset;
                    let indices: Vec<usize> = match (&times, item.by_time) {
                        (Some(ts), Some(fps)) => {
                            frames_at_rate(ts, start, end(decoded), item.frames, fps)
                                .expect("a start inside the room has its frames")
                        }
                        _ => (0..item.frames).map(|k| start + k * item.stride).collect(),
                    };
                    let read = match (&self.provider, entry.provided) {
                        (Some(p), Some(i)) => p.frames(i, &indices).and_then(|f| {
                            if f.len() == indices.len() {
                                Ok(f)
                            } else {
                                bail!(
                                    "{}: gave {} frames, asked for {}",
                                    p.name(i),
                                    f.len(),
                                    indices.len()
                                )
                            }
                        }),
                        _ => read_frames(entry, &indices),
                    };
                    match read {
                        Ok(frames) => {
                            augment_clip(
                                &frames,
                                bucket,
                                &params,
                                &mut data[slot * per..(slot + 1) * per],
                            );
                            sources.push(format!("{}:{start}", entry.path.display()));
                            done = true;
                            break;
                        }
                        Err(e) => match e.downcast_ref::<FewerFrames>() {
                            Some(ff)
                                if entry.info.kind == MediaKind::Video && decoded.is_none() =>
                            {
                                self.found_fewer_frames(item.entry, ff.decoded);
                            }
                            _ => {
                                let reason = format!("{e:#}");
                                self.failures
                                    .lock()
                                    .unwrap()
                                    .fail(item.entry, &entry.path, reason);
                                break;
                            }
                        },
                    }
                }
                if done {
                    break;
                }
            }
            if !done {
                return Ok(None);
            }
        }
        Ok(Some(Batch {
            data,
            shape: [b, 3, t, ch, cw],
            bucket: bucket.name.clone(),
            sources,
        }))
    }
}

impl Shared {
    /// A new clip start inside the frames that decode (`[0, usable]`), for a clip whose planned
    /// start `[0, room]` lies past them. Training draws again from the same stream and range
    /// until a start fits (rejection sampling: uniform over the usable starts, and the same
    /// start whether the true count was known beforehand or found by this very read, so runs
    /// and resumes agree); evaluation takes the centre of the usable range.
    fn redraw(&self, rng: &mut SeededRng, room: usize, usable: usize) -> usize {
        if self.mode == Mode::Eval {
            return usable / 2;
        }
        for _ in 0..256 {
            let o = rng.below(room + 1);
            if o <= usable {
                return o;
            }
        }
        rng.below(usable + 1)
    }

    /// Frame timestamps of entry `e`'s video (read once per run).
    fn frame_times(&self, e: usize) -> Result<Arc<Vec<f64>>> {
        if let Some(t) = self.times.lock().unwrap().get(&e) {
            return Ok(t.clone());
        }
        #[cfg(feature = "video")]
        {
            let path = &self.index.entries[e].path;
            let t = Arc::new(crate::video_io::frame_times(path, None)?);
            self.times.lock().unwrap().insert(e, t.clone());
            Ok(t)
        }
        #[cfg(not(feature = "video"))]
        bail!("frame timestamps need the `video` cargo feature")
    }

    /// Records the true frame count of entry `e` (once per run), and in the index cache.
    fn found_fewer_frames(&self, e: usize, decoded: usize) {
        let entry = &self.index.entries[e];
        if !self
            .failures
            .lock()
            .unwrap()
            .record_decoded(e, entry, decoded)
        {
            return;
        }
        if let Some(cache) = &self.cfg.index_cache {
            let _guard = self.cache_lock.lock().unwrap();
            if let Err(err) = crate::index::record_decoded(cache, &entry.path, decoded) {
                tracing::warn!("{err:#}");
            }
        }
    }
}

fn worker(shared: Arc<Shared>, jobs: Receiver<Job>, results: Sender<JobResult>) {
    while let Ok(job) = jobs.recv() {
        // A panic becomes an error for that batch instead of a loader waiting forever.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.load(job.epoch, job.batch, &job.plan)
        }))
        .unwrap_or_else(|_| {
            Err(anyhow!(
                "data worker panicked on epoch {} batch {}",
                job.epoch,
                job.batch
            ))
        });
        if results.send((job.generation, job.seq, r)).is_err() {
            break;
        }
    }
}

impl Loader {
    /// Indexes the sources (using the index cache when configured) and starts the workers.
    /// A wrong path or an empty dataset is an error; unreadable files are skipped and listed in
    /// [`Loader::stats`].
    pub fn new(cfg: &DataConfig, mode: Mode) -> Result<Loader> {
        cfg.validate_basic()?;
        Loader::build(cfg, mode, None)
    }

    /// A loader over the clips of `provider` (plus `cfg`'s sources, if any): bucketed,
    /// augmented, batched and resumable like file sources; each clip is a clip source (videos:
    /// clips of `num_frames` frames drawn inside it; one-frame clips: images).
    pub fn with_provider(
        cfg: &DataConfig,
        mode: Mode,
        provider: Arc<dyn ClipProvider>,
    ) -> Result<Loader> {
        cfg.validate_values()?;
        Loader::build(cfg, mode, Some(provider))
    }

    fn build(
        cfg: &DataConfig,
        mode: Mode,
        provider: Option<Arc<dyn ClipProvider>>,
    ) -> Result<Loader> {
        let table = BucketTable::from_config(cfg)?;
        let mut index = if cfg.sources_for(mode).is_empty() {
            crate::index::DatasetIndex::default()
        } else {
            build_index(
                cfg.sources_for(mode),
                mode,
                cfg.index_cache.as_deref(),
                cfg.workers.max(1),
            )?
        };
        if let Some(p) = &provider {
            let (entries, skipped) = crate::provider::entries(p.as_ref(), 1);
            index.entries.extend(entries);
            index.skipped.extend(skipped);
        }
        let sampler = Sampler::new(cfg, &table, &index, mode)?;
        // Videos the index cache knows to hold fewer frames than their headers say.
        let mut failures = Failures::default();
        for (e, entry) in index.entries.iter().enumerate() {
            if let Some(d) = entry.info.decoded.filter(|&d| d < entry.info.frames) {
                failures.record_decoded(e, entry, d);
            }
        }
        let shared = Arc::new(Shared {
            index,
            sampler,
            table,
            cfg: cfg.clone(),
            mode,
            failures: Mutex::new(failures),
            cache_lock: Mutex::new(()),
            times: Mutex::new(HashMap::new()),
            provider,
        });
        let pool = (cfg.workers > 0).then(|| {
            let (jtx, jrx) = crossbeam_channel::unbounded::<Job>();
            let (rtx, rrx) = crossbeam_channel::unbounded::<JobResult>();
            let threads = (0..cfg.workers)
                .map(|i| {
                    let (s, j, r) = (shared.clone(), jrx.clone(), rtx.clone());
                    std::thread::Builder::new()
                        .name(format!("cosmotok-data-{i}"))
                        .spawn(move || worker(s, j, r))
                        .expect("spawn data worker")
                })
                .collect();
            Pool {
                jobs: Some(jtx),
                results: rrx,
                threads,
            }
        });
        Ok(Loader {
            shared,
            next: 0,
            issued: 0,
            generation: 0,
            ready: BTreeMap::new(),
            plan: None,
            pool,
            handed: 0,
            dropped: 0,
        })
    }

    /// The whole evaluation pass of `cfg`; same as [`eval_batches`].
    pub fn eval_batches(cfg: &DataConfig) -> Result<Vec<Batch>> {
        eval_batches(cfg)
    }

    /// Batches per epoch (train) or in the whole pass (eval).
    pub fn epoch_len(&self) -> usize {
        self.shared.sampler.epoch_len()
    }

    /// The bucket table in use.
    pub fn buckets(&self) -> &BucketTable {
        &self.shared.table
    }

    /// The dataset index.
    pub fn index(&self) -> &DatasetIndex {
        &self.shared.index
    }

    fn total(&self) -> Option<u64> {
        (self.shared.mode == Mode::Eval).then_some(self.epoch_len() as u64)
    }

    fn split(&self, g: u64) -> (u64, u64) {
        let len = self.epoch_len() as u64;
        (g / len, g % len)
    }

    fn job(&mut self, g: u64) -> Job {
        let (epoch, batch) = self.split(g);
        let plan = match &self.plan {
            Some((e, p)) if *e == epoch => p.clone(),
            _ => {
                let p = Arc::new(self.shared.sampler.plan(epoch));
                self.plan = Some((epoch, p.clone()));
                p
            }
        };
        Job {
            generation: self.generation,
            seq: g,
            epoch,
            batch,
            plan: plan[batch as usize].clone(),
        }
    }

    /// The next batch; `None` at the end of an eval pass (never in training). Planned batches
    /// of a group whose clips all fail to load are passed over (counted in
    /// [`LoaderStats::dropped_batches`]).
    pub fn try_next(&mut self) -> Result<Option<Batch>> {
        let mut dead = 0;
        loop {
            if self.total().is_some_and(|t| self.next >= t) {
                return Ok(None);
            }
            match self.fetch()? {
                Some(b) => {
                    self.next += 1;
                    self.handed += 1;
                    return Ok(Some(b));
                }
                None => {
                    self.next += 1;
                    self.dropped += 1;
                    dead += 1;
                    if dead > self.epoch_len() {
                        bail!("no clip of the dataset can be loaded (see the skipped files)");
                    }
                }
            }
        }
    }

    /// Loads (or waits for) batch `self.next`.
    fn fetch(&mut self) -> Result<Option<Batch>> {
        let g = self.next;
        let batch = if self.pool.is_none() {
            let job = self.job(g);
            self.shared.load(job.epoch, job.batch, &job.plan)?
        } else {
            let prefetch = self.shared.cfg.prefetch.max(1) as u64;
            let limit = (g + prefetch).min(self.total().unwrap_or(u64::MAX));
            while self.issued < limit {
                let job = self.job(self.issued);
                let pool = self.pool.as_ref().expect("pool");
                pool.jobs
                    .as_ref()
                    .expect("jobs channel")
                    .send(job)
                    .map_err(|_| anyhow!("data workers stopped"))?;
                self.issued += 1;
            }
            loop {
                if let Some(r) = self.ready.remove(&g) {
                    break r?;
                }
                let pool = self.pool.as_ref().expect("pool");
                let (generation, seq, r) = pool
                    .results
                    .recv()
                    .map_err(|_| anyhow!("data workers stopped"))?;
                if generation == self.generation {
                    self.ready.insert(seq, r);
                }
            }
        };
        Ok(batch)
    }

    /// The next batch; in eval mode, an error after the last one (use [`Loader::try_next`] there).
    pub fn next_batch(&mut self) -> Result<Batch> {
        self.try_next()?
            .ok_or_else(|| anyhow!("the evaluation pass is over ({} batches)", self.epoch_len()))
    }

    /// Position of the next batch.
    pub fn position(&self) -> LoaderPosition {
        let (epoch, batch) = self.split(self.next);
        LoaderPosition {
            epoch,
            batch,
            seed: self.shared.cfg.seed,
        }
    }

    /// Continues from `pos` (a position saved by [`Loader::position`] under the same
    /// configuration); batches already prefetched are dropped.
    pub fn seek(&mut self, pos: &LoaderPosition) -> Result<()> {
        if pos.seed != self.shared.cfg.seed {
            bail!(
                "loader position was saved with seed {} but data.seed is {}",
                pos.seed,
                self.shared.cfg.seed
            );
        }
        let len = self.epoch_len() as u64;
        if pos.batch >= len {
            bail!(
                "loader position batch {} is past the epoch length {len} (has the dataset \
                 changed since it was saved?)",
                pos.batch
            );
        }
        self.generation += 1;
        self.ready.clear();
        self.next = pos.epoch * len + pos.batch;
        self.issued = self.next;
        Ok(())
    }

    /// Random access to the loader's clip sources (see [`Clips`]).
    pub fn clips(&self) -> Clips {
        // Where each item sits: (group, position in the group), found once.
        let groups = &self.shared.sampler.groups;
        let mut slot = vec![None; self.shared.sampler.items.len()];
        for (g, grp) in groups.iter().enumerate() {
            for (pos, &it) in grp.items.iter().enumerate() {
                slot[it].get_or_insert((g, pos));
            }
        }
        Clips {
            shared: self.shared.clone(),
            slot: Arc::new(slot),
        }
    }

    /// Counts, skipped files and load failures so far.
    pub fn stats(&self) -> LoaderStats {
        let s = &self.shared;
        let f = s.failures.lock().unwrap();
        let mut skipped = s.index.skipped.clone();
        skipped.extend(s.sampler.too_short.iter().cloned());
        let per_bucket = s
            .table
            .buckets
            .iter()
            .enumerate()
            .map(|(bi, b)| {
                let n = s.sampler.items.iter().filter(|i| i.bucket == bi).count();
                (b.name.clone(), n)
            })
            .collect();
        LoaderStats {
            entries: s.index.entries.len(),
            per_bucket,
            epoch_len: self.epoch_len(),
            skipped,
            load_failures: f.list.clone(),
            replaced: f.replaced,
            fewer_frames: f.fewer_frames.clone(),
            batches: self.handed,
            dropped_batches: self.dropped,
            probed: s.index.probed,
        }
    }
}

/// The clip sources of a [`Loader`] by number, for random access (a burn `Dataset` in
/// cosmotok-train): clip `i` is item `i` of the plan (repeats included) as a batch of one,
/// cropped to its bucket — the centred clip in [`Mode::Eval`], the augmented draw of (epoch 0,
/// batch `i`) in [`Mode::Train`]. A clip that fails to load is replaced by the next one of its
/// bucket, as in batches.
#[derive(Clone)]
pub struct Clips {
    shared: Arc<Shared>,
    /// Item → (group, position in it); `None` for items in no group.
    slot: Arc<Vec<Option<(usize, usize)>>>,
}

impl Clips {
    /// Number of clips.
    pub fn len(&self) -> usize {
        self.shared.sampler.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Clip `i` as a batch of one (`None` when no clip of its bucket loads).
    pub fn get(&self, i: usize) -> Result<Option<Batch>> {
        let Some(&Some((group, pos))) = self.slot.get(i) else {
            bail!("clip {i}: out of range (there are {} clips)", self.len());
        };
        let plan = PlannedBatch {
            group,
            slots: vec![pos],
        };
        self.shared.load(0, i as u64, &plan)
    }
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("mode", &self.shared.mode)
            .field("position", &self.position())
            .field("epoch_len", &self.epoch_len())
            .field("workers", &self.shared.cfg.workers)
            .finish()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        if let Some(mut pool) = self.pool.take() {
            pool.jobs = None; // closes the channel; workers exit after their current job
            while pool.results.try_recv().is_ok() {}
            for t in pool.threads.drain(..) {
                // Drain results so no worker blocks on a full channel (the channel is unbounded,
                // so this is only belt and braces).
                let _ = t.join();
            }
        }
    }
}

/// The whole evaluation pass of `cfg` (one centred clip per file, centre crop, no flip or
/// reversal), in order.
pub fn eval_batches(cfg: &DataConfig) -> Result<Vec<Batch>> {
    let mut loader = Loader::new(cfg, Mode::Eval)?;
    let mut out = Vec::new();
    while let Some(b) = loader.try_next()? {
        out.push(b);
    }
    Ok(out)
}

/// Convenience: a config with one `auto` source at `path`.
pub fn config_for_path(path: &Path) -> DataConfig {
    DataConfig {
        sources: vec![crate::config::SourceConfig::auto(path)],
        ..DataConfig::default()
    }
}
