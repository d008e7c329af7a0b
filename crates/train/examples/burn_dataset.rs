//! Feed your own clips to cosmotok's loader through a burn `Dataset`, and read a dataset's
//! clips back as a burn `Dataset`.
//!
//!     cargo run -p cosmotok-train --example burn_dataset
//!
//! Here the clips are the bundled photos (one-frame clips) and the bundled frame folder (a
//! 17-frame street clip), held in memory in an `InMemDataset`; in your code they can come from
//! anywhere that implements `Dataset<ClipItem>` (a simulator, another dataset library, frames
//! you decoded yourself). The loader buckets them by aspect ratio, crops, flips and batches
//! them, and resumes from a saved position, as it does for files.

use burn::data::dataset::{Dataset, InMemDataset};
use cosmotok_data::{DataConfig, Mode, SourceConfig, list_image_files};
use cosmotok_train::dataset::{ClipDataset, ClipItem, loader_from_dataset};

fn main() -> anyhow::Result<()> {
    let media = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/media");
    let mut clips = Vec::new();
    for f in list_image_files(&media.join("images"))? {
        clips.push(ClipItem {
            frames: vec![image::open(&f)?.to_rgb8()],
            fps: None,
            name: f.file_name().map(|n| n.to_string_lossy().into_owned()),
        });
    }
    let street = list_image_files(&media.join("frames/episode_000"))?;
    clips.push(ClipItem {
        frames: street
            .iter()
            .map(|f| Ok(image::open(f)?.to_rgb8()))
            .collect::<anyhow::Result<_>>()?,
        fps: Some(10.0),
        name: Some("street".into()),
    });
    let n = clips.len();
    let cfg = DataConfig {
        num_frames: 9,
        resolution: 256,
        crop: 128,
        batch_size: 2,
        workers: 2,
        image_ratio: 0.5,
        ..DataConfig::default()
    };
    // 1. A burn Dataset in: bucketed, augmented, resumable batches.
    let mut loader = loader_from_dataset(&cfg, Mode::Train, InMemDataset::new(clips))?;
    println!("{n} clips in, {} batches per epoch", loader.epoch_len());
    for _ in 0..4 {
        let b = loader.next_batch()?;
        println!("  {:>5} {:?} {}", b.bucket, b.shape, b.sources.join(", "));
    }
    println!(
        "position to save with a checkpoint: {:?}",
        loader.position()
    );

    // 2. A dataset's clips out, as a burn Dataset<Batch> (centred evaluation clips).
    let files = DataConfig {
        sources: vec![SourceConfig::auto(media.join("frames"))],
        ..cfg
    };
    let ds = ClipDataset::new(&files, Mode::Eval)?;
    for (i, b) in ds.iter().enumerate() {
        let b = b?;
        println!("clip {i}: {:?} from {}", b.shape, b.sources[0]);
    }
    Ok(())
}
