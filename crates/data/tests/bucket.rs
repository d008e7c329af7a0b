//! Aspect-ratio buckets: the docs/architecture.md §9.2 tables (transcribed here independently) and
//! the ratio assignment of the bundled media.
mod common;

use common::media;
use cosmotok_data::{BucketSpec, BucketTable, DataConfig, Mode, SourceConfig};

/// (ratio, resize W×H) rows of docs/architecture.md §9.2 per resolution key.
fn spec_rows(key: u32) -> Vec<(&'static str, [u32; 2])> {
    match key {
        256 => vec![
            ("1:1", [256, 256]),
            ("4:3", [320, 256]),
            ("3:4", [256, 320]),
            ("16:9", [320, 192]),
            ("9:16", [192, 320]),
        ],
        360 => vec![
            ("1:1", [320, 320]),
            ("4:3", [416, 320]),
            ("3:4", [320, 416]),
            ("16:9", [544, 320]),
            ("9:16", [320, 544]),
        ],
        480 => vec![
            ("1:1", [480, 480]),
            ("4:3", [640, 480]),
            ("3:4", [480, 640]),
            ("16:9", [854, 480]),
            ("9:16", [480, 854]),
        ],
        512 => vec![
            ("1:1", [512, 512]),
            ("4:3", [672, 512]),
            ("3:4", [512, 672]),
            ("16:9", [896, 512]),
            ("9:16", [512, 896]),
        ],
        720 => vec![
            ("1:1", [720, 720]),
            ("4:3", [960, 720]),
            ("3:4", [720, 960]),
            ("16:9", [1280, 720]),
            ("9:16", [720, 1280]),
        ],
        1080 => vec![
            ("4:3", [1440, 1072]),
            ("3:4", [1072, 1440]),
            ("16:9", [1920, 1072]),
            ("9:16", [1072, 1920]),
        ],
        _ => unreachable!(),
    }
}

fn crop_of(t: &BucketTable, name: &str) -> [u32; 2] {
    t.buckets.iter().find(|b| b.name == name).unwrap().crop
}

#[test]
fn spec_resize_tables() {
    for key in [256, 360, 480, 512, 720, 1080] {
        let t = BucketTable::spec(key, 256).unwrap();
        let got: Vec<(&str, [u32; 2])> = t
            .buckets
            .iter()
            .map(|b| (b.name.as_str(), b.resize))
            .collect();
        assert_eq!(got, spec_rows(key), "resolution {key}");
        for b in &t.buckets {
            assert!(b.crop[0] % 16 == 0 && b.crop[1] % 16 == 0, "{key} {b:?}");
            assert!(
                b.crop[0] <= b.resize[0] && b.crop[1] <= b.resize[1],
                "{key} {b:?}"
            );
        }
    }
    assert!(
        BucketTable::spec(300, 256)
            .unwrap_err()
            .to_string()
            .contains("300")
    );
}

#[test]
fn spec_crop_256_table() {
    // Spec: crop sizes for crop_height=256, W×H.
    for key in [256, 360, 480, 512, 720] {
        let t = BucketTable::spec(key, 256).unwrap();
        for (name, crop) in [
            ("1:1", [256, 256]),
            ("4:3", [256, 192]),
            ("3:4", [192, 256]),
            ("16:9", [256, 144]),
            ("9:16", [144, 256]),
        ] {
            assert_eq!(crop_of(&t, name), crop, "resolution {key} {name}");
        }
    }
}

