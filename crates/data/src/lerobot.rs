//! LeRobot datasets (Hugging Face `lerobot`, the format most robot-learning teams keep their
//! episodes in) as clip sources: each (episode, camera) is one clip source, so clips never
//! cross an episode boundary and each camera lands in the bucket of its own aspect ratio.
//!
//! Two layouts, told apart by `codebase_version` in `meta/info.json`:
//!
//! * **v2.x** (`v2.0`, `v2.1`): one video per episode and camera, at
//!   `info.video_path` = `videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4`
//!   (`episode_chunk = episode_index / chunks_size`); the episodes and their lengths are the
//!   lines of `meta/episodes.jsonl` (`{"episode_index": 0, "tasks": [...], "length": 41}`).
//! * **v3.0**: several episodes per video file, at
//!   `info.video_path` = `videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4`;
//!   the episodes are the rows of `meta/episodes/chunk-*/file-*.parquet`, with the columns
//!   `episode_index`, `length` and, per camera, `videos/{key}/chunk_index`,
//!   `videos/{key}/file_index`, `videos/{key}/from_timestamp` and `videos/{key}/to_timestamp`.
//!   The episode's first frame in the file is `round(from_timestamp * fps)` (lerobot writes
//!   constant-frame-rate files and looks frames up by timestamp).
//!
//! Cameras are the features of `dtype` `"video"` in `info.features` (their `shape` is
//! `[height, width, channels]`). Parquet is read with the `parquet` crate (Apache Arrow's Rust
//! implementation, the reference reader outside Python) through its row API, without the
//! Arrow in-memory layer, which keeps the dependency small.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::shown;

/// Whether `dir` is the root of a LeRobot dataset (it holds `meta/info.json`).
pub fn is_lerobot_root(dir: &Path) -> bool {
    dir.join("meta/info.json").is_file()
}

/// A set of episode indices: `"0..200"` (half-open), `"7"`, `"0..10,15,20..25"`, or a list of
/// integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EpisodeSpec", into = "EpisodeSpec")]
pub struct EpisodeSet {
    /// Half-open ranges.
    ranges: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum EpisodeSpec {
    Text(String),
    List(Vec<usize>),
}

impl TryFrom<EpisodeSpec> for EpisodeSet {
    type Error = String;
    fn try_from(spec: EpisodeSpec) -> Result<EpisodeSet, String> {
        match spec {
            EpisodeSpec::List(v) => Ok(EpisodeSet {
                ranges: v.into_iter().map(|e| (e, e + 1)).collect(),
            }),
            EpisodeSpec::Text(s) => s.parse(),
        }
    }
}

impl From<EpisodeSet> for EpisodeSpec {
    fn from(set: EpisodeSet) -> EpisodeSpec {
        EpisodeSpec::Text(set.to_string())
    }
}

impl std::str::FromStr for EpisodeSet {
    type Err = String;
    fn from_str(s: &str) -> Result<EpisodeSet, String> {
        let bad = |part: &str| {
            format!(
                "episodes {s:?}: cannot read {part:?} (expected episode numbers and half-open \
                 ranges separated by commas, e.g. \"0..200\" or \"0..10,15\")"
            )
        };
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = match part.split_once("..") {
                Some((a, b)) => {
                    let a = a.trim().parse::<usize>().map_err(|_| bad(part))?;
                    let b = b.trim().parse::<usize>().map_err(|_| bad(part))?;
                    if b <= a {
                        return Err(bad(part));
                    }
                    (a, b)
                }
                None => {
                    let e = part.parse::<usize>().map_err(|_| bad(part))?;
                    (e, e + 1)
                }
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(bad(s));
        }
        Ok(EpisodeSet { ranges })
    }
}

impl std::fmt::Display for EpisodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .ranges
            .iter()
            .map(|&(a, b)| {
                if b == a + 1 {
                    a.to_string()
                } else {
                    format!("{a}..{b}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl EpisodeSet {
    /// Whether episode `e` is in the set.
    pub fn contains(&self, e: usize) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..b).contains(&e))
    }
}

/// A camera: a `"video"` feature of `info.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Feature key, e.g. `observation.images.top`.
    pub key: String,
    /// Height and width from the feature's `shape` (`None` if not stated).
    pub size: Option<(usize, usize)>,
    /// `info.video.codec` (lerobot records e.g. `"av1"`), when stated.
    pub codec: Option<String>,
}

