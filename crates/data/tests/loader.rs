//! The loader on the bundled media: batch shapes and buckets, determinism, resume, the clip
//! sampler's frame accuracy and the augmentation against plain reads.
#![cfg(feature = "video")]
mod common;

use std::collections::HashMap;

use common::{frame_bytes, media, tiny_config};
use cosmotok_data::index::MediaKind;
use cosmotok_data::{
    Batch, DataConfig, Loader, Mode, SourceConfig, eval_batches, read_clip, read_frame_folder,
    read_video,
};

fn take(loader: &mut Loader, n: usize) -> Vec<Batch> {
    (0..n).map(|_| loader.next_batch().unwrap()).collect()
}

/// (W, H) of every bundled file as the loader writes it in `Batch::sources`.
fn sizes(loader: &Loader) -> HashMap<String, (usize, usize, MediaKind)> {
    loader
        .index()
        .entries
        .iter()
        .map(|e| {
            (
                e.path.display().to_string(),
                (e.info.width, e.info.height, e.info.kind),
            )
        })
        .collect()
}

#[test]
fn batches_have_bucket_shapes_and_range() {
    let root = media();
    let cfg = DataConfig {
        image_ratio: 0.4,
        ..tiny_config(&[&root])
    };
    cfg.validate(8, 16).unwrap();
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    let stats = loader.stats();
    // 7 images + 4 videos + 1 frame folder; vtest_short.avi (10 frames) is long enough for 9.
    assert_eq!(stats.entries, 12, "{stats:?}");
    assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
    let files = sizes(&loader);
    let (mut images, mut videos) = (0, 0);
    for b in take(&mut loader, 24) {
        let [bs, c, t, h, w] = b.shape;
        assert_eq!((bs, c), (2, 3));
        assert!(t == 9 || t == 1, "T = {t}");
        let want = match b.bucket.as_str() {
            "1:1" => (48, 48),
            "4:3" => (48, 64),
            "16:9" => (48, 80),
            other => panic!("no bundled media is {other}"),
        };
        assert_eq!((h, w), want, "{}", b.bucket);
        assert_eq!(b.data.len(), bs * c * t * h * w);
        assert!(b.data.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(b.sources.len(), 2);
        for s in &b.sources {
            let (path, start) = s.rsplit_once(':').unwrap();
            let (fw, fh, kind) = files[path];
            // The bucket is the ratio class of the source (hand-checked table in bucket.rs).
            let r = fw as f64 / fh as f64;
            let class = if r > 1.55 {
                "16:9"
            } else if r > 1.15 {
                "4:3"
            } else {
                "1:1"
            };
            assert_eq!(class, b.bucket, "{s}");
            assert_eq!(kind == MediaKind::Image, t == 1, "{s}");
            let start: usize = start.parse().unwrap();
            if kind == MediaKind::Image {
                assert_eq!(start, 0);
            }
        }
        if t == 1 { images += 1 } else { videos += 1 }
    }
    assert!(images > 0 && videos > 0, "images {images} videos {videos}");
}

#[test]
fn same_seed_same_batches_any_worker_count() {
    let root = media();
    let a_cfg = DataConfig {
        workers: 2,
        ..tiny_config(&[&root])
    };
    let b_cfg = DataConfig {
        workers: 0,
        ..tiny_config(&[&root])
    };
    let a = take(&mut Loader::new(&a_cfg, Mode::Train).unwrap(), 10);
    let b = take(&mut Loader::new(&b_cfg, Mode::Train).unwrap(), 10);
    assert_eq!(a, b);
    let c_cfg = DataConfig {
        seed: 8,
        ..tiny_config(&[&root])
    };
    let c = take(&mut Loader::new(&c_cfg, Mode::Train).unwrap(), 10);
    assert_ne!(a, c);
}

#[test]
fn resume_continues_the_identical_sequence() {
    let root = media();
    let cfg = DataConfig {
        num_frames: 1,
        ..tiny_config(&[&root.join("images"), &root.join("frames")])
    };
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    let len = loader.epoch_len();
    // 7 images + 1 frame folder (one frame drawn from it), batch 2: 1:1 has 3 → 2 batches,
    // 4:3 has 5 → 3 batches.
    assert_eq!(len, 5);
    let all = take(&mut loader, 2 * len + 3);
    // Buckets are drawn in proportion to their size: per epoch, ceil(clips / B) batches each.
    for epoch in all[..2 * len].chunks(len) {
        let n11 = epoch.iter().filter(|b| b.bucket == "1:1").count();
        let n43 = epoch.iter().filter(|b| b.bucket == "4:3").count();
        assert_eq!((n11, n43), (2, 3));
    }
    // Every epoch covers every clip source.
    let mut first_epoch: Vec<String> = all[..len]
        .iter()
        .flat_map(|b| {
            b.sources
                .iter()
                .map(|s| s.rsplit_once(':').unwrap().0.to_string())
        })
        .collect();
    first_epoch.sort();
    first_epoch.dedup();
    assert_eq!(first_epoch.len(), 8);
    // Resume from a saved position in the middle of epoch 1, via JSON, in a fresh loader.
    let mut l2 = Loader::new(&cfg, Mode::Train).unwrap();
    let _ = take(&mut l2, len + 2);
    let pos = l2.position();
    assert_eq!((pos.epoch, pos.batch), (1, 2));
    let saved = serde_json::to_string(&pos).unwrap();
    let mut l3 = Loader::new(&cfg, Mode::Train).unwrap();
    let _ = take(&mut l3, 1); // in flight work must be discarded on seek
    l3.seek(&serde_json::from_str(&saved).unwrap()).unwrap();
    let rest = take(&mut l3, len + 1);
    assert_eq!(rest, all[len + 2..]);
    assert_ne!(all[..len], all[len..2 * len], "epochs are reshuffled");
    // A position from another seed is refused.
    let other = cosmotok_data::LoaderPosition { seed: 99, ..pos };
    assert!(l3.seek(&other).unwrap_err().to_string().contains("seed"));
}

#[test]
fn clip_sampler_reads_are_frame_accurate() {
    let root = media();
    let cfg = tiny_config(&[&root.join("videos")]);
    let loader = Loader::new(&cfg, Mode::Train).unwrap();
    for entry in &loader.index().entries {
        let full = read_video(&entry.path, 0, None).unwrap();
        let n = entry.frames;
        let cases = [
            (0, 5, 1),
            (5, 3, 2),
            (13, 4, 1),
            (n - 3, 3, 1),
            (n - 5, 3, 2),
        ];
        for (start, count, stride) in cases.into_iter().filter(|c| c.0 + (c.1 - 1) * c.2 < n) {
            let clip = read_clip(entry, start, count, stride).unwrap();
            assert_eq!(clip.len(), count);
            for (k, img) in clip.iter().enumerate() {
                assert_eq!(
                    img.as_raw(),
                    &frame_bytes(&full, start + k * stride),
                    "{} frame {}",
                    entry.path.display(),
                    start + k * stride
                );
            }
        }
    }
}

#[test]
fn identity_bucket_reproduces_the_frames() {
    // A bucket equal to the frame size: resize is the identity, the eval centre crop is the
    // whole frame, so an eval batch equals the frames read directly.
    let root = media();
    let folder = root.join("frames/episode_000");
    let cfg = DataConfig {
        sources: vec![SourceConfig::auto(&folder)],
        num_frames: 17,
        buckets: vec![cosmotok_data::BucketSpec {
            ratio: "4:3".into(),
            resize: [256, 192],
            crop: [256, 192],
        }],
        batch_size: 1,
        ..DataConfig::default()
    };
    let batches = eval_batches(&cfg).unwrap();
    assert_eq!(batches.len(), 1);
    let direct = read_frame_folder(&folder, 0, None).unwrap();
    assert_eq!(batches[0].shape, [1, 3, 17, 192, 256]);
    assert_eq!(batches[0].data, direct.data);

    // Train mode, crop-only with a larger crop than the frame: centred with reflection padding,
    // flips and reversal applied consistently; check against the frames directly.
    let cfg = DataConfig {
        buckets: vec![cosmotok_data::BucketSpec {
            ratio: "4:3".into(),
            resize: [288, 208],
            crop: [288, 208],
        }],
        crop_only_prob: 1.0,
        seed: 3,
        workers: 0,
        ..cfg
    };
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    let (w, h, t) = (256usize, 192usize, 17usize);
    let (cw, ch) = (288usize, 208usize);
    let reflect = |i: i64, n: i64| -> usize {
        let p = 2 * (n - 1);
        let i = i.rem_euclid(p);
        (if i >= n { p - i } else { i }) as usize
    };
    let (mut flips, mut reversals) = (0, 0);
    for _ in 0..8 {
        let b = loader.next_batch().unwrap();
        assert_eq!(b.shape, [1, 3, t, ch, cw]);
        let at = |d: &[f32], c: usize, tt: usize, y: usize, x: usize, hh: usize, ww: usize| {
            d[((c * t + tt) * hh + y) * ww + x]
        };
        // Detect flip / reversal from the data, then check every pixel.
        let px = |flip: bool, rev: bool, c, tt, y, x| {
            let xs = if flip { cw - 1 - x } else { x };
            let sx = reflect(xs as i64 - 16, w as i64);
            let sy = reflect(y as i64 - 8, h as i64);
            let st = if rev { t - 1 - tt } else { tt };
            at(&direct.data, c, st, sy, sx, h, w)
        };
        let mut matched = None;
        for flip in [false, true] {
            for rev in [false, true] {
                let ok = (0..3).all(|c| {
                    (0..t).all(|tt| {
                        (0..ch).all(|y| {
                            (0..cw).all(|x| {
                                at(&b.data, c, tt, y, x, ch, cw) == px(flip, rev, c, tt, y, x)
                            })
                        })
                    })
                });
                if ok {
                    matched = Some((flip, rev));
                }
            }
        }
        let (f, r) = matched.expect("batch is a padded, possibly flipped / reversed copy");
        flips += f as usize;
        reversals += r as usize;
    }
    assert!(flips > 0 && flips < 8, "flips {flips}/8");
    assert!(reversals > 0 && reversals < 8, "reversals {reversals}/8");
}

#[test]
fn manifest_and_index_cache() {
    let tmp = common::TempDir::new("manifest");
    let root = media();
    let manifest = tmp.path().join("clips.jsonl");
    std::fs::write(
        &manifest,
        format!(
            "{{\"path\": \"{}\", \"start\": 20, \"end\": 40, \"caption\": \"a city\"}}\n\
             # comment\n\
             {{\"path\": \"{}\", \"fps\": 5}}\n\
             not json\n",
            root.join("videos/city.mp4").display(),
            root.join("frames/episode_000").display()
        ),
    )
    .unwrap();
    let cache = tmp.path().join("cache/index.json");
    let cfg = DataConfig {
        index_cache: Some(cache.clone()),
        ..tiny_config(&[&manifest])
    };
    let mut loader = Loader::new(&cfg, Mode::Train).unwrap();
    let stats = loader.stats();
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.probed, 2);
    assert_eq!(stats.skipped.len(), 1, "{:?}", stats.skipped);
    assert!(
        stats.skipped[0]
            .reason
            .contains("clips.jsonl`:4: bad manifest line"),
        "{:?}",
        stats.skipped
    );
    let city = &loader.index().entries[0];
    assert_eq!(
        (city.first, city.frames, city.caption.as_deref()),
        (20, 20, Some("a city"))
    );
    assert_eq!(loader.index().entries[1].fps, Some(5.0));
    for b in take(&mut loader, 6) {
        for s in &b.sources {
            let (path, start) = s.rsplit_once(':').unwrap();
            let start: usize = start.parse().unwrap();
            if path.ends_with("city.mp4") {
                assert!(
                    (20..=31).contains(&start),
                    "{s}: clip of 9 must lie in 20..40"
                );
            }
        }
    }
    assert!(cache.is_file());
    // Second run: everything from the cache.
    let again = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(again.stats().probed, 0);
    assert_eq!(again.index().entries, loader.index().entries);
    // target_fps: the manifest says 5 fps for the frame folder; 25 fps city → stride 5 at 5 fps,
    // too short for 9 frames in 20 frames; the frame folder keeps stride 1.
    let cfg = DataConfig {
        target_fps: Some(5.0),
        ..cfg
    };
    let l = Loader::new(&cfg, Mode::Train).unwrap();
    let s = l.stats();
    assert_eq!(s.entries, 2);
    assert!(
        s.skipped
            .iter()
            .any(|k| k.path.ends_with("city.mp4") && k.reason.contains("stride 5")),
        "{:?}",
        s.skipped
    );
}

