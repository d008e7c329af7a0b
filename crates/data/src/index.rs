//! The dataset index: every usable clip source (image, video, frame folder, manifest line) with
//! its frame count and size, plus the files that could not be indexed and why.
//!
//! Probing a video opens it, so a large dataset is slow to index; [`build_index`] therefore
//! keeps a JSON cache (`index_cache`) keyed by path, file size and modification time (for frame
//! folders: the directory's mtime and file count) and only re-probes changed files. Probing is
//! spread over `threads` threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::config::{Mode, SourceConfig, SourceKind};
use crate::lerobot::{EpisodeSet, LeRobotDataset, is_lerobot_root};
use crate::manifest::read_manifest;
use crate::{is_image_path, is_video_path, list_image_files, natural_cmp, shown};

/// What a clip is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    /// A single image (one frame).
    Image,
    /// A video file.
    Video,
    /// A frame folder.
    Frames,
    /// A clip of a [`crate::provider::ClipProvider`] (not a file).
    Provided,
}

/// Probed facts about one media path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Kind of media.
    pub kind: MediaKind,
    /// Number of frames.
    pub frames: usize,
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frame rate, when known.
    pub fps: Option<f64>,
    /// Frames that actually decode, when a read found fewer than the header's `frames` (see
    /// [`crate::frame_count`]); stored in the index cache once found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<usize>,
    /// A video whose frame intervals vary (see [`crate::timestamps`]): with `target_fps`, its
    /// clips are sampled by timestamps.
    #[serde(default)]
    pub variable_rate: bool,
}

impl MediaInfo {
    /// One past the last frame that can be read: `decoded` when known, else `frames`.
    pub fn readable(&self) -> usize {
        self.decoded.map_or(self.frames, |d| d.min(self.frames))
    }
}

/// One indexed clip source.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// Media path.
    pub path: PathBuf,
    /// Probed facts.
    pub info: MediaInfo,
    /// First usable frame (manifest `start`, else 0).
    pub first: usize,
    /// Number of usable frames from `first`.
    pub frames: usize,
    /// Frame rate (manifest override, else probed).
    pub fps: Option<f64>,
    /// Manifest caption.
    pub caption: Option<String>,
    /// Repeat factor of its source (see [`SourceConfig::weight`]).
    pub repeat: usize,
    /// What the clip source is within a dataset, e.g. `episode 3 · observation.images.top`
    /// for LeRobot sources.
    pub label: Option<String>,
    /// For [`MediaKind::Provided`] clips: the clip's index in the provider.
    pub provided: Option<usize>,
}

/// A file left out, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The result of indexing.
#[derive(Debug, Clone, Default)]
pub struct DatasetIndex {
    /// Usable clip sources, in source order then natural path order.
    pub entries: Vec<IndexEntry>,
    /// Files that could not be indexed.
    pub skipped: Vec<Skipped>,
    /// Paths probed this time (not taken from the cache).
    pub probed: usize,
}

/// A path found while walking the sources, before probing.
struct Candidate {
    path: PathBuf,
    kind: MediaKind,
    first: usize,
    end: Option<usize>,
    fps: Option<f64>,
    caption: Option<String>,
    repeat: usize,
    label: Option<String>,
}

/// Cache file format.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: HashMap<String, CacheEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    stamp: (u64, u64),
    info: std::result::Result<MediaInfo, String>,
}

/// 2: `decoded` and `variable_rate` added to the probed facts.
const CACHE_VERSION: u32 = 2;

/// `(size, mtime in ns)` of a file; `(image file count, mtime)` of a frame folder.
fn stamp(path: &Path, kind: MediaKind) -> Result<(u64, u64), String> {
    let md = std::fs::metadata(path).map_err(|e| format!("cannot stat: {e}"))?;
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    let size = if kind == MediaKind::Frames {
        list_image_files(path).map_err(|e| e.to_string())?.len() as u64
    } else {
        md.len()
    };
    Ok((size, mtime))
}

