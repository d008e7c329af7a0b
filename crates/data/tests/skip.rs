//! Bad input: corrupt, truncated and empty files are skipped and counted, never fatal; an empty
//! dataset or a wrong path is one clear error.
#![cfg(feature = "video")]
mod common;

use common::{TempDir, media, tiny_config};
use cosmotok_data::{DataConfig, Loader, Mode};

/// A temp dataset: good copies plus a truncated png, a zero-byte mp4, an mp4 with a garbled
/// header and one with a garbled middle.
fn bad_dataset() -> TempDir {
    let tmp = TempDir::new("skip");
    let m = media();
    let d = tmp.path();
    std::fs::copy(m.join("images/camera.png"), d.join("good.png")).unwrap();
    std::fs::copy(m.join("images/astronaut.png"), d.join("good2.png")).unwrap();
    std::fs::copy(m.join("videos/vtest.mp4"), d.join("good.mp4")).unwrap();
    let png = std::fs::read(m.join("images/chelsea.png")).unwrap();
    std::fs::write(d.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(d.join("empty.mp4"), b"").unwrap();
    let mp4 = std::fs::read(m.join("videos/city.mp4")).unwrap();
    let mut header = mp4.clone();
    for b in &mut header[..4096] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(d.join("garbled_header.mp4"), &header).unwrap();
    let mut middle = mp4.clone();
    let n = middle.len();
    for b in &mut middle[n / 3..2 * n / 3] {
        *b = 0x5a;
    }
    std::fs::write(d.join("garbled_middle.mp4"), &middle).unwrap();
    tmp
}

#[test]
fn corrupt_files_are_skipped_and_counted() {
    let tmp = bad_dataset();
    let cfg = DataConfig {
        image_ratio: 0.5,
        ..tiny_config(&[tmp.path()])
    };
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    let mut batches = 0;
    for _ in 0..16 {
        let b = loader.next_batch().unwrap();
        assert!(b.data.iter().all(|v| (-1.0..=1.0).contains(v)));
        for s in &b.sources {
            assert!(
                !s.contains("truncated") && !s.contains("empty") && !s.contains("garbled_header"),
                "{s}"
            );
        }
        batches += 1;
    }
    assert_eq!(batches, 16);
    let stats = loader.stats();
    let named = |list: &[cosmotok_data::index::Skipped], name: &str| {
        list.iter().any(|s| s.path.ends_with(name))
    };
    // Index time: no header → cannot probe.
    assert!(named(&stats.skipped, "empty.mp4"), "{:?}", stats.skipped);
    assert!(
        named(&stats.skipped, "garbled_header.mp4"),
        "{:?}",
        stats.skipped
    );
    // Load time: the header is fine, the pixels are not.
    assert!(
        named(&stats.load_failures, "truncated.png"),
        "{:?}",
        stats.load_failures
    );
    assert!(stats.replaced >= 1);
    // truncated.png is the only 4:3 image: its group's planned batches are passed over.
    assert!(stats.dropped_batches >= 1, "{stats:?}");
    for s in stats.skipped.iter().chain(&stats.load_failures) {
        assert!(!s.reason.is_empty() && s.reason.contains(&s.path), "{s:?}");
    }
    // Each bad file is listed once.
    let mut all: Vec<&str> = stats
        .skipped
        .iter()
        .chain(&stats.load_failures)
        .map(|s| s.path.as_str())
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
    // The garbled-middle mp4 either decodes (FFmpeg conceals damage) or is counted; the good
    // files always load.
    assert!(!named(&stats.skipped, "good.mp4") && !named(&stats.load_failures, "good.mp4"));
}

#[test]
fn too_short_clips_are_skipped() {
    let m = media();
    let cfg = DataConfig {
        num_frames: 17,
        ..tiny_config(&[&m.join("videos")])
    };
    let loader = Loader::new(&cfg, Mode::Train).unwrap();
    let s = loader.stats();
    assert_eq!(s.entries, 4);
    assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    assert!(s.skipped[0].path.ends_with("vtest_short.avi"));
    assert!(
        s.skipped[0].reason.contains("too short: 10 frames"),
        "{}",
        s.skipped[0].reason
    );
}

#[test]
fn empty_dataset_and_wrong_path_are_clear_errors() {
    let tmp = TempDir::new("empty");
    let e = format!(
        "{:#}",
        Loader::new(&tiny_config(&[tmp.path()]), Mode::Train)
            .err()
            .unwrap()
    );
    assert!(
        e.contains("empty dataset") && e.contains(&tmp.path().display().to_string()),
        "{e}"
    );
    let missing = tmp.path().join("nope");
    let e = format!(
        "{:#}",
        Loader::new(&tiny_config(&[&missing]), Mode::Train)
            .err()
            .unwrap()
    );
    assert!(
        e.contains("nope") && e.contains("no such file or directory"),
        "{e}"
    );
    // Only broken files: also the empty-dataset error, mentioning the skipped count.
    std::fs::write(tmp.path().join("zero.png"), b"").unwrap();
    let e = format!(
        "{:#}",
        Loader::new(&tiny_config(&[tmp.path()]), Mode::Train)
            .err()
            .unwrap()
    );
    assert!(
        e.contains("empty dataset") && e.contains("1 files skipped"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        Loader::new(&DataConfig::default(), Mode::Train)
            .err()
            .unwrap()
    );
    assert!(e.contains("data.sources"), "{e}");
}
