//! Single images: PNG, JPEG, WebP (read and write), BMP (read; write too via `image`).

use std::path::Path;

use anyhow::{Result, anyhow, bail};

use crate::{Frames, shown};

/// Reads an image file as a one-frame [`Frames`] (`T = 1`). Grayscale, gray+alpha, RGBA and
/// 16-bit images are converted to 8-bit RGB (alpha is dropped). The format is sniffed from the
/// file content, falling back to the extension.
pub fn read_image(path: &Path) -> Result<Frames> {
    let img = decode_rgb8(path)?;
    Frames::from_rgb8(&[img], None).map_err(|e| anyhow!("{}: {e}", shown(path)))
}

/// Decodes an image file to 8-bit RGB, with errors naming the file.
pub(crate) fn decode_rgb8(path: &Path) -> Result<image::RgbImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| anyhow!("{}: cannot open image file: {e}", shown(path)))?
        .with_guessed_format()
        .map_err(|e| anyhow!("{}: cannot read image file: {e}", shown(path)))?;
    let img = reader.decode().map_err(|e| {
        anyhow!(
            "{}: cannot decode image (expected a PNG, JPEG, WebP or BMP file): {e}",
            shown(path)
        )
    })?;
    Ok(img.to_rgb8())
}

/// Writes frame `t` of `frames` as an image; the format follows the extension (`png`, `jpg` /
/// `jpeg`, `webp` (lossless), `bmp`).
pub fn write_image(path: &Path, frames: &Frames, t: usize) -> Result<()> {
    frames
        .check_consistent()
        .map_err(|e| anyhow!("{}: {e}", shown(path)))?;
    if t >= frames.frames {
        bail!(
            "{}: cannot write frame {t}: the input has only {} frame(s)",
            shown(path),
            frames.frames
        );
    }
    if !crate::is_image_path(path) {
        bail!(
            "{}: unsupported image extension (expected .png, .jpg, .jpeg, .webp or .bmp)",
            shown(path)
        );
    }
    crate::ensure_parent_dir(path)?;
    frames
        .to_rgb8(t)
        .save(path)
        .map_err(|e| anyhow!("{}: cannot write image: {e}", shown(path)))
}
