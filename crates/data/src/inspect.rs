//! `cosmotok data inspect`: what the model will be trained on — counts per bucket, frame
//! counts, skipped files — and a PNG contact sheet of a few batches (one row per clip, a few
//! evenly spaced frames per clip, each frame letterboxed into a square tile).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use crate::index::MediaKind;
use crate::lerobot::{EpisodeSet, LeRobotDataset};
use crate::{Batch, DataConfig, Loader, LoaderStats, Mode, shown};

/// Options of [`inspect`].
#[derive(Debug, Clone, PartialEq)]
pub struct InspectOptions {
    /// Batches to draw.
    pub batches: usize,
    /// Columns of the contact sheet (frames shown per clip, evenly spaced over `T`).
    pub frames_per_clip: usize,
    /// Tile side in pixels.
    pub tile: u32,
    /// Where to write the contact sheet (`None`: no sheet).
    pub sheet: Option<PathBuf>,
    /// Train (augmented) or eval (centred) batches.
    pub mode: Mode,
}

impl Default for InspectOptions {
    fn default() -> InspectOptions {
        InspectOptions {
            batches: 4,
            frames_per_clip: 4,
            tile: 96,
            sheet: None,
            mode: Mode::Train,
        }
    }
}

/// One inspected batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSummary {
    /// Bucket name.
    pub bucket: String,
    /// `[B, 3, T, H, W]`.
    pub shape: [usize; 5],
    /// `path:start` of each clip.
    pub sources: Vec<String>,
}

/// The inspection report (its `Display` is what the CLI prints).
#[derive(Debug, Clone, PartialEq)]
pub struct InspectReport {
    /// Counts and skipped files (after drawing the batches).
    pub stats: LoaderStats,
    /// Crop `[W, H]` per bucket name, in table order.
    pub crops: Vec<(String, [u32; 2])>,
    /// Indexed sources per kind: (images, videos, frame folders).
    pub kinds: (usize, usize, usize),
    /// (min, median, max) usable frames over videos and frame folders, if any.
    pub frame_counts: Option<(usize, usize, usize)>,
    /// Clips per batch and frames per clip from the configuration.
    pub batch_size: usize,
    /// `num_frames` of the configuration.
    pub num_frames: usize,
    /// The batches drawn.
    pub batches: Vec<BatchSummary>,
    /// The contact sheet written: path, width, height.
    pub sheet: Option<(PathBuf, u32, u32)>,
    /// LeRobot datasets among the sources.
    pub lerobot: Vec<LeRobotSummary>,
}

/// A LeRobot dataset among the sources: its layout, cameras and episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct LeRobotSummary {
    /// The dataset's metadata.
    pub dataset: LeRobotDataset,
    /// The cameras the source uses (empty: all).
    pub cameras: Vec<String>,
    /// The source's `episodes` selection.
    pub episodes: Option<EpisodeSet>,
    /// The source's `eval_episodes`.
    pub eval_episodes: Option<EpisodeSet>,
}

/// The LeRobot datasets among `cfg`'s sources for `mode`.
fn lerobot_summaries(cfg: &DataConfig, mode: Mode) -> Result<Vec<LeRobotSummary>> {
    let mut out = Vec::new();
    for src in cfg.sources_for(mode) {
        if src.is_lerobot() {
            out.push(LeRobotSummary {
                dataset: LeRobotDataset::open(&src.path)?,
                cameras: src.cameras.clone(),
                episodes: src.episodes.clone(),
                eval_episodes: src.eval_episodes.clone(),
            });
        }
    }
    Ok(out)
}

/// `path → camera` for the clip sources that belong to a camera (LeRobot episodes).
fn cameras_by_path(loader: &Loader) -> HashMap<String, String> {
    loader
        .index()
        .entries
        .iter()
        .filter_map(|e| {
            let camera = e.label.as_ref()?.split_once(" · ")?.1.to_string();
            Some((e.path.display().to_string(), camera))
        })
        .collect()
}

/// Cameras with no clip in `batches`.
fn cameras_missing(batches: &[Batch], camera_of: &HashMap<String, String>) -> BTreeSet<String> {
    let mut missing: BTreeSet<String> = camera_of.values().cloned().collect();
    for b in batches {
        for s in &b.sources {
            let path = s.rsplit_once(':').map_or(s.as_str(), |(p, _)| p);
            if let Some(c) = camera_of.get(path) {
                missing.remove(c);
            }
        }
    }
    missing
}