#[test]
fn eval_pass_is_finite_and_centred() {
    let root = media();
    let cfg = tiny_config(&[&root.join("videos")]);
    let batches = eval_batches(&cfg).unwrap();
    // vtest.mp4 + vtest_short.avi (4:3), city + bigbuckbunny (16:9): 2 batches of 2.
    assert_eq!(batches.len(), 2);
    assert_eq!(batches, eval_batches(&cfg).unwrap());
    let starts: Vec<String> = batches.iter().flat_map(|b| b.sources.clone()).collect();
    // eval_sources replace sources in eval mode (and only there).
    let eval_cfg = DataConfig {
        eval_sources: vec![SourceConfig::auto(root.join("videos/city.mp4"))],
        ..cfg.clone()
    };
    let only_city = Loader::eval_batches(&eval_cfg).unwrap();
    assert_eq!(only_city.len(), 1);
    assert_eq!(only_city[0].shape[0], 1);
    assert!(only_city[0].sources[0].ends_with("city.mp4:33"));
    assert_eq!(
        Loader::new(&eval_cfg, Mode::Train).unwrap().stats().entries,
        4
    );
    // Centred clips: (frames - 9) / 2 → city/bbb 75 → 33, vtest 30 → 10, avi 10 → 0.
    for s in &starts {
        let want = if s.contains("vtest_short") {
            ":0"
        } else if s.contains("vtest") {
            ":10"
        } else {
            ":33"
        };
        assert!(s.ends_with(want), "{s}");
    }
}

