//! Loader throughput on the bundled videos (a benchmark, not a test): clips/s and MB/s of
//! `[1, 3, 17, H, W]` f32 output at a resolution key, with N worker threads.
//!
//! ```bash
//! cargo run -p cosmotok-data --features video --example bench_loader -- 256 256 1 24
//! #                                                         resolution crop workers clips
//! ```
//! Prints one `RESULT ...` line. `scripts/bench_loader.sh` runs it beside the PyAV loader.

use std::time::Instant;

use cosmotok_data::{DataConfig, Loader, Mode, SourceConfig, SourceKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse()).unwrap();
    let (resolution, crop, workers, clips) = (arg(0, 256), arg(1, 256), arg(2, 1), arg(3, 24));
    let videos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/media/videos");
    let cfg = DataConfig {
        sources: vec![SourceConfig {
            kind: SourceKind::Videos,
            ..SourceConfig::auto(videos)
        }],
        num_frames: 17,
        resolution: resolution as u32,
        crop: crop as u32,
        batch_size: 1,
        workers,
        prefetch: 2 * workers.max(1),
        crop_only_prob: 0.0,
        seed: 1,
        ..DataConfig::default()
    };
    let mut loader = Loader::new(&cfg, Mode::Train)?;
    // Warm-up: one clip (FFmpeg init, page cache).
    loader.next_batch()?;
    let t0 = Instant::now();
    let mut bytes = 0usize;
    let mut shapes = std::collections::BTreeSet::new();
    for _ in 0..clips {
        let b = loader.next_batch()?;
        bytes += b.data.len() * 4;
        shapes.insert(format!("{}x{}", b.shape[4], b.shape[3]));
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "RESULT impl=rust resolution={resolution} crop={crop} workers={workers} clips={clips} \
         secs={secs:.3} clips_per_s={:.2} mb_per_s={:.1} crops={}",
        clips as f64 / secs,
        bytes as f64 / 1e6 / secs,
        shapes.into_iter().collect::<Vec<_>>().join(",")
    );
    Ok(())
}
