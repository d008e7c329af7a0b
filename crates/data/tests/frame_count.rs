//! Videos whose container overstates the frame count (issue #18): a real AVI cut short, whose
//! header still claims 795 frames while 21 decode (both counted by PyAV,
//! scripts/make_fewer_frames_fixture.py). The frames that decode are used; the file is reported
//! once as having fewer frames, never as failed; the true count goes into the index cache; the
//! batch sequence does not depend on when the true count was found.
#![cfg(feature = "video")]
mod common;

use std::path::{Path, PathBuf};

use common::{TempDir, tiny_config};
use cosmotok_data::frame_count::FewerFrames;
use cosmotok_data::{DataConfig, Loader, Mode, probe_video, read_video};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vtest_cut.avi")
}

/// (header frames, decoded frames) as PyAV counts them.
fn pyav_counts() -> (usize, usize) {
    let text = std::fs::read_to_string(fixture().with_extension("json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        v["header_frames"].as_u64().unwrap() as usize,
        v["decoded_frames"].as_u64().unwrap() as usize,
    )
}

/// A dataset holding only the cut AVI (a copy, so the cache key is the temp path).
fn dataset(tmp: &TempDir) -> DataConfig {
    std::fs::copy(fixture(), tmp.path().join("cut.avi")).unwrap();
    DataConfig {
        image_ratio: 0.0,
        ..tiny_config(&[tmp.path()])
    }
}

/// `(path, start)` of each clip of the next `n` batches.
fn starts(loader: &mut Loader, n: usize) -> Vec<Vec<(String, usize)>> {
    (0..n)
        .map(|_| {
            let b = loader.next_batch().unwrap();
            assert!(b.data.iter().all(|v| (-1.0..=1.0).contains(v)));
            b.sources
                .iter()
                .map(|s| {
                    let (p, st) = s.rsplit_once(':').unwrap();
                    (p.to_string(), st.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

#[test]
fn reader_reports_the_true_count() {
    let (header, decoded) = pyav_counts();
    assert!(
        decoded < header,
        "fixture must overstate: {header} vs {decoded}"
    );
    let path = fixture();
    let (n, _, _, _) = probe_video(&path).unwrap();
    assert_eq!(n, header, "probing reads the header");
    let all = read_video(&path, 0, None).unwrap();
    assert_eq!(
        all.frames, decoded,
        "frames that decode, as PyAV counts them"
    );
    let tail = read_video(&path, decoded - 3, Some(3)).unwrap();
    assert_eq!(tail.frames, 3);
    assert_eq!(
        tail.to_rgb8(2).into_raw(),
        all.to_rgb8(decoded - 1).into_raw()
    );
    let e = read_video(&path, decoded - 2, Some(9)).unwrap_err();
    let ff = e
        .downcast_ref::<FewerFrames>()
        .expect("a FewerFrames error");
    assert_eq!(ff.decoded, decoded);
    assert!(
        e.to_string().contains(&format!("has {decoded} frames")),
        "{e}"
    );
}

#[test]
fn loader_uses_the_frames_that_decode_and_reports_once() {
    let (header, decoded) = pyav_counts();
    let tmp = TempDir::new("fewer");
    let cache = tmp.path().join("index.json");
    let cfg = DataConfig {
        index_cache: Some(cache.clone()),
        ..dataset(&tmp)
    };
    let mut first = Loader::new(&cfg, Mode::Train).unwrap();
    assert!(
        first.stats().fewer_frames.is_empty(),
        "unknown before a read"
    );
    let seq = starts(&mut first, 12);
    for clip in seq.iter().flatten() {
        assert!(
            clip.1 + 9 <= decoded,
            "clip {clip:?} outside the {decoded} frames that decode"
        );
    }
    // Clips are drawn over the whole usable range, not just one start.
    let mut distinct: Vec<usize> = seq.iter().flatten().map(|c| c.1).collect();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 5, "{distinct:?}");
    let stats = first.stats();
    assert!(stats.load_failures.is_empty(), "{:?}", stats.load_failures);
    assert_eq!(stats.replaced, 0);
    assert_eq!(stats.fewer_frames.len(), 1, "{:?}", stats.fewer_frames);
    let reason = &stats.fewer_frames[0].reason;
    assert!(
        reason.contains(&format!(
            "fewer frames than its header says ({header} → {decoded})"
        )) && reason.contains("cut.avi"),
        "{reason}"
    );
    drop(first);

    // The true count is in the index cache: a new loader knows it before reading, and its
    // batches are the same as those of the loader that found it out (also with other workers).
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains(&format!("\"decoded\":{decoded}")), "{text}");
    for workers in [0, 3] {
        let mut again = Loader::new(
            &DataConfig {
                workers,
                ..cfg.clone()
            },
            Mode::Train,
        )
        .unwrap();
        assert_eq!(again.stats().fewer_frames.len(), 1);
        assert_eq!(starts(&mut again, 12), seq, "workers = {workers}");
    }
    // Without the cache the discovery happens again, with the same batches.
    let mut fresh = Loader::new(
        &DataConfig {
            index_cache: None,
            ..cfg.clone()
        },
        Mode::Train,
    )
    .unwrap();
    assert_eq!(starts(&mut fresh, 12), seq);
}

#[test]
fn eval_takes_the_centre_of_the_frames_that_decode() {
    let (_, decoded) = pyav_counts();
    let tmp = TempDir::new("fewer-eval");
    let mut loader = Loader::new(&dataset(&tmp), Mode::Eval).unwrap();
    let b = loader.try_next().unwrap().unwrap();
    let start: usize = b.sources[0].rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(start, (decoded - 9) / 2);
    assert!(loader.stats().load_failures.is_empty());
}

#[test]
fn too_few_frames_for_a_clip_is_a_named_failure() {
    let (header, decoded) = pyav_counts();
    let tmp = TempDir::new("fewer-short");
    std::fs::copy(fixture(), tmp.path().join("cut.avi")).unwrap();
    std::fs::copy(
        common::media().join("videos/vtest.mp4"),
        tmp.path().join("good.mp4"),
    )
    .unwrap();
    // 25-frame clips do not fit in 21 frames; the header's 795 would.
    let cfg = DataConfig {
        num_frames: 25,
        image_ratio: 0.0,
        ..tiny_config(&[tmp.path()])
    };
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    for _ in 0..6 {
        let b = loader.next_batch().unwrap();
        assert!(
            b.sources.iter().all(|s| s.contains("good.mp4")),
            "{:?}",
            b.sources
        );
    }
    let s = loader.stats();
    assert_eq!(s.load_failures.len(), 1, "{:?}", s.load_failures);
    let r = &s.load_failures[0].reason;
    assert!(
        r.contains("cut.avi")
            && r.contains(&format!("({header} → {decoded})"))
            && r.contains("too short for a clip of 25 frames"),
        "{r}"
    );
}