/// One episode of one camera: a clip source.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeVideo {
    /// Episode index.
    pub episode: usize,
    /// Camera key.
    pub camera: String,
    /// The video file holding it.
    pub path: PathBuf,
    /// Its first frame in that file (0 in v2.x).
    pub first: usize,
    /// Its frames.
    pub frames: usize,
    /// The episode's task text, when given.
    pub task: Option<String>,
}

/// A LeRobot dataset's metadata (no pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct LeRobotDataset {
    /// Root directory.
    pub root: PathBuf,
    /// `codebase_version`, e.g. `v2.1` or `v3.0`.
    pub version: String,
    /// Frame rate of every video.
    pub fps: f64,
    /// Every camera of the dataset, by feature key.
    pub cameras: Vec<Camera>,
    /// Every episode: `(index, length)`, in index order.
    pub episodes: Vec<(usize, usize)>,
    /// One entry per episode and camera, for every episode and camera (episode-major).
    pub videos: Vec<EpisodeVideo>,
}

/// Layout major version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    V2,
    V3,
}

fn err_in(path: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}: {what}", shown(path))
}

fn json_usize(v: &Value, key: &str, file: &Path) -> Result<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| {
            err_in(
                file,
                format!("`{key}` missing or not a non-negative integer"),
            )
        })
}