/// Probes one path (no cache).
pub fn probe(path: &Path, kind: MediaKind) -> Result<MediaInfo> {
    match kind {
        MediaKind::Image => {
            let (w, h) = image::image_dimensions(path)
                .map_err(|e| anyhow!("{}: cannot read image header: {e}", shown(path)))?;
            Ok(MediaInfo {
                kind,
                frames: 1,
                width: w as usize,
                height: h as usize,
                fps: None,
                decoded: None,
                variable_rate: false,
            })
        }
        MediaKind::Frames => {
            let files = list_image_files(path)?;
            let Some(first) = files.first() else {
                bail!("{}: frame folder holds no image files", shown(path));
            };
            let (w, h) = image::image_dimensions(first)
                .map_err(|e| anyhow!("{}: cannot read image header: {e}", shown(first)))?;
            Ok(MediaInfo {
                kind,
                frames: files.len(),
                width: w as usize,
                height: h as usize,
                fps: None,
                decoded: None,
                variable_rate: false,
            })
        }
        MediaKind::Provided => bail!(
            "{}: provided clips are described by their provider, not probed",
            shown(path)
        ),
        MediaKind::Video => {
            #[cfg(feature = "video")]
            {
                let p = crate::probe_video_stream(path)?;
                Ok(MediaInfo {
                    kind,
                    frames: p.frames,
                    width: p.width,
                    height: p.height,
                    fps: Some(p.fps),
                    decoded: None,
                    variable_rate: p.variable_rate,
                })
            }
            #[cfg(not(feature = "video"))]
            bail!(
                "{}: video files need the `video` cargo feature of cosmotok-data",
                shown(path)
            )
        }
    }
}

/// Sorted directory entries (natural order of names), hidden entries left out.
fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| anyhow!("{}: cannot list directory: {e}", shown(dir)))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    v.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(v)
}

/// Whether the image files directly in a directory look like one frame sequence: at least two,
/// one extension, names equal once digits are removed, each with a digit.
pub fn looks_like_frame_folder(images: &[PathBuf]) -> bool {
    if images.len() < 2 {
        return false;
    }
    let pattern = |p: &PathBuf| -> Option<(String, String)> {
        let name = p.file_name()?.to_string_lossy().into_owned();
        if !name.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let stem: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
        let ext = p.extension()?.to_string_lossy().to_lowercase();
        Some((stem, ext))
    };
    let Some(first) = pattern(&images[0]) else {
        return false;
    };
    images.iter().all(|p| pattern(p).as_ref() == Some(&first))
}

fn candidate(path: PathBuf, kind: MediaKind, repeat: usize) -> Candidate {
    Candidate {
        path,
        kind,
        first: 0,
        end: None,
        fps: None,
        caption: None,
        repeat,
        label: None,
    }
}

/// Walks `dir` recursively, collecting candidates of the wanted kinds.
fn walk(dir: &Path, kind: SourceKind, repeat: usize, out: &mut Vec<Candidate>) -> Result<()> {
    if kind == SourceKind::Auto && is_lerobot_root(dir) {
        let src = SourceConfig {
            kind: SourceKind::LeRobot,
            ..SourceConfig::auto(dir)
        };
        return lerobot(&src, Mode::Train, repeat, out);
    }
    let entries = sorted_dir(dir)?;
    let images: Vec<PathBuf> = entries
        .iter()
        .filter(|p| p.is_file() && is_image_path(p))
        .cloned()
        .collect();
    let frame_folder = match kind {
        SourceKind::Frames => !images.is_empty(),
        SourceKind::Auto => looks_like_frame_folder(&images),
        _ => false,
    };
    if frame_folder {
        out.push(candidate(dir.to_path_buf(), MediaKind::Frames, repeat));
    }
    for p in entries {
        if p.is_dir() {
            walk(&p, kind, repeat, out)?;
        } else if is_video_path(&p) && matches!(kind, SourceKind::Auto | SourceKind::Videos) {
            out.push(candidate(p, MediaKind::Video, repeat));
        } else if is_image_path(&p)
            && !frame_folder
            && matches!(kind, SourceKind::Auto | SourceKind::Images)
        {
            out.push(candidate(p, MediaKind::Image, repeat));
        }
    }
    Ok(())
}

fn kind_of_path(path: &Path) -> Option<MediaKind> {
    if path.is_dir() {
        Some(MediaKind::Frames)
    } else if is_video_path(path) {
        Some(MediaKind::Video)
    } else if is_image_path(path) {
        Some(MediaKind::Image)
    } else {
        None
    }
}

