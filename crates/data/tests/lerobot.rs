//! LeRobot datasets as clip sources (issue #18): the bundled robot sample (assets/robot,
//! LeRobot v2.1: 3 episodes of 41, 33 and 37 frames, cameras `observation.images.top` 256×192
//! and `observation.images.wrist` 192×256, AV1) and a v3.0 layout built from it here (the
//! episodes of each camera concatenated into one file, the episode table in parquet). Clips stay
//! inside their episode, cameras land in their own buckets, held-out episodes are only in the
//! evaluation pass, and a truncated episode video is skipped and named.
#![cfg(feature = "video")]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{TempDir, tiny_config};
use cosmotok_data::lerobot::{EpisodeSet, LeRobotDataset};
use cosmotok_data::{
    DataConfig, Frames, Loader, Mode, SourceConfig, SourceKind, read_video, write_video,
};

const TOP: &str = "observation.images.top";
const WRIST: &str = "observation.images.wrist";
const LENGTHS: [usize; 3] = [41, 33, 37];

fn robot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/robot")
}

fn source(path: &Path, eval_episodes: Option<&str>, cameras: &[&str]) -> SourceConfig {
    SourceConfig {
        kind: SourceKind::LeRobot,
        cameras: cameras.iter().map(|c| c.to_string()).collect(),
        eval_episodes: eval_episodes.map(|e| e.parse::<EpisodeSet>().unwrap()),
        ..SourceConfig::auto(path)
    }
}

fn config(src: SourceConfig) -> DataConfig {
    DataConfig {
        sources: vec![src],
        image_ratio: 0.0,
        ..tiny_config(&[])
    }
}

/// `(path, start)` of every clip of `n` batches.
fn clips(loader: &mut Loader, n: usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let Some(b) = loader.try_next().unwrap() else {
            break;
        };
        assert!(b.data.iter().all(|v| (-1.0..=1.0).contains(v)));
        for s in &b.sources {
            let (p, st) = s.rsplit_once(':').unwrap();
            out.push((p.to_string(), st.parse().unwrap()));
        }
    }
    out
}

fn episode_of_v2(path: &str) -> usize {
    let name = Path::new(path).file_stem().unwrap().to_string_lossy();
    name.trim_start_matches("episode_").parse().unwrap()
}

#[test]
fn v21_sample_metadata() {
    let ds = LeRobotDataset::open(&robot()).unwrap();
    assert_eq!(ds.version, "v2.1");
    assert_eq!(ds.fps, 10.0);
    let cams: Vec<(&str, Option<(usize, usize)>)> = ds
        .cameras
        .iter()
        .map(|c| (c.key.as_str(), c.size))
        .collect();
    assert_eq!(cams, [(TOP, Some((192, 256))), (WRIST, Some((256, 192)))]);
    assert_eq!(ds.cameras[0].codec.as_deref(), Some("av1"));
    assert_eq!(ds.episodes, [(0, 41), (1, 33), (2, 37)]);
    assert_eq!(ds.videos.len(), 6);
    for v in &ds.videos {
        assert!(v.path.is_file(), "{}", v.path.display());
        assert_eq!(v.first, 0);
        assert_eq!(v.frames, LENGTHS[v.episode]);
        // The AV1 videos decode (Debian's FFmpeg: libdav1d) to the frames the metadata says.
        let f = read_video(&v.path, 0, None).unwrap();
        assert_eq!(f.frames, v.frames, "{}", v.path.display());
    }
}

#[test]
fn v21_holds_out_episodes_and_buckets_cameras() {
    let cfg = config(source(&robot(), Some("2"), &[]));
    let mut train = Loader::new(&cfg, Mode::Train).unwrap();
    let s = train.stats();
    assert_eq!(s.entries, 4, "episodes 0 and 1, two cameras each");
    let per: Vec<(&str, usize)> = s.per_bucket.iter().map(|(b, n)| (b.as_str(), *n)).collect();
    assert!(
        per.contains(&("4:3", 2)) && per.contains(&("3:4", 2)),
        "{per:?}"
    );
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    let seen = clips(&mut train, 16);
    for (path, start) in &seen {
        let e = episode_of_v2(path);
        assert!(e < 2, "held-out episode {e} in training: {path}");
        assert!(start + 9 <= LENGTHS[e], "{path}:{start}");
    }
    for cam in [TOP, WRIST] {
        assert!(
            seen.iter().any(|(p, _)| p.contains(cam)),
            "no clip of {cam}"
        );
    }

    let mut eval = Loader::new(&cfg, Mode::Eval).unwrap();
    let seen = clips(&mut eval, 100);
    assert_eq!(seen.len(), 2, "episode 2 of both cameras: {seen:?}");
    for (path, start) in &seen {
        assert_eq!(episode_of_v2(path), 2);
        assert_eq!(*start, (37 - 9) / 2, "centred clip");
    }

    // One camera only; an unknown camera is an error naming it and the cameras there are.
    let one = Loader::new(&config(source(&robot(), Some("2"), &[TOP])), Mode::Train).unwrap();
    assert_eq!(one.stats().entries, 2);
    let e = format!(
        "{:#}",
        Loader::new(
            &config(source(&robot(), None, &["observation.images.left"])),
            Mode::Train
        )
        .unwrap_err()
    );
    assert!(
        e.contains("observation.images.left") && e.contains(WRIST),
        "{e}"
    );
}

