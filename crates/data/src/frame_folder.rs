//! Frame folders: a directory of image files, one per frame, in natural sort order.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::image_io::decode_rgb8;
use crate::{Frames, is_image_path, shown};

/// Natural ("human") order of two strings: runs of ASCII digits compare by numeric value, so
/// `frame_2` < `frame_10`; everything else compares byte-wise. Ties between equal numbers with
/// different zero padding (`1` vs `01`) are broken by plain string order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = trim_zeros(&ab[si..i]);
            let nb = trim_zeros(&bb[sj..j]);
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = ab[i].cmp(&bb[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

/// The image files (by extension, see [`is_image_path`]) directly inside `dir`, in natural sort
/// order of their file names. Hidden files (`.name`) are skipped.
pub fn list_image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        anyhow!(
            "{}: cannot list directory (expected a frame folder): {e}",
            shown(dir)
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| anyhow!("{}: cannot list directory: {e}", shown(dir)))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && path.is_file() && is_image_path(&path) {
            files.push(path);
        }
    }
    files.sort_by(|a, b| {
        let na = a.file_name().unwrap_or_default().to_string_lossy();
        let nb = b.file_name().unwrap_or_default().to_string_lossy();
        natural_cmp(&na, &nb)
    });
    Ok(files)
}

/// Reads frames `[start, start + count)` (`count = None`: to the last file) of a frame folder.
/// All images must have the same size.
pub fn read_frame_folder(dir: &Path, start: usize, count: Option<usize>) -> Result<Frames> {
    let files = list_image_files(dir)?;
    if files.is_empty() {
        bail!(
            "{}: no image files found (expected .png, .jpg, .jpeg, .webp or .bmp files)",
            shown(dir)
        );
    }
    let end = checked_range(dir, files.len(), start, count, "image files")?;
    let mut images = Vec::with_capacity(end - start);
    for path in &files[start..end] {
        let img = decode_rgb8(path)?;
        if let Some(first) = images.first().map(image::RgbImage::dimensions)
            && img.dimensions() != first
        {
            bail!(
                "{}: image is {}x{} (WxH) but {} is {}x{}; all frames of {} must have the same size",
                shown(path),
                img.width(),
                img.height(),
                shown(&files[start]),
                first.0,
                first.1,
                shown(dir)
            );
        }
        images.push(img);
    }
    Frames::from_rgb8(&images, None).map_err(|e| anyhow!("{}: {e}", shown(dir)))
}

/// Validates `[start, start + count)` against `available` items and returns the end index.
pub(crate) fn checked_range(
    path: &Path,
    available: usize,
    start: usize,
    count: Option<usize>,
    what: &str,
) -> Result<usize> {
    if count == Some(0) {
        bail!(
            "{}: asked for 0 frames (count must be at least 1)",
            shown(path)
        );
    }
    let end = match count {
        Some(c) => start.saturating_add(c),
        None => available,
    };
    if start >= available || end > available {
        let asked = match count {
            Some(_) => format!("frames {start}..{end}"),
            None => format!("frames {start}.. (to the end)"),
        };
        bail!("{}: has {available} {what}, asked for {asked}", shown(path));
    }
    Ok(end)
}

/// Writes every frame as `dir/frame_00000.png`, `dir/frame_00001.png`, ... (creating `dir`).
/// Existing files are overwritten; other files in `dir` are left alone.
pub fn write_frame_folder(dir: &Path, frames: &Frames) -> Result<()> {
    frames
        .check_consistent()
        .map_err(|e| anyhow!("{}: {e}", shown(dir)))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow!("{}: cannot create frame folder: {e}", shown(dir)))?;
    for t in 0..frames.frames {
        let path = dir.join(format!("frame_{t:05}.png"));
        frames
            .to_rgb8(t)
            .save(&path)
            .map_err(|e| anyhow!("{}: cannot write image: {e}", shown(&path)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "frame_10.png",
            "frame_2.png",
            "frame_1.png",
            "a.png",
            "frame_02.png",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "a.png",
                "frame_1.png",
                "frame_02.png",
                "frame_2.png",
                "frame_10.png"
            ]
        );
    }
}