/// Lists the candidates of one source (for the loader in `mode`). A missing path is an error.
fn collect(
    src: &SourceConfig,
    mode: Mode,
    out: &mut Vec<Candidate>,
    skipped: &mut Vec<Skipped>,
) -> Result<()> {
    let path = &src.path;
    if !path.exists() {
        bail!(
            "data source {}: no such file or directory (expected a directory of media, a media \
             file, a .jsonl manifest or a LeRobot dataset)",
            shown(path)
        );
    }
    let repeat = src.weight.round() as usize;
    if src.is_lerobot() {
        return lerobot(src, mode, repeat, out);
    }
    if !src.cameras.is_empty() || src.episodes.is_some() || src.eval_episodes.is_some() {
        bail!(
            "data source {}: `cameras`, `episodes` and `eval_episodes` apply to LeRobot datasets \
             only (kind = \"lerobot\": a directory with meta/info.json)",
            shown(path)
        );
    }
    let is_manifest = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    match src.kind {
        SourceKind::Manifest => manifest(path, repeat, out, skipped),
        SourceKind::Auto if is_manifest => manifest(path, repeat, out, skipped),
        _ if path.is_dir() => walk(path, src.kind, repeat, out),
        kind => {
            let media = match (kind, kind_of_path(path)) {
                (SourceKind::Auto, Some(k)) => k,
                (SourceKind::Images, Some(MediaKind::Image)) => MediaKind::Image,
                (SourceKind::Videos, Some(MediaKind::Video)) => MediaKind::Video,
                _ => bail!(
                    "data source {} (kind {kind:?}): not a file of that kind (expected a \
                     directory, a matching media file or a .jsonl manifest)",
                    shown(path)
                ),
            };
            out.push(candidate(path.clone(), media, repeat));
            Ok(())
        }
    }
}

/// The (episode, camera) clip sources of a LeRobot dataset: training leaves the source's
/// `eval_episodes` out, evaluation reads only them (when given).
fn lerobot(src: &SourceConfig, mode: Mode, repeat: usize, out: &mut Vec<Candidate>) -> Result<()> {
    let ds = LeRobotDataset::open(&src.path)?;
    ds.check_cameras(&src.cameras)?;
    let (episodes, held_out) = (src.episodes.as_ref(), src.eval_episodes.as_ref());
    let keep = |e: usize| match (mode, held_out) {
        (Mode::Eval, Some(h)) => h.contains(e),
        (Mode::Train, Some(h)) if h.contains(e) => false,
        _ => episodes.is_none_or(|s| s.contains(e)),
    };
    let before = out.len();
    for v in ds.select(&src.cameras, keep) {
        out.push(Candidate {
            path: v.path.clone(),
            kind: MediaKind::Video,
            first: v.first,
            end: Some(v.first + v.frames),
            fps: Some(ds.fps),
            caption: v.task.clone(),
            repeat,
            label: Some(format!("episode {} · {}", v.episode, v.camera)),
        });
    }
    if out.len() == before {
        let show = |s: Option<&EpisodeSet>| s.map_or("all".to_string(), |s| format!("\"{s}\""));
        bail!(
            "LeRobot dataset {}: no episodes selected for {} (it has episodes {:?}; episodes = \
             {}, eval_episodes = {})",
            shown(&src.path),
            if mode == Mode::Eval {
                "evaluation"
            } else {
                "training"
            },
            ds.episode_indices(),
            show(episodes),
            show(held_out),
        );
    }
    Ok(())
}

fn manifest(
    path: &Path,
    repeat: usize,
    out: &mut Vec<Candidate>,
    skipped: &mut Vec<Skipped>,
) -> Result<()> {
    for line in read_manifest(path)? {
        match line {
            Err(reason) => skipped.push(Skipped {
                path: path.display().to_string(),
                reason,
            }),
            Ok(e) => match kind_of_path(&e.path) {
                None => skipped.push(Skipped {
                    path: e.path.display().to_string(),
                    reason: format!("listed in {} but missing or not a media file", shown(path)),
                }),
                Some(kind) => out.push(Candidate {
                    path: e.path,
                    kind,
                    first: e.start.unwrap_or(0),
                    end: e.end,
                    fps: e.fps,
                    caption: e.caption,
                    repeat,
                    label: None,
                }),
            },
        }
    }
    Ok(())
}

fn load_cache(path: &Path) -> CacheFile {
    let Ok(text) = std::fs::read_to_string(path) else {
        return CacheFile::default();
    };
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(c) if c.version == CACHE_VERSION => c,
        Ok(_) | Err(_) => {
            tracing::warn!(
                "{}: index cache unreadable or from another version; rebuilding",
                shown(path)
            );
            CacheFile::default()
        }
    }
}

/// Writes the cache atomically (a scratch file renamed over it), so an interrupted write never
/// leaves a half-written cache behind.
fn write_cache(cache: &Path, file: &CacheFile) -> Result<()> {
    crate::ensure_parent_dir(cache)?;
    let text = serde_json::to_string(file)?;
    let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, cache))
        .map_err(|e| anyhow!("{}: cannot write index cache: {e}", shown(cache)))
}

