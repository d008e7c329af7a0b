//! The [`Frames`] container: RGB frames in `[-1, 1]`, layout `[3, T, H, W]`.

use anyhow::{Result, bail};
use image::RgbImage;

/// RGB frames, layout `[3, T, H, W]` row-major, values in `[-1, 1]` (`u8 / 255 * 2 - 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    /// `3 * frames * height * width` values, channel-major: `data[((c * T + t) * H + y) * W + x]`.
    pub data: Vec<f32>,
    /// Number of frames `T`.
    pub frames: usize,
    /// Frame height `H` in pixels.
    pub height: usize,
    /// Frame width `W` in pixels.
    pub width: usize,
    /// Frame rate, when known (videos).
    pub fps: Option<f64>,
}

/// `u8` level to `[-1, 1]`.
#[inline]
pub(crate) fn u8_to_unit(v: u8) -> f32 {
    v as f32 / 255.0 * 2.0 - 1.0
}

/// `[-1, 1]` to a `u8` level, as the official Cosmos CLI does: clamp to `[-1, 1]`, map to
/// `[0, 1]`, multiply by 255, add 0.5 and truncate.
#[inline]
pub fn unit_to_u8(v: f32) -> u8 {
    // NaN maps to 0 (`as u8` saturates and maps NaN to 0).
    let v = v.clamp(-1.0, 1.0);
    ((v + 1.0) / 2.0 * 255.0 + 0.5) as u8
}

impl Frames {
    /// Builds frames from 8-bit RGB images, all of the same size.
    pub fn from_rgb8(frames: &[RgbImage], fps: Option<f64>) -> Result<Frames> {
        let Some(first) = frames.first() else {
            bail!("Frames::from_rgb8: no frames given (expected at least one image)");
        };
        let (w, h) = first.dimensions();
        for (t, f) in frames.iter().enumerate() {
            if f.dimensions() != (w, h) {
                bail!(
                    "Frames::from_rgb8: frame {t} is {}x{} (WxH) but frame 0 is {w}x{h}; \
                     all frames must have the same size",
                    f.width(),
                    f.height()
                );
            }
        }
        let (w, h, n) = (w as usize, h as usize, frames.len());
        let plane = h * w;
        let mut data = vec![0f32; 3 * n * plane];
        for (t, f) in frames.iter().enumerate() {
            for (i, px) in f.as_raw().chunks_exact(3).enumerate() {
                for c in 0..3 {
                    data[(c * n + t) * plane + i] = u8_to_unit(px[c]);
                }
            }
        }
        Ok(Frames {
            data,
            frames: n,
            height: h,
            width: w,
            fps,
        })
    }

    /// Frame `t` as an 8-bit RGB image (values clamped to `[-1, 1]`, then
    /// `((v + 1) / 2 * 255 + 0.5)` truncated, as the official Cosmos CLI does).
    ///
    /// Panics if `t >= self.frames`.
    pub fn to_rgb8(&self, t: usize) -> RgbImage {
        assert!(
            t < self.frames,
            "frame {t} out of range (T = {})",
            self.frames
        );
        let (n, plane) = (self.frames, self.height * self.width);
        let mut raw = vec![0u8; 3 * plane];
        for c in 0..3 {
            let src = &self.data[(c * n + t) * plane..(c * n + t + 1) * plane];
            for (i, &v) in src.iter().enumerate() {
                raw[3 * i + c] = unit_to_u8(v);
            }
        }
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .expect("buffer size matches dimensions")
    }

    /// `[3, T, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [3, self.frames, self.height, self.width]
    }

    /// Checks that `data.len()` matches the shape; readers always produce consistent values,
    /// this guards hand-built values before writing.
    pub(crate) fn check_consistent(&self) -> Result<()> {
        let expected = 3 * self.frames * self.height * self.width;
        if self.data.len() != expected {
            bail!(
                "Frames: data has {} values but shape [3, {}, {}, {}] needs {expected}",
                self.data.len(),
                self.frames,
                self.height,
                self.width
            );
        }
        if self.frames == 0 || self.height == 0 || self.width == 0 {
            bail!(
                "Frames: empty shape [3, {}, {}, {}]",
                self.frames,
                self.height,
                self.width
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_round_trip_is_exact() {
        for v in 0..=255u8 {
            assert_eq!(unit_to_u8(u8_to_unit(v)), v);
        }
        assert_eq!(unit_to_u8(5.0), 255);
        assert_eq!(unit_to_u8(-5.0), 0);
        assert_eq!(unit_to_u8(f32::NAN), 0);
    }

    #[test]
    fn layout_is_channel_major() {
        let mut a = RgbImage::new(2, 1);
        a.put_pixel(1, 0, image::Rgb([255, 0, 0]));
        let b = RgbImage::new(2, 1);
        let f = Frames::from_rgb8(&[a.clone(), b], None).unwrap();
        assert_eq!(f.shape(), [3, 2, 1, 2]);
        // c=0, t=0, y=0, x=1
        assert_eq!(f.data[1], 1.0);
        assert_eq!(f.data[0], -1.0);
        assert_eq!(f.to_rgb8(0), a);
        let err = Frames::from_rgb8(&[RgbImage::new(2, 1), RgbImage::new(3, 1)], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3x1") && err.contains("2x1"), "{err}");
    }
}
