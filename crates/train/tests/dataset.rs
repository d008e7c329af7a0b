//! burn `Dataset`s in and out of cosmotok's loader: a `Dataset<ClipItem>` of frames held in
//! memory gives the same batches as the same frames read from files, and resumes; the clip
//! index as a `Dataset<Batch>` gives the evaluation clips.

mod common;

use burn::data::dataset::{Dataset, InMemDataset};
use common::*;
use cosmotok_data::{BucketSpec, DataConfig, Loader, Mode, SourceConfig, list_image_files};
use cosmotok_train::dataset::{ClipDataset, ClipItem, loader_from_dataset};

fn config(sources: Vec<SourceConfig>) -> DataConfig {
    DataConfig {
        sources,
        num_frames: 9,
        batch_size: 1,
        workers: 0,
        seed: 3,
        buckets: vec![BucketSpec {
            ratio: "4:3".into(),
            resize: [64, 48],
            crop: [48, 48],
        }],
        ..DataConfig::default()
    }
}

/// The bundled frame folder (17 frames of a street) as one in-memory clip.
fn folder_clip() -> ClipItem {
    let files = list_image_files(&media("frames/episode_000")).unwrap();
    ClipItem {
        frames: files
            .iter()
            .map(|f| image::open(f).unwrap().to_rgb8())
            .collect(),
        fps: None,
        name: Some("street".into()),
    }
}

#[test]
fn a_burn_dataset_feeds_the_loader_like_files() {
    let files = config(vec![SourceConfig::auto(media("frames/episode_000"))]);
    let memory = config(vec![]);
    for mode in [Mode::Train, Mode::Eval] {
        let mut from_files = Loader::new(&files, mode).unwrap();
        let mut from_memory =
            loader_from_dataset(&memory, mode, InMemDataset::new(vec![folder_clip()])).unwrap();
        for i in 0..4 {
            let (Some(a), Some(b)) = (
                from_files.try_next().unwrap(),
                from_memory.try_next().unwrap(),
            ) else {
                assert_eq!(mode, Mode::Eval, "training never ends");
                assert!(i > 0);
                break;
            };
            assert_eq!(a.shape, [1, 3, 9, 48, 48]);
            assert_eq!(a.data, b.data, "{mode:?} batch {i}: same frames, same clip");
            assert!(b.sources[0].starts_with("street:"), "{:?}", b.sources);
        }
    }
    // Resumable like any source.
    let mut l =
        loader_from_dataset(&memory, Mode::Train, InMemDataset::new(vec![folder_clip()])).unwrap();
    for _ in 0..3 {
        l.next_batch().unwrap();
    }
    let pos = l.position();
    let want: Vec<Vec<f32>> = (0..3).map(|_| l.next_batch().unwrap().data).collect();
    let mut again =
        loader_from_dataset(&memory, Mode::Train, InMemDataset::new(vec![folder_clip()])).unwrap();
    again.seek(&pos).unwrap();
    let got: Vec<Vec<f32>> = (0..3).map(|_| again.next_batch().unwrap().data).collect();
    assert_eq!(got, want);
    // A clip with frames of two sizes is skipped and named, not a crash.
    let mut bad = folder_clip();
    bad.name = Some("mixed".into());
    bad.frames[3] = image::RgbImage::new(10, 10);
    let l = loader_from_dataset(
        &memory,
        Mode::Train,
        InMemDataset::new(vec![bad, folder_clip()]),
    )
    .unwrap();
    let s = l.stats();
    assert_eq!(s.entries, 1);
    assert!(
        s.skipped[0].reason.contains("frames differ in size"),
        "{:?}",
        s.skipped
    );
}

#[test]
fn the_clip_index_is_a_burn_dataset() {
    let cfg = config(vec![SourceConfig::auto(media("frames/episode_000"))]);
    let ds = ClipDataset::new(&cfg, Mode::Eval).unwrap();
    assert_eq!(ds.len(), 1);
    let eval = Loader::eval_batches(&cfg).unwrap();
    let items: Vec<_> = ds.iter().map(|b| b.unwrap()).collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].data, eval[0].data, "the centred evaluation clip");
    assert!(ds.get(0).is_ok());
}