/// Builds a loader for `cfg`, draws `opts.batches` batches and writes the contact sheet.
/// With multi-camera (LeRobot) sources it draws on, up to two epochs, until every camera is
/// in the sheet.
pub fn inspect(cfg: &DataConfig, opts: &InspectOptions) -> Result<InspectReport> {
    let lerobot = lerobot_summaries(cfg, opts.mode)?;
    let mut loader = Loader::new(cfg, opts.mode)?;
    let mut batches = Vec::new();
    for _ in 0..opts.batches {
        match loader.try_next()? {
            Some(b) => batches.push(b),
            None => break,
        }
    }
    let camera_of = cameras_by_path(&loader);
    let mut extra = 0;
    while !cameras_missing(&batches, &camera_of).is_empty() && extra < 2 * loader.epoch_len() {
        match loader.try_next()? {
            Some(b) => batches.push(b),
            None => break,
        }
        extra += 1;
    }
    let index = loader.index();
    let count = |k| index.entries.iter().filter(|e| e.info.kind == k).count();
    let kinds = (
        count(MediaKind::Image),
        count(MediaKind::Video),
        count(MediaKind::Frames),
    );
    let mut frames: Vec<usize> = index
        .entries
        .iter()
        .filter(|e| e.info.kind != MediaKind::Image)
        .map(|e| e.frames)
        .collect();
    frames.sort_unstable();
    let frame_counts = (!frames.is_empty()).then(|| {
        (
            frames[0],
            frames[frames.len() / 2],
            frames[frames.len() - 1],
        )
    });
    let sheet = match &opts.sheet {
        Some(path) => {
            let img = contact_sheet(&batches, opts.frames_per_clip, opts.tile);
            crate::ensure_parent_dir(path)?;
            img.save(path)
                .map_err(|e| anyhow!("{}: cannot write contact sheet: {e}", shown(path)))?;
            Some((path.clone(), img.width(), img.height()))
        }
        None => None,
    };
    Ok(InspectReport {
        stats: loader.stats(),
        crops: loader
            .buckets()
            .buckets
            .iter()
            .map(|b| (b.name.clone(), b.crop))
            .collect(),
        kinds,
        frame_counts,
        batch_size: cfg.batch_size,
        num_frames: cfg.num_frames,
        batches: batches
            .iter()
            .map(|b| BatchSummary {
                bucket: b.bucket.clone(),
                shape: b.shape,
                sources: b.sources.clone(),
            })
            .collect(),
        sheet,
        lerobot,
    })
}

/// Gap between tiles, pixels.
const GAP: u32 = 4;

/// Size `(W, H)` of a contact sheet of `clips` rows.
pub fn sheet_size(clips: usize, frames_per_clip: usize, tile: u32) -> (u32, u32) {
    let cols = frames_per_clip.max(1) as u32;
    (
        cols * (tile + GAP) + GAP,
        clips.max(1) as u32 * (tile + GAP) + GAP,
    )
}

/// Frame `t` of clip `b` of a batch as an RGB image.
fn batch_frame(batch: &Batch, b: usize, t: usize) -> RgbImage {
    let [_, _, tt, h, w] = batch.shape;
    let plane = h * w;
    let base = b * 3 * tt * plane;
    let mut raw = vec![0u8; 3 * plane];
    for c in 0..3 {
        let src = &batch.data[base + (c * tt + t) * plane..base + (c * tt + t + 1) * plane];
        for (i, &v) in src.iter().enumerate() {
            raw[3 * i + c] = crate::frames::unit_to_u8(v);
        }
    }
    RgbImage::from_raw(w as u32, h as u32, raw).expect("frame size")
}