#[test]
fn auto_kind_and_episode_ranges() {
    // `auto` recognises the dataset; `episodes` restricts it.
    let cfg = config(SourceConfig {
        episodes: Some("1..3".parse().unwrap()),
        ..SourceConfig::auto(robot())
    });
    let l = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(l.stats().entries, 4);
    assert!(
        l.index()
            .entries
            .iter()
            .all(|e| e.label.as_deref().is_some_and(|l| !l.contains("episode 0")))
    );
    // Selection options on a plain folder are an error.
    let e = format!(
        "{:#}",
        Loader::new(
            &config(SourceConfig {
                episodes: Some("0".parse().unwrap()),
                ..SourceConfig::auto(common::media().join("videos"))
            }),
            Mode::Train
        )
        .unwrap_err()
    );
    assert!(e.contains("apply to LeRobot datasets only"), "{e}");
    // Held out everything there is: a clear error, not an empty loader.
    let e = format!(
        "{:#}",
        Loader::new(&config(source(&robot(), Some("0..3"), &[])), Mode::Train).unwrap_err()
    );
    assert!(e.contains("no episodes selected for training"), "{e}");
}

#[test]
fn truncated_episode_video_is_skipped_and_named() {
    let tmp = TempDir::new("lerobot-trunc");
    copy_dir(&robot(), tmp.path());
    let victim = tmp
        .path()
        .join(format!("videos/chunk-000/{TOP}/episode_000001.mp4"));
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let mut l = Loader::new(&config(source(tmp.path(), None, &[])), Mode::Train).unwrap();
    let s = l.stats();
    assert_eq!(s.entries + s.skipped.len() + s.load_failures.len(), 6);
    let seen = clips(&mut l, 12);
    let s = l.stats();
    let bad: Vec<_> = s.skipped.iter().chain(&s.load_failures).collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].path.ends_with("episode_000001.mp4"), "{:?}", bad[0]);
    assert!(
        bad[0].reason.contains(&format!("episode 1 · {TOP}"))
            || bad[0].reason.contains("episode_000001"),
        "{:?}",
        bad[0]
    );
    assert!(!seen.iter().any(|(p, _)| *p == victim.display().to_string()));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// Builds a LeRobot v3.0 layout from the v2.1 sample: per camera, the three episodes
/// concatenated into `videos/<key>/chunk-000/file-000.mp4` (re-encoded as H.264), and
/// `meta/episodes/chunk-000/file-000.parquet` with lerobot's columns (Snappy, as pyarrow writes).
fn build_v3(dir: &Path) {
    let src = LeRobotDataset::open(&robot()).unwrap();
    for cam in [TOP, WRIST] {
        let mut images = Vec::new();
        for e in 0..3 {
            let v = src
                .videos
                .iter()
                .find(|v| v.episode == e && v.camera == cam)
                .unwrap();
            let f = read_video(&v.path, 0, None).unwrap();
            images.extend((0..f.frames).map(|t| f.to_rgb8(t)));
        }
        let all = Frames::from_rgb8(&images, Some(10.0)).unwrap();
        write_video(
            &dir.join(format!("videos/{cam}/chunk-000/file-000.mp4")),
            &all,
            10.0,
        )
        .unwrap();
    }
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(robot().join("meta/info.json")).unwrap())
            .unwrap();
    info["codebase_version"] = "v3.0".into();
    info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet".into();
    info["video_path"] =
        "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4".into();
    std::fs::create_dir_all(dir.join("meta/episodes/chunk-000")).unwrap();
    std::fs::write(
        dir.join("meta/info.json"),
        serde_json::to_string_pretty(&info).unwrap(),
    )
    .unwrap();
    write_episodes_parquet(&dir.join("meta/episodes/chunk-000/file-000.parquet"));
}

fn write_episodes_parquet(path: &Path) {
    use parquet::basic::{Compression, Repetition, Type as Physical};
    use parquet::column::writer::ColumnWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let mut from = [0.0f64; 3];
    for e in 1..3 {
        from[e] = from[e - 1] + LENGTHS[e - 1] as f64 / 10.0;
    }
    let to: Vec<f64> = (0..3).map(|e| from[e] + LENGTHS[e] as f64 / 10.0).collect();
    let mut ints: Vec<(String, Vec<i64>)> = vec![
        ("episode_index".into(), vec![0, 1, 2]),
        ("length".into(), LENGTHS.iter().map(|&l| l as i64).collect()),
    ];
    let mut floats: Vec<(String, Vec<f64>)> = Vec::new();
    for cam in [TOP, WRIST] {
        ints.push((format!("videos/{cam}/chunk_index"), vec![0; 3]));
        ints.push((format!("videos/{cam}/file_index"), vec![0; 3]));
        floats.push((format!("videos/{cam}/from_timestamp"), from.to_vec()));
        floats.push((format!("videos/{cam}/to_timestamp"), to.clone()));
    }
    let mut fields = Vec::new();
    for (name, _) in &ints {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, Physical::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .unwrap(),
        ));
    }
    for (name, _) in &floats {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, Physical::DOUBLE)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .unwrap(),
        ));
    }
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .unwrap(),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut i = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        match col.untyped() {
            ColumnWriter::Int64ColumnWriter(c) => {
                c.write_batch(&ints[i].1, None, None).unwrap();
            }
            ColumnWriter::DoubleColumnWriter(c) => {
                c.write_batch(&floats[i - ints.len()].1, None, None)
                    .unwrap();
            }
            _ => unreachable!(),
        }
        col.close().unwrap();
        i += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
}

