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

mod dispatch;
mod frame_folder;
mod frames;
mod image_io;
#[cfg(feature = "video")]
mod video_io;

pub use dispatch::{DEFAULT_FPS, is_image_path, is_video_path, read_any, write_any};
pub use frame_folder::{list_image_files, natural_cmp, read_frame_folder, write_frame_folder};
pub use frames::Frames;
pub use image_io::{read_image, write_image};
#[cfg(feature = "video")]
pub use video_io::{probe_video, read_video, write_video};

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
