//! Variable-frame-rate videos with `target_fps`: clips are sampled by timestamps, not every
//! `round(fps / target_fps)` frames. Fixture (scripts/make_vfr_fixture.sh): 30 frames shown at
//! 0.0, 0.1, ..., 1.4 s (10 fps), then 1.5, 1.55, ..., 2.2 s (20 fps).
#![cfg(feature = "video")]
mod common;

use std::path::{Path, PathBuf};

use common::{TempDir, tiny_config};
use cosmotok_data::augment::{AugmentParams, augment_clip};
use cosmotok_data::index::build_index;
use cosmotok_data::{BucketTable, DataConfig, Loader, Mode, frame_times, read_video_rgb};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vtest_vfr.mp4")
}

/// The fixture's presentation times, from the `setpts` expression that made it.
fn made_times() -> Vec<f64> {
    (0..30)
        .map(|n| {
            if n < 15 {
                n as f64 * 0.1
            } else {
                1.5 + (n - 15) as f64 * 0.05
            }
        })
        .collect()
}

#[test]
fn timestamps_and_variable_rate_detection() {
    let got = frame_times(&fixture(), None).unwrap();
    let want = made_times();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    let tmp = TempDir::new("vfr-index");
    std::fs::copy(fixture(), tmp.path().join("vfr.mp4")).unwrap();
    std::fs::copy(
        common::media().join("videos/vtest.mp4"),
        tmp.path().join("cfr.mp4"),
    )
    .unwrap();
    let cfg = tiny_config(&[tmp.path()]);
    let index = build_index(&cfg.sources, Mode::Train, None, 1).unwrap();
    let vfr: Vec<(bool, bool)> = index
        .entries
        .iter()
        .map(|e| (e.path.ends_with("vfr.mp4"), e.info.variable_rate))
        .collect();
    assert_eq!(vfr, [(false, false), (true, true)]);
}

#[test]
fn clips_follow_the_timestamps() {
    let tmp = TempDir::new("vfr-load");
    std::fs::copy(fixture(), tmp.path().join("vfr.mp4")).unwrap();
    let cfg = DataConfig {
        target_fps: Some(10.0),
        image_ratio: 0.0,
        batch_size: 1,
        ..tiny_config(&[tmp.path()])
    };
    // Evaluation: the centred start among those with 0.8 s left (frames 0..=14 start at or
    // before 1.4 s), so frame 7; at 10 fps the clip is frames 7..=14 then 15 (1.5 s). Every
    // second frame (the stride the 20 fps header rate gives) would be 7, 9, ..., 23.
    let mut eval = Loader::new(&cfg, Mode::Eval).unwrap();
    let b = eval.try_next().unwrap().unwrap();
    assert!(b.sources[0].ends_with(":7"), "{:?}", b.sources);
    let (all, _) = read_video_rgb(&tmp.path().join("vfr.mp4"), 0, None).unwrap();
    let picked: Vec<_> = [7, 8, 9, 10, 11, 12, 13, 14, 15]
        .iter()
        .map(|&i| all[i].clone())
        .collect();
    let table = BucketTable::from_config(&cfg).unwrap();
    let bucket = table.buckets.iter().find(|x| x.name == b.bucket).unwrap();
    let mut want = vec![0f32; b.data.len()];
    augment_clip(&picked, bucket, &AugmentParams::CENTER, &mut want);
    assert_eq!(
        b.data, want,
        "the eval clip is not the frames at 10 fps by timestamp"
    );

    // Training: every clip loads and spans 0.8 s of the video.
    let mut train = Loader::new(&cfg, Mode::Train).unwrap();
    let times = made_times();
    for _ in 0..10 {
        let b = train.next_batch().unwrap();
        let start: usize = b.sources[0].rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(times[start] + 0.8 <= 2.2 + 1e-9, "start {start}");
    }
    assert!(train.stats().load_failures.is_empty());
}