/// Stores in the index cache at `cache` that only `decoded` frames of `path` decode (the
/// entry's stamp is kept, so the count lasts until the file changes). No cache entry for
/// `path`: nothing to do.
pub fn record_decoded(cache: &Path, path: &Path, decoded: usize) -> Result<()> {
    let mut file = load_cache(cache);
    let Some(CacheEntry { info: Ok(info), .. }) = file.entries.get_mut(&path.display().to_string())
    else {
        return Ok(());
    };
    info.decoded = Some(decoded);
    file.version = CACHE_VERSION;
    write_cache(cache, &file)
}

/// Indexes `sources` (probing on `threads` threads), using and refreshing the JSON cache at
/// `cache` when given. Files that cannot be probed are listed in `skipped` (one warning each);
/// a missing source path is an error.
pub fn build_index(
    sources: &[SourceConfig],
    mode: Mode,
    cache: Option<&Path>,
    threads: usize,
) -> Result<DatasetIndex> {
    let mut cands = Vec::new();
    let mut skipped = Vec::new();
    for src in sources {
        collect(src, mode, &mut cands, &mut skipped)?;
    }
    let mut cache_file = cache.map(load_cache).unwrap_or_default();
    cache_file.version = CACHE_VERSION;
    // Probe what the cache does not answer.
    let mut results: Vec<Option<CacheEntry>> = Vec::with_capacity(cands.len());
    let mut todo = Vec::new();
    // Candidates sharing a file (LeRobot v3.0 episodes, manifest ranges) probe it once.
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut shares = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        let key = c.path.display().to_string();
        if let Some(&j) = first_of.get(&key) {
            results.push(None);
            shares.push((i, j));
            continue;
        }
        first_of.insert(key.clone(), i);
        let st = stamp(&c.path, c.kind);
        let hit = match (&st, cache_file.entries.get(&key)) {
            (Ok(s), Some(e))
                if e.stamp == *s && e.info.as_ref().map_or(true, |i| i.kind == c.kind) =>
            {
                Some(e.clone())
            }
            _ => None,
        };
        match (hit, st) {
            (Some(e), _) => results.push(Some(e)),
            (None, Err(reason)) => results.push(Some(CacheEntry {
                stamp: (0, 0),
                info: Err(format!("{}: {reason}", shown(&c.path))),
            })),
            (None, Ok(s)) => {
                results.push(None);
                todo.push((i, s));
            }
        }
    }
    let probed = todo.len();
    let threads = threads.max(1).min(todo.len().max(1));
    let chunk = todo.len().div_ceil(threads).max(1);
    let fresh: Vec<(usize, CacheEntry)> = std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(chunk)
            .map(|part| {
                let cands = &cands;
                s.spawn(move || {
                    part.iter()
                        .map(|&(i, st)| {
                            let c = &cands[i];
                            let info = probe(&c.path, c.kind).map_err(|e| format!("{e:#}"));
                            (i, CacheEntry { stamp: st, info })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("index thread panicked"))
            .collect()
    });
    for (i, e) in fresh {
        if e.stamp != (0, 0) {
            cache_file
                .entries
                .insert(cands[i].path.display().to_string(), e.clone());
        }
        results[i] = Some(e);
    }
    for (i, j) in shares {
        results[i] = results[j].clone();
    }
    let mut entries = Vec::new();
    for (c, r) in cands.into_iter().zip(results) {
        let r = r.expect("every candidate resolved");
        match r.info {
            Err(reason) => skipped.push(Skipped {
                path: c.path.display().to_string(),
                reason: match &c.label {
                    Some(l) => format!("{l}: {reason}"),
                    None => reason,
                },
            }),
            Ok(info) => {
                let end = c.end.unwrap_or(info.frames).min(info.frames);
                if c.first >= end {
                    let range = format!(
                        "{}..{}",
                        c.first,
                        c.end.map_or("end".into(), |e| e.to_string())
                    );
                    skipped.push(Skipped {
                        path: c.path.display().to_string(),
                        reason: match &c.label {
                            Some(l) => format!(
                                "{l}: frames {range} are outside the {} frames of {}",
                                info.frames,
                                shown(&c.path)
                            ),
                            None => format!(
                                "manifest range {range} is outside its {} frames",
                                info.frames
                            ),
                        },
                    });
                    continue;
                }
                entries.push(IndexEntry {
                    frames: end - c.first,
                    first: c.first,
                    fps: c.fps.or(info.fps),
                    caption: c.caption,
                    repeat: c.repeat,
                    label: c.label,
                    provided: None,
                    path: c.path,
                    info,
                });
            }
        }
    }
    for s in &skipped {
        tracing::warn!("skipped {}: {}", s.path, s.reason);
    }
    if let Some(cache) = cache {
        write_cache(cache, &cache_file)?;
    }
    Ok(DatasetIndex {
        entries,
        skipped,
        probed,
    })
}
