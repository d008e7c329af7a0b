//! A batch of NHWC images on a zero-padded grid: the layout of the host-memory Winograd and
//! direct 3×3 convolutions ([`crate::winograd`], the VGG of `cosmotok-losses`), where every
//! 3×3 neighbourhood of every pixel can be read without bounds checks.

use rayon::prelude::*;

use crate::flex_host::SharedMut;

/// `n` NHWC images of `h`×`w` pixels and `c` channels, stored on a grid with a one-pixel zero
/// border ((h+2)×(w+2) pixels per image) and `w+3` zero pixels before and after all images, so
/// that every 3×3 neighbour of every grid pixel is inside `data`.
#[derive(Clone, Debug)]
pub struct PaddedNhwc {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl PaddedNhwc {
    pub fn zeros(n: usize, h: usize, w: usize, c: usize) -> Self {
        let len = (2 * (w + 3) + n * (h + 2) * (w + 2)) * c;
        Self {
            n,
            h,
            w,
            c,
            data: vec![0.0; len],
        }
    }

    /// A grid whose interior rows `f(r, interior)` fills (r numbers the padded rows as in
    /// [`for_each_interior_row`](Self::for_each_interior_row)), in parallel. Unlike
    /// [`zeros`](Self::zeros) followed by a fill, each row is zeroed just before `f` writes it,
    /// while it is in cache, instead of the whole buffer up front.
    pub fn from_rows(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        f: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Self {
        let stride = (w + 2) * c;
        // SAFETY: each padded row is zeroed whole before the slice over it is made.
        unsafe {
            Self::build(
                [n, h, w, c],
                |r, p| {
                    std::ptr::write_bytes(p, 0, stride);
                    let y = r % (h + 2);
                    if y != 0 && y != h + 1 {
                        f(r, std::slice::from_raw_parts_mut(p.add(c), stride - 2 * c));
                    }
                },
                |_| {},
            )
        }
    }

    /// A grid whose interior `write` fills through the raw pointer to its data: only the guards
    /// and the padding are zeroed first (in parallel, row by row), not the whole buffer.
    ///
    /// # Safety
    /// `write` must write every interior value (and nothing outside the buffer); the grid's
    /// data is read as initialised afterwards.
    pub(crate) unsafe fn with_interior(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        write: impl FnOnce(SharedMut),
    ) -> Self {
        let stride = (w + 2) * c;
        // SAFETY: the padding rows whole and the first and last pixel of every interior row
        // are zeroed here; `write` writes the rest (the caller's promise).
        unsafe {
            Self::build(
                [n, h, w, c],
                |r, p| {
                    let y = r % (h + 2);
                    if y == 0 || y == h + 1 {
                        std::ptr::write_bytes(p, 0, stride);
                    } else {
                        std::ptr::write_bytes(p, 0, c);
                        std::ptr::write_bytes(p.add(stride - c), 0, c);
                    }
                },
                write,
            )
        }
    }

    /// Allocates the grid's buffer, zeroes its guards, runs `row(r, start of padded row r)` on
    /// every padded row (in parallel), then `then(buffer)`.
    ///
    /// # Safety
    /// `row` and `then` together must initialise every value of every padded row, each `row`
    /// call writing its own row only and `then` nothing outside the buffer.
    unsafe fn build(
        [n, h, w, c]: [usize; 4],
        row: impl Fn(usize, *mut f32) + Sync,
        then: impl FnOnce(SharedMut),
    ) -> Self {
        let (guard, stride) = ((w + 3) * c, (w + 2) * c);
        let len = 2 * guard + n * (h + 2) * stride;
        let mut data: Vec<f32> = Vec::with_capacity(len);
        let base = SharedMut(data.as_mut_ptr());
        // SAFETY: the two guards and every padded row are inside the capacity; each row goes
        // to one task.
        unsafe {
            std::ptr::write_bytes(base.at(0), 0, guard);
            std::ptr::write_bytes(base.at(len - guard), 0, guard);
        }
        (0..n * (h + 2))
            .into_par_iter()
            .for_each(|r| row(r, base.at(guard + r * stride)));
        then(base);
        // SAFETY: the guards are zeroed above, the rows initialised by `row` and `then` (the
        // caller's promise).
        unsafe { data.set_len(len) };
        Self { n, h, w, c, data }
    }

    /// Zero pixels before the first image (= after the last).
    #[inline]
    pub fn guard(&self) -> usize {
        self.w + 3
    }

    /// Pixels per padded row.
    #[inline]
    pub fn stride(&self) -> usize {
        self.w + 2
    }

    /// Padded pixels of all images (padding included, guards excluded).
    #[inline]
    pub fn pixels(&self) -> usize {
        self.n * (self.h + 2) * self.stride()
    }

    /// Pixel index of interior pixel (image `i`, row `y`, column `x`).
    #[inline]
    pub fn at(&self, i: usize, y: usize, x: usize) -> usize {
        self.padded_at(i, y + 1, x + 1)
    }

    /// Pixel index of padded-grid pixel (image `i`, row `py` ≤ h+1, column `px` ≤ w+1).
    #[inline]
    pub fn padded_at(&self, i: usize, py: usize, px: usize) -> usize {
        Self::pixel_index(self.h, self.w, i, py, px)
    }

    /// [`padded_at`](Self::padded_at) of a grid of `h`×`w` images, for writers that hold only
    /// a raw pointer to the data.
    #[inline]
    pub fn pixel_index(h: usize, w: usize, i: usize, py: usize, px: usize) -> usize {
        (w + 3) + (i * (h + 2) + py) * (w + 2) + px
    }

    /// The `size`×`size` block of padded pixels of image `img` from padded pixel `(py, px)`,
    /// as `size` rows of `size·c` floats `stride` floats apart: `(data, stride)`. Where the
    /// block lies inside the image's padded area it is read in place; otherwise it is copied to
    /// `patch` (at least `size²·c` floats), zeros beyond the padding.
    #[inline]
    pub fn block<'a>(
        &'a self,
        patch: &'a mut [f32],
        img: usize,
        (py, px): (usize, usize),
        size: usize,
    ) -> (&'a [f32], usize) {
        let (h, w, c) = (self.h, self.w, self.c);
        if py + size <= h + 2 && px + size <= w + 2 {
            return (
                &self.data[self.padded_at(img, py, px) * c..],
                self.stride() * c,
            );
        }
        for i in 0..size {
            for j in 0..size {
                let (y, x) = (py + i, px + j);
                let d = &mut patch[(size * i + j) * c..][..c];
                if y > h + 1 || x > w + 1 {
                    d.fill(0.0);
                } else {
                    d.copy_from_slice(&self.data[self.padded_at(img, y, x) * c..][..c]);
                }
            }
        }
        (&patch[..], size * c)
    }