/// Fills lerobot's Python format placeholders: `{name}` and `{name:03d}`-style zero padding.
fn fill_template(template: &str, values: &[(&str, &str)], file: &Path) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| err_in(file, format!("path template {template:?}: unclosed `{{`")))?;
        let field = &rest[open + 1..open + close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                err_in(
                    file,
                    format!("path template {template:?}: unknown placeholder `{name}`"),
                )
            })?;
        let width = spec
            .strip_prefix('0')
            .and_then(|s| s.strip_suffix('d'))
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        out.push_str(&format!("{value:0>width$}"));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl LeRobotDataset {
    /// Reads `meta/info.json` and the episode index of the dataset at `root`.
    pub fn open(root: &Path) -> Result<LeRobotDataset> {
        let info_path = root.join("meta/info.json");
        let text = std::fs::read_to_string(&info_path).map_err(|e| {
            err_in(
                &info_path,
                format!("cannot read ({e}); a LeRobot dataset has meta/info.json"),
            )
        })?;
        let info: Value = serde_json::from_str(&text)
            .map_err(|e| err_in(&info_path, format!("not JSON: {e}")))?;
        let version = info
            .get("codebase_version")
            .and_then(Value::as_str)
            .ok_or_else(|| err_in(&info_path, "`codebase_version` missing"))?
            .to_string();
        let layout = match version.trim_start_matches('v').split('.').next() {
            Some("2") => Layout::V2,
            Some("3") => Layout::V3,
            _ => bail!(
                "{}: codebase_version {version:?} is not supported (expected v2.0, v2.1 or v3.0)",
                shown(&info_path)
            ),
        };
        let fps = info
            .get("fps")
            .and_then(Value::as_f64)
            .filter(|f| *f > 0.0)
            .ok_or_else(|| err_in(&info_path, "`fps` missing or not a positive number"))?;
        let video_path = info
            .get("video_path")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                err_in(
                    &info_path,
                    "`video_path` missing (a dataset without videos has no cameras to train on)",
                )
            })?
            .to_string();
        let features = info
            .get("features")
            .and_then(Value::as_object)
            .ok_or_else(|| err_in(&info_path, "`features` missing"))?;
        let cameras: Vec<Camera> = features
            .iter()
            .filter(|(_, f)| f.get("dtype").and_then(Value::as_str) == Some("video"))
            .map(|(key, f)| {
                let shape: Vec<usize> = f
                    .get("shape")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_u64().map(|x| x as usize))
                            .collect()
                    })
                    .unwrap_or_default();
                let info = f.get("info").or_else(|| f.get("video_info"));
                Camera {
                    key: key.clone(),
                    size: (shape.len() == 3).then(|| (shape[0], shape[1])),
                    codec: info
                        .and_then(|i| i.get("video.codec"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }
            })
            .collect();
        if cameras.is_empty() {
            bail!(
                "{}: no feature of dtype \"video\" (a LeRobot dataset stores camera frames as \
                 videos; image-only datasets are not supported)",
                shown(&info_path)
            );
        }
        let mut ds = LeRobotDataset {
            root: root.to_path_buf(),
            version,
            fps,
            cameras,
            episodes: Vec::new(),
            videos: Vec::new(),
        };
        match layout {
            Layout::V2 => {
                let chunks = info
                    .get("chunks_size")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000)
                    .max(1) as usize;
                ds.read_v2(&video_path, chunks, &info_path)?
            }
            Layout::V3 => ds.read_v3(&video_path, &info_path)?,
        }
        ds.episodes.sort();
        ds.videos
            .sort_by(|a, b| (a.episode, &a.camera).cmp(&(b.episode, &b.camera)));
        Ok(ds)
    }

    fn camera_order(&self, key: &str) -> usize {
        self.cameras.iter().position(|c| c.key == key).unwrap_or(0)
    }

    fn read_v2(&mut self, template: &str, chunks: usize, info_path: &Path) -> Result<()> {
        let path = self.root.join("meta/episodes.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            err_in(
                &path,
                format!("cannot read ({e}); v2.x datasets list episodes there"),
            )
        })?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let at = |what: String| anyhow!("{}, line {}: {what}", shown(&path), n + 1);
            let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
            let episode = json_usize(&v, "episode_index", &path).map_err(|e| at(e.to_string()))?;
            let length = json_usize(&v, "length", &path).map_err(|e| at(e.to_string()))?;
            let task = v
                .get("tasks")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(Value::as_str)
                .map(str::to_string);
            self.episodes.push((episode, length));
            let chunk = (episode / chunks).to_string();
            let index = episode.to_string();
            for cam in &self.cameras {
                let rel = fill_template(
                    template,
                    &[
                        ("episode_chunk", &chunk),
                        ("video_key", &cam.key),
                        ("episode_index", &index),
                    ],
                    info_path,
                )?;
                self.videos.push(EpisodeVideo {
                    episode,
                    camera: cam.key.clone(),
                    path: self.root.join(rel),
                    first: 0,
                    frames: length,
                    task: task.clone(),
                });
            }
        }
        Ok(())
    }

    fn read_v3(&mut self, template: &str, info_path: &Path) -> Result<()> {
        let dir = self.root.join("meta/episodes");
        let mut files = Vec::new();
        collect_parquet(&dir, &mut files)?;
        if files.is_empty() {
            bail!(
                "{}: no parquet files (v3.0 datasets list episodes in meta/episodes/chunk-*/file-*.parquet)",
                shown(&dir)
            );
        }
        files.sort();
        for file in files {
            for row in read_parquet_rows(&file)? {
                self.add_v3_episode(&row, &file, template, info_path)?;
            }
        }
        Ok(())
    }

    fn add_v3_episode(
        &mut self,
        row: &[(String, ParquetValue)],
        file: &Path,
        template: &str,
        info_path: &Path,
    ) -> Result<()> {
        let get = |name: &str| row.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let int = |name: &str| -> Result<usize> {
            match get(name) {
                Some(ParquetValue::Int(v)) if *v >= 0 => Ok(*v as usize),
                other => Err(err_in(
                    file,
                    format!("column `{name}`: expected a non-negative integer, found {other:?}"),
                )),
            }
        };
        let float = |name: &str| -> Result<f64> {
            match get(name) {
                Some(ParquetValue::Float(v)) => Ok(*v),
                Some(ParquetValue::Int(v)) => Ok(*v as f64),
                other => Err(err_in(
                    file,
                    format!("column `{name}`: expected a number, found {other:?}"),
                )),
            }
        };
        let episode = int("episode_index")?;
        let length = int("length")?;
        let task = match get("tasks") {
            Some(ParquetValue::List(items)) => items.first().cloned(),
            Some(ParquetValue::Text(t)) => Some(t.clone()),
            _ => None,
        };
        self.episodes.push((episode, length));
        let keys: Vec<String> = self.cameras.iter().map(|c| c.key.clone()).collect();
        for key in keys {
            let chunk = int(&format!("videos/{key}/chunk_index"))?.to_string();
            let file_index = int(&format!("videos/{key}/file_index"))?.to_string();
            let from = float(&format!("videos/{key}/from_timestamp"))?;
            let to = float(&format!("videos/{key}/to_timestamp"))?;
            let rel = fill_template(
                template,
                &[
                    ("video_key", &key),
                    ("chunk_index", &chunk),
                    ("file_index", &file_index),
                ],
                info_path,
            )?;
            let first = (from * self.fps).round() as usize;
            // `length` frames, unless the timestamps say fewer.
            let span = ((to - from) * self.fps).round().max(0.0) as usize;
            self.videos.push(EpisodeVideo {
                episode,
                camera: key,
                path: self.root.join(rel),
                first,
                frames: length.min(span.max(1)),
                task: task.clone(),
            });
        }
        Ok(())
    }

    /// Checks that every key of `wanted` is a camera of the dataset.
    pub fn check_cameras(&self, wanted: &[String]) -> Result<()> {
        for key in wanted {
            if !self.cameras.iter().any(|c| &c.key == key) {
                let have: Vec<&str> = self.cameras.iter().map(|c| c.key.as_str()).collect();
                bail!(
                    "LeRobot dataset {}: no camera {key:?} (its video features are {})",
                    shown(&self.root),
                    have.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The clip sources of the cameras `cameras` (empty = all) and the episodes that `keep`
    /// accepts, in episode then camera order.
    pub fn select<'a>(
        &'a self,
        cameras: &'a [String],
        keep: impl Fn(usize) -> bool + 'a,
    ) -> impl Iterator<Item = &'a EpisodeVideo> + 'a {
        let mut v: Vec<&EpisodeVideo> = self
            .videos
            .iter()
            .filter(move |v| cameras.is_empty() || cameras.contains(&v.camera))
            .filter(move |v| keep(v.episode))
            .collect();
        v.sort_by_key(|v| (v.episode, self.camera_order(&v.camera)));
        v.into_iter()
    }

    /// Distinct episode indices.
    pub fn episode_indices(&self) -> BTreeSet<usize> {
        self.episodes.iter().map(|e| e.0).collect()
    }
}

/// `*.parquet` files under `dir`, recursively.
fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| err_in(dir, format!("cannot list directory: {e}")))?;
    for entry in rd.filter_map(|e| e.ok()) {
        let p = entry.path();
        if p.is_dir() {
            collect_parquet(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// A parquet cell, reduced to what the episode index needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ParquetValue {
    /// Any integer type.
    Int(i64),
    /// Any floating-point type.
    Float(f64),
    /// A string.
    Text(String),
    /// A list of strings (e.g. `tasks`).
    List(Vec<String>),
    /// Anything else (statistics, nested groups), not read.
    Other,
}

/// The rows of a parquet file as `(column, value)` lists.
pub fn read_parquet_rows(path: &Path) -> Result<Vec<Vec<(String, ParquetValue)>>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    fn value(f: &Field) -> ParquetValue {
        match f {
            Field::Byte(v) => ParquetValue::Int(*v as i64),
            Field::Short(v) => ParquetValue::Int(*v as i64),
            Field::Int(v) => ParquetValue::Int(*v as i64),
            Field::Long(v) => ParquetValue::Int(*v),
            Field::UByte(v) => ParquetValue::Int(*v as i64),
            Field::UShort(v) => ParquetValue::Int(*v as i64),
            Field::UInt(v) => ParquetValue::Int(*v as i64),
            Field::ULong(v) => ParquetValue::Int(*v as i64),
            Field::Float(v) => ParquetValue::Float(*v as f64),
            Field::Double(v) => ParquetValue::Float(*v),
            Field::Str(s) => ParquetValue::Text(s.clone()),
            Field::ListInternal(l) => ParquetValue::List(
                l.elements()
                    .iter()
                    .filter_map(|e| match e {
                        Field::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => ParquetValue::Other,
        }
    }
    let file = File::open(path).map_err(|e| err_in(path, format!("cannot open: {e}")))?;
    let reader = SerializedFileReader::new(file)
        .with_context(|| format!("{}: not a readable parquet file", shown(path)))?;
    let rows = reader
        .get_row_iter(None)
        .with_context(|| format!("{}: cannot read parquet rows", shown(path)))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row.with_context(|| format!("{}: cannot read a parquet row", shown(path)))?;
        out.push(
            row.get_column_iter()
                .map(|(name, f)| (name.clone(), value(f)))
                .collect(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_sets() {
        let s: EpisodeSet = "0..3, 7,10..12".parse().unwrap();
        let inside: Vec<usize> = (0..13).filter(|&e| s.contains(e)).collect();
        assert_eq!(inside, [0, 1, 2, 7, 10, 11]);
        assert_eq!(s.to_string(), "0..3,7,10..12");
        for bad in ["", "3..1", "a", "1..", "2..2"] {
            assert!(bad.parse::<EpisodeSet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_follow_python_format() {
        let p = Path::new("info.json");
        let t = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4";
        let got = fill_template(
            t,
            &[
                ("episode_chunk", "1"),
                ("video_key", "observation.images.top"),
                ("episode_index", "1042"),
            ],
            p,
        )
        .unwrap();
        assert_eq!(
            got,
            "videos/chunk-001/observation.images.top/episode_001042.mp4"
        );
        let e = fill_template("{nope}", &[], p).unwrap_err().to_string();
        assert!(e.contains("unknown placeholder `nope`"), "{e}");
    }
}
