//! cosmotok-data: media I/O (images, videos, frame folders).
//!
//! Every reader returns a [`Frames`] value: RGB, layout `[3, T, H, W]`, values in `[-1, 1]`
//! (`u8 / 255 * 2 - 1`), the convention of the Cosmos tokenizers.
//!
//! * [`read_image`] / [`write_image`]: PNG, JPEG, WebP (and BMP on read).
//! * [`read_frame_folder`] / [`write_frame_folder`]: a directory of image files, read in
//!   natural sort order (`frame_2` before `frame_10`).
//! * `read_video` / `write_video` / `probe_video`: behind the `video` cargo feature (FFmpeg via
//!   `video-rs`).
//! * [`read_any`] / [`write_any`]: dispatch on the path (directory, image or video extension).
//!
//! The training data pipeline (issue #3):
//!
//! * [`DataConfig`] (the `[data]` table of the training TOML) with [`SourceConfig`]s: image
//!   folders, video files, frame folders, JSONL manifests ([`manifest`]), LeRobot datasets
//!   ([`lerobot`]), mixed.
//! * [`index`]: the dataset index (frame counts, sizes) with a JSON cache keyed by path, size
//!   and mtime; unreadable files are skipped and listed.
//! * [`bucket`]: the aspect-ratio buckets (1:1, 4:3, 3:4, 16:9, 9:16; docs/architecture.md
//!   §9.2 tables or custom).
//! * [`sampler`]: clips of `num_frames` frames and the per-epoch, bucket-homogeneous batch plan;
//!   [`augment`]: resize / crop / flip / reversal; [`rng`]: counter-based randomness.
//! * [`Loader`]: worker threads, prefetch, in-order batches `[B, 3, T, H, W]`, resumable from a
//!   [`LoaderPosition`]; [`eval_batches`] for the deterministic evaluation pass.
//! * [`inspect`]: the report and contact sheet behind `cosmotok data inspect`.

pub mod augment;
pub mod bucket;
mod config;
mod dispatch;
pub mod frame_count;
mod frame_folder;
mod frames;
mod image_io;
pub mod index;
pub mod inspect;
pub mod lerobot;
mod loader;
pub mod manifest;
pub mod provider;
pub mod rng;
pub mod sampler;
pub mod timestamps;
#[cfg(feature = "video")]
mod video_io;

pub use bucket::{Bucket, BucketSpec, BucketTable};
pub use config::{DataConfig, Mode, SourceConfig, SourceKind};
pub use dispatch::{DEFAULT_FPS, is_image_path, is_video_path, read_any, write_any};
pub use frame_folder::{list_image_files, natural_cmp, read_frame_folder, write_frame_folder};
pub use frames::{Frames, unit_to_u8};
pub use image_io::{read_image, write_image};
pub use loader::{
    Batch, Clips, Loader, LoaderPosition, LoaderStats, config_for_path, eval_batches, read_clip,
};
#[cfg(feature = "video")]
pub use video_io::{
    VideoProbe, frame_times, probe_video, probe_video_stream, read_video, read_video_rgb,
    write_video,
};

/// `path` as shown in error messages: `` `path` ``.
pub(crate) fn shown(path: &std::path::Path) -> String {
    format!("`{}`", path.display())
}

/// Creates the parent directory of an output file, if it has one.
pub fn ensure_parent_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", shown(parent)))?;
    }
    Ok(())
}