    /// The padded rows of all images (guards excluded), `stride()·c` floats each.
    #[inline]
    pub fn rows_mut(&mut self) -> rayon::slice::ChunksMut<'_, f32> {
        let (g, m, c, s) = (self.guard(), self.pixels(), self.c, self.stride());
        self.data[g * c..(g + m) * c].par_chunks_mut(s * c)
    }

    /// Runs `f(r, interior)` on the interior pixels of every padded row `r` (all images, in
    /// parallel), zeroes the padding, and returns the sum of what `f` returned.
    pub fn sum_interior_rows(&mut self, f: impl Fn(usize, &mut [f32]) -> f64 + Sync) -> f64 {
        let (h, c) = (self.h, self.c);
        self.rows_mut()
            .enumerate()
            .map(|(r, row)| {
                let y = r % (h + 2);
                if y == 0 || y == h + 1 {
                    row.fill(0.0);
                    return 0.0;
                }
                let last = row.len() - c;
                row[..c].fill(0.0);
                row[last..].fill(0.0);
                f(r, &mut row[c..last])
            })
            .sum()
    }

    /// [`sum_interior_rows`](Self::sum_interior_rows) for `f` without a result.
    pub fn for_each_interior_row(&mut self, f: impl Fn(usize, &mut [f32]) + Sync) {
        self.sum_interior_rows(|r, row| {
            f(r, row);
            0.0
        });
    }

    /// Image and interior row (0-based) of padded row `r` of [`for_each_interior_row`](Self::for_each_interior_row), for
    /// images of height `h`.
    #[inline]
    pub fn image_row(h: usize, r: usize) -> (usize, usize) {
        (r / (h + 2), r % (h + 2) - 1)
    }

    /// The interior pixels of padded row `r` (as [`for_each_interior_row`](Self::for_each_interior_row) numbers them).
    #[inline]
    pub fn interior_row(&self, r: usize) -> &[f32] {
        let start = (self.guard() + r * self.stride() + 1) * self.c;
        &self.data[start..start + self.w * self.c]
    }

    /// Applies `f(value, channel)` to every interior value and zeroes the padding.
    pub fn map_interior(&mut self, f: impl Fn(f32, usize) -> f32 + Sync) {
        let c = self.c;
        self.for_each_interior_row(|_, row| {
            for px in row.chunks_exact_mut(c) {
                for (ch, v) in px.iter_mut().enumerate() {
                    *v = f(*v, ch);
                }
            }
        });
    }

    /// Padded-grid rows covering images `from..to` (their zero borders add nothing to sums of
    /// products, so Gram matrices can be taken over them).
    #[inline]
    pub fn image_rows(&self, from: usize, to: usize) -> (usize, usize) {
        let per = (self.h + 2) * self.stride();
        (self.guard() + from * per, (to - from) * per)
    }
}