#[test]
fn spec_validation_crops() {
    // crop = 0: the largest multiple-of-16 crop inside the resize target = the official recipe's
    // validation crops.
    let t = BucketTable::spec(720, 0).unwrap();
    for (name, crop) in [
        ("1:1", [704, 704]),
        ("4:3", [944, 704]),
        ("3:4", [704, 944]),
        ("16:9", [1264, 704]),
        ("9:16", [704, 1264]),
    ] {
        assert_eq!(crop_of(&t, name), crop, "720 {name}");
    }
    let t = BucketTable::spec(1080, 0).unwrap();
    for (name, crop) in [
        ("4:3", [1424, 1072]),
        ("3:4", [1072, 1424]),
        ("16:9", [1904, 1072]),
        ("9:16", [1072, 1904]),
    ] {
        assert_eq!(crop_of(&t, name), crop, "1080 {name}");
    }
    // A crop key larger than the resize target is capped by it.
    let t = BucketTable::spec(256, 512).unwrap();
    assert_eq!(crop_of(&t, "16:9"), [320, 192]);
}

#[test]
fn closest_ratio() {
    let t = BucketTable::spec(256, 256).unwrap();
    let name = |w, h| t.buckets[t.closest(w, h)].name.clone();
    // Bundled media sizes (W×H) and their buckets, worked out by hand.
    for (w, h, want) in [
        (512, 512, "1:1"),  // astronaut, camera
        (451, 300, "4:3"),  // chelsea: 1.503, nearer 4:3 (log dist 0.120) than 16:9 (0.168)
        (512, 341, "4:3"),  // coffee
        (384, 335, "1:1"),  // hubble: 1.146, nearer 1:1 (0.137) than 4:3 (0.151)
        (256, 192, "4:3"),  // frame folder
        (480, 270, "16:9"), // city, bigbuckbunny
        (384, 288, "4:3"),  // vtest
        (1080, 1920, "9:16"),
        (600, 800, "3:4"),
        (3000, 1000, "16:9"),
        (100, 1000, "9:16"),
    ] {
        assert_eq!(name(w, h), want, "{w}x{h}");
    }
}

#[test]
fn custom_table_checks() {
    let spec = |ratio: &str, resize, crop| BucketSpec {
        ratio: ratio.into(),
        resize,
        crop,
    };
    let t = BucketTable::custom(&[
        spec("1:1", [64, 64], [64, 64]),
        spec("2:1", [128, 64], [128, 64]),
    ])
    .unwrap();
    assert_eq!(t.buckets[t.closest(300, 140)].name, "2:1");
    let e = BucketTable::custom(&[spec("16:9", [64, 64], [60, 48])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("16:9") && e.contains("multiples of 16"), "{e}");
    let e = BucketTable::custom(&[spec("16:9", [64, 32], [64, 48])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than resize"), "{e}");
    let e = BucketTable::custom(&[spec("wide", [64, 64], [64, 64])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"W:H\""), "{e}");
}

/// At the official 256 table, loader batches of the bundled images land in the right buckets with
/// the official crop sizes.
#[test]
fn loader_batches_use_spec_crops() {
    let cfg = DataConfig {
        sources: vec![SourceConfig::auto(media().join("images"))],
        num_frames: 1,
        batch_size: 2,
        workers: 0,
        ..DataConfig::default()
    };
    let mut loader = cosmotok_data::Loader::new(&cfg, Mode::Eval).unwrap();
    let stats = loader.stats();
    let counts: Vec<(String, usize)> = stats.per_bucket.clone();
    assert_eq!(
        counts,
        [("1:1", 3), ("4:3", 4), ("3:4", 0), ("16:9", 0), ("9:16", 0)]
            .map(|(n, c)| (n.to_string(), c))
    );
    let mut seen = 0;
    while let Some(b) = loader.try_next().unwrap() {
        let want = match b.bucket.as_str() {
            "1:1" => [256, 256],
            "4:3" => [192, 256],
            other => panic!("unexpected bucket {other}"),
        };
        assert_eq!([b.shape[3], b.shape[4]], want);
        assert_eq!(b.shape[1..3], [3, 1]);
        assert!(b.data.iter().all(|v| (-1.0..=1.0).contains(v)));
        seen += b.shape[0];
    }
    assert_eq!(seen, 7);
}