#[test]
fn index_cache_reprobes_changed_files() {
    let tmp = common::TempDir::new("cache");
    let m = media();
    let dir = tmp.path().join("imgs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(m.join("images/camera.png"), dir.join("a.png")).unwrap();
    std::fs::copy(m.join("images/coffee.png"), dir.join("b.png")).unwrap();
    let cfg = DataConfig {
        num_frames: 1,
        workers: 0,
        index_cache: Some(tmp.path().join("index.json")),
        ..tiny_config(&[&dir])
    };
    let size_of = |l: &Loader, name: &str| {
        let e = l
            .index()
            .entries
            .iter()
            .find(|e| e.path.ends_with(name))
            .unwrap();
        (e.info.width, e.info.height)
    };
    let l = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(l.stats().probed, 2);
    assert_eq!(size_of(&l, "a.png"), (512, 512));
    // Replace a.png by a different image (other size and byte length): only it is re-probed.
    std::fs::copy(m.join("images/chelsea.png"), dir.join("a.png")).unwrap();
    let l = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(l.stats().probed, 1);
    assert_eq!(size_of(&l, "a.png"), (451, 300));
    assert_eq!(size_of(&l, "b.png"), (512, 341));
    // A garbled cache file is rebuilt, not fatal.
    std::fs::write(tmp.path().join("index.json"), "{not json").unwrap();
    let l = Loader::new(&cfg, Mode::Train).unwrap();
    assert_eq!(l.stats().probed, 2);
}