/// A grid with one row per clip of `batches` and up to `frames_per_clip` evenly spaced frames
/// per row, each letterboxed into a `tile`×`tile` cell (see [`sheet_size`]).
pub fn contact_sheet(batches: &[Batch], frames_per_clip: usize, tile: u32) -> RgbImage {
    let clips: usize = batches.iter().map(|b| b.shape[0]).sum();
    let cols = frames_per_clip.max(1);
    let (sw, sh) = sheet_size(clips, cols, tile);
    let mut sheet = RgbImage::from_pixel(sw, sh, Rgb([32, 32, 32]));
    let mut row = 0u32;
    for batch in batches {
        let [bs, _, t, h, w] = batch.shape;
        for b in 0..bs {
            let shown_frames = cols.min(t);
            for col in 0..shown_frames {
                let ti = if shown_frames == 1 {
                    0
                } else {
                    col * (t - 1) / (shown_frames - 1)
                };
                let frame = batch_frame(batch, b, ti);
                let s = tile as f64 / w.max(h) as f64;
                let (fw, fh) = (
                    ((w as f64 * s).round() as u32).max(1),
                    ((h as f64 * s).round() as u32).max(1),
                );
                let small = imageops::resize(&frame, fw, fh, FilterType::Triangle);
                let x = GAP + col as u32 * (tile + GAP) + (tile - fw) / 2;
                let y = GAP + row * (tile + GAP) + (tile - fh) / 2;
                imageops::replace(&mut sheet, &small, x as i64, y as i64);
            }
            row += 1;
        }
    }
    sheet
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let (im, vi, fr) = self.kinds;
        writeln!(
            f,
            "dataset: {} clip sources ({im} images, {vi} videos, {fr} frame folders), \
             {} skipped, {} failed to load",
            s.entries,
            s.skipped.len(),
            s.load_failures.len()
        )?;
        if let Some((lo, med, hi)) = self.frame_counts {
            writeln!(
                f,
                "frames per video / frame folder: min {lo}, median {med}, max {hi}"
            )?;
        }
        for l in &self.lerobot {
            write_lerobot(f, l)?;
        }
        writeln!(
            f,
            "clips: {} frames (images: 1), batch size {}, {} batches per epoch",
            self.num_frames, self.batch_size, s.epoch_len
        )?;
        writeln!(f, "buckets (crop WxH: clips):")?;
        for ((name, n), (_, crop)) in s.per_bucket.iter().zip(&self.crops) {
            writeln!(f, "  {name:>5} {:>4}x{:<4}: {n}", crop[0], crop[1])?;
        }
        if !s.skipped.is_empty() {
            writeln!(f, "skipped files:")?;
            for k in &s.skipped {
                writeln!(f, "  {}: {}", k.path, k.reason)?;
            }
        }
        if !s.fewer_frames.is_empty() {
            writeln!(
                f,
                "videos with fewer frames than their headers say (used as they are):"
            )?;
            for k in &s.fewer_frames {
                writeln!(f, "  {}", k.reason)?;
            }
        }
        if !s.load_failures.is_empty() {
            writeln!(f, "failed to load (replaced by other clips):")?;
            for k in &s.load_failures {
                writeln!(f, "  {}: {}", k.path, k.reason)?;
            }
        }
        writeln!(f, "batches drawn: {}", self.batches.len())?;
        for (i, b) in self.batches.iter().enumerate() {
            writeln!(
                f,
                "  #{i} bucket {} shape {:?}: {}",
                b.bucket,
                b.shape,
                b.sources.join(", ")
            )?;
        }
        if let Some((p, w, h)) = &self.sheet {
            writeln!(f, "contact sheet: {} ({w}x{h})", p.display())?;
        }
        Ok(())
    }
}

fn write_lerobot(f: &mut fmt::Formatter<'_>, l: &LeRobotSummary) -> fmt::Result {
    let ds = &l.dataset;
    let total: usize = ds.episodes.iter().map(|e| e.1).sum();
    writeln!(
        f,
        "LeRobot dataset {} ({}, {} fps): {} episodes, {total} frames",
        ds.root.display(),
        ds.version,
        ds.fps,
        ds.episodes.len()
    )?;
    writeln!(f, "  cameras:")?;
    for c in &ds.cameras {
        let used = l.cameras.is_empty() || l.cameras.contains(&c.key);
        let size = c
            .size
            .map_or("size not stated".to_string(), |(h, w)| format!("{w}x{h}"));
        writeln!(
            f,
            "    {}: {size}, {}{}",
            c.key,
            c.codec.as_deref().unwrap_or("codec not stated"),
            if used { "" } else { " (not used)" }
        )?;
    }
    if ds.episodes.len() > 24 {
        let mut lens: Vec<usize> = ds.episodes.iter().map(|e| e.1).collect();
        lens.sort_unstable();
        let show = |s: &Option<EpisodeSet>| s.as_ref().map_or("all".into(), |s| s.to_string());
        return writeln!(
            f,
            "  episodes: frames min {}, median {}, max {}; used {}, held out for eval {}",
            lens[0],
            lens[lens.len() / 2],
            lens[lens.len() - 1],
            show(&l.episodes),
            l.eval_episodes
                .as_ref()
                .map_or("none".into(), |s| s.to_string())
        );
    }
    let mut line = String::new();
    for &(e, len) in &ds.episodes {
        let role = if l.eval_episodes.as_ref().is_some_and(|h| h.contains(e)) {
            " eval"
        } else if l.episodes.as_ref().is_none_or(|s| s.contains(e)) {
            ""
        } else {
            " unused"
        };
        line.push_str(&format!(" {e}:{len}{role}"));
    }
    writeln!(f, "  episodes (index:frames):{line}")
}
