//! Path-based dispatch between images, frame folders and videos.

use std::path::Path;

use anyhow::{Result, bail};

use crate::frame_folder::checked_range;
use crate::{Frames, read_frame_folder, read_image, shown, write_frame_folder, write_image};

/// Video file extensions (lower case).
const VIDEO_EXTS: &[&str] = &["mp4", "mov", "avi", "mkv", "webm", "mpg", "mpeg"];
/// Image file extensions (lower case).
const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp"];

/// Frame rate used by [`write_any`] for videos when `frames.fps` is `None`.
pub const DEFAULT_FPS: f64 = 24.0;

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// `mp4 mov avi mkv webm mpg mpeg` (case-insensitive).
pub fn is_video_path(path: &Path) -> bool {
    has_ext(path, VIDEO_EXTS)
}

/// `png jpg jpeg webp bmp` (case-insensitive).
pub fn is_image_path(path: &Path) -> bool {
    has_ext(path, IMAGE_EXTS)
}

#[cfg(not(feature = "video"))]
fn no_video(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: video files need the `video` cargo feature of cosmotok-data, which is not compiled \
         in (rebuild with `--features video`; it needs the FFmpeg development libraries)",
        shown(path)
    )
}

/// Reads frames `[start, start + count)` from `path`: a directory is read as a frame folder, an
/// image extension as a single image (`T = 1`; only `start = 0` and `count` `None` / `Some(1)`
/// are valid), a video extension as a video (needs the `video` feature).
pub fn read_any(path: &Path, start: usize, count: Option<usize>) -> Result<Frames> {
    if path.is_dir() {
        return read_frame_folder(path, start, count);
    }
    if !path.exists() {
        bail!("{}: no such file or directory", shown(path));
    }
    if is_image_path(path) {
        checked_range(path, 1, start, count, "frame (it is a single image)")?;
        return read_image(path);
    }
    if is_video_path(path) {
        #[cfg(feature = "video")]
        return crate::read_video(path, start, count);
        #[cfg(not(feature = "video"))]
        return Err(no_video(path));
    }
    bail!(
        "{}: unknown media type (expected a directory of frames, an image \
         (.png .jpg .jpeg .webp .bmp) or a video (.mp4 .mov .avi .mkv .webm .mpg .mpeg))",
        shown(path)
    )
}

/// Writes `frames` to `path`: an image extension writes one image (needs `T == 1`), a video
/// extension writes an H.264 video at `frames.fps` (or [`DEFAULT_FPS`]; needs the `video`
/// feature), anything else is a frame folder (`path/frame_00000.png`, ...).
pub fn write_any(path: &Path, frames: &Frames) -> Result<()> {
    if is_image_path(path) {
        if frames.frames != 1 {
            bail!(
                "{}: an image holds one frame but the input has {} frames \
                 (write a video or a frame folder instead)",
                shown(path),
                frames.frames
            );
        }
        return write_image(path, frames, 0);
    }
    if is_video_path(path) {
        #[cfg(feature = "video")]
        return crate::write_video(path, frames, frames.fps.unwrap_or(DEFAULT_FPS));
        #[cfg(not(feature = "video"))]
        return Err(no_video(path));
    }
    write_frame_folder(path, frames)
}