fn psnr(a: &Frames, b: &Frames) -> f64 {
    let (x, y) = (a.to_rgb8(0).into_raw(), b.to_rgb8(0).into_raw());
    let mse = x
        .iter()
        .zip(&y)
        .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn v30_layout_built_from_the_sample() {
    let tmp = TempDir::new("lerobot-v3");
    build_v3(tmp.path());
    let ds = LeRobotDataset::open(tmp.path()).unwrap();
    assert_eq!(ds.version, "v3.0");
    assert_eq!(ds.episodes, [(0, 41), (1, 33), (2, 37)]);
    let firsts: Vec<(usize, &str, usize, usize)> = ds
        .videos
        .iter()
        .map(|v| (v.episode, v.camera.as_str(), v.first, v.frames))
        .collect();
    assert_eq!(
        firsts,
        [
            (0, TOP, 0, 41),
            (0, WRIST, 0, 41),
            (1, TOP, 41, 33),
            (1, WRIST, 41, 33),
            (2, TOP, 74, 37),
            (2, WRIST, 74, 37),
        ]
    );
    // The timestamp → frame mapping lands on the episode's first frame: episode 1's first frame
    // in the concatenated file matches the v2.1 episode file's first frame (re-encoded, so by
    // PSNR), and not the frame before it (episode 0's last).
    let v2 = robot().join(format!("videos/chunk-000/{TOP}/episode_000001.mp4"));
    let want = read_video(&v2, 0, Some(1)).unwrap();
    let v3 = tmp
        .path()
        .join(format!("videos/{TOP}/chunk-000/file-000.mp4"));
    let at = read_video(&v3, 41, Some(1)).unwrap();
    let before = read_video(&v3, 40, Some(1)).unwrap();
    let (good, off) = (psnr(&at, &want), psnr(&before, &want));
    assert!(good > 35.0 && good > off + 3.0, "{good} vs {off}");

    // Loader: clips never cross an episode boundary; episode 2 is held out.
    let cfg = config(source(tmp.path(), Some("2"), &[]));
    let mut train = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(train.stats().entries, 4);
    assert_eq!(
        train.stats().probed,
        2,
        "one probe per file, not per episode"
    );
    let seen = clips(&mut train, 24);
    let mut episodes_seen = [false; 2];
    for (path, start) in &seen {
        assert!(path.ends_with("file-000.mp4"), "{path}");
        let e = if *start < 41 { 0 } else { 1 };
        let (lo, hi) = [(0, 41), (41, 74)][e];
        assert!(
            *start >= lo && start + 9 <= hi,
            "clip {start}..{} crosses an episode",
            start + 9
        );
        episodes_seen[e] = true;
    }
    assert_eq!(episodes_seen, [true, true]);
    let mut eval = Loader::new(&cfg, Mode::Eval).unwrap();
    let seen = clips(&mut eval, 10);
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|(_, s)| *s == 74 + (37 - 9) / 2),
        "{seen:?}"
    );
}

#[test]
fn inspect_reports_episodes_and_shows_every_camera() {
    use cosmotok_data::inspect::{InspectOptions, inspect};
    let tmp = TempDir::new("lerobot-inspect");
    let sheet = tmp.path().join("sheet.png");
    let cfg = DataConfig {
        batch_size: 1,
        ..config(source(&robot(), Some("2"), &[]))
    };
    let report = inspect(
        &cfg,
        &InspectOptions {
            batches: 1,
            sheet: Some(sheet.clone()),
            ..InspectOptions::default()
        },
    )
    .unwrap();
    // One batch asked for; more drawn until both cameras are in the sheet.
    let sources: Vec<&String> = report.batches.iter().flat_map(|b| &b.sources).collect();
    for cam in [TOP, WRIST] {
        assert!(
            sources.iter().any(|s| s.contains(cam)),
            "{cam} missing: {sources:?}"
        );
    }
    let img = image::open(&sheet).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        cosmotok_data::inspect::sheet_size(sources.len(), 4, 96)
    );
    let text = report.to_string();
    for want in [
        "LeRobot dataset",
        "(v2.1, 10 fps): 3 episodes, 111 frames",
        "observation.images.top: 256x192, av1",
        "observation.images.wrist: 192x256, av1",
        "episodes (index:frames): 0:41 1:33 2:37 eval",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}
