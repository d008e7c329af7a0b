//! Winograd F(2×2, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2016) on a zero-padded NHWC [`Grid`]: each 2×2 block of outputs comes from a 4×4
//! block of inputs with 16 multiplications per channel pair instead of 36. The 16 products
//! are 16 GEMMs `V_ξ · U_ξ` over the tiles, run chunk by chunk so that the transformed tiles
//! stay in cache. Used by [`CpuVgg`](crate::vgg_cpu::CpuVgg) where the channel counts make the
//! GEMMs, not the transforms, the cost (C_in ≥ 64).
//!
//! Transforms (F(2,3)): Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]],
//! G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]], Aᵀ = [[1,1,1,0],[0,1,−1,−1]];
//! Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::vgg_cpu::Grid;

/// Floats of transformed inputs + products per chunk (≈ 1 MiB, an L2 cache).
const CHUNK_FLOATS: usize = 256 * 1024;

/// A 3×3 kernel in the Winograd domain: `u[ξ][ci][co]`, ξ = 4·i + j.
#[derive(Clone, Debug)]
pub struct Winograd {
    c_in: usize,
    c_out: usize,
    u: Vec<f32>,
}

/// A pointer the chunks write through; each chunk writes its own tiles' pixels only.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: the chunks write disjoint pixels (each output pixel belongs to one tile).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl Winograd {
    /// From `k(co, ci, ky, kx)`, the cross-correlation kernel (PyTorch's conv2d weight).
    pub fn new(c_in: usize, c_out: usize, k: impl Fn(usize, usize, usize, usize) -> f32) -> Self {
        let mut u = vec![0.0f32; 16 * c_in * c_out];
        for co in 0..c_out {
            for ci in 0..c_in {
                let g = |y: usize, x: usize| k(co, ci, y, x) as f64;
                // G g: 4×3, column by column.
                let mut gg = [[0.0f64; 3]; 4];
                for x in 0..3 {
                    let (a, b, c) = (g(0, x), g(1, x), g(2, x));
                    let col = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                    for (row, v) in gg.iter_mut().zip(col) {
                        row[x] = v;
                    }
                }
                // (G g) Gᵀ: 4×4.
                for (i, row) in gg.iter().enumerate() {
                    let (a, b, c) = (row[0], row[1], row[2]);
                    let v = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                    for (j, vj) in v.iter().enumerate() {
                        u[((4 * i + j) * c_in + ci) * c_out + co] = *vj as f32;
                    }
                }
            }
        }
        Self { c_in, c_out, u }
    }

    /// The 3×3 convolution (padding 1) of `x`'s interior; the result's padding is zero.
    pub fn conv(&self, x: &Grid) -> Grid {
        assert_eq!(x.c, self.c_in, "Winograd conv input channels");
        let (n, h, w, ci, co) = (x.n, x.h, x.w, self.c_in, self.c_out);
        let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
        let tiles = n * th * tw;
        let chunk = (CHUNK_FLOATS / (16 * (ci + co))).clamp(16, 512);
        let mut out = Grid::zeros(n, h, w, co);
        let out_ptr = OutPtr(out.data.as_mut_ptr());
        let out_geom = (out.n, out.h, out.w);
        (0..tiles.div_ceil(chunk)).into_par_iter().for_each_init(
            || (vec![0.0f32; 16 * chunk * ci], vec![0.0f32; 16 * chunk * co]),
            |(v, m), c| {
                let first = c * chunk;
                let count = chunk.min(tiles - first);
                self.input_transform(x, first, count, chunk, v);
                for xi in 0..16 {
                    // SAFETY: v holds [16][chunk][ci], m [16][chunk][co], u [16][ci][co].
                    unsafe {
                        gemm(
                            count,
                            co,
                            ci,
                            m.as_mut_ptr().add(xi * chunk * co),
                            1,
                            co as isize,
                            false,
                            v.as_ptr().add(xi * chunk * ci),
                            1,
                            ci as isize,
                            self.u.as_ptr().add(xi * ci * co),
                            1,
                            co as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                }
                output_transform(m, first, count, chunk, co, out_geom, out_ptr);
            },
        );
        out
    }

    /// Bᵀ d B of `count` tiles from tile `first` into `v` ([16][chunk][C_in]). Every step is
    /// an operation on whole channel vectors (NHWC), which the compiler vectorises.
    fn input_transform(&self, x: &Grid, first: usize, count: usize, chunk: usize, v: &mut [f32]) {
        let (h, w, c) = (x.h, x.w, x.c);
        let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
        let zeros = vec![0.0f32; c];
        let mut r = vec![0.0f32; 16 * c];
        for t in 0..count {
            let tile = first + t;
            let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
            // The 4×4 input block: padded rows 2ty..2ty+3, columns 2tx..2tx+3 (zero beyond the
            // grid's one-pixel border when h or w is odd).
            let d = |i: usize, j: usize| -> &[f32] {
                let (py, px) = (2 * ty + i, 2 * tx + j);
                if py > h + 1 || px > w + 1 {
                    return &zeros;
                }
                let p = x.padded_at(img, py, px);
                &x.data[p * c..(p + 1) * c]
            };
            // r = Bᵀ d (row combinations), r[i][j] at r[(4i + j)·c ..].
            for j in 0..4 {
                let (d0, d1, d2, d3) = (d(0, j), d(1, j), d(2, j), d(3, j));
                let (r0, rest) = r[j * c..].split_at_mut(4 * c);
                let (r1, rest) = rest.split_at_mut(4 * c);
                let (r2, rest) = rest.split_at_mut(4 * c);
                let r3 = &mut rest[..c];
                for k in 0..c {
                    r0[k] = d0[k] - d2[k];
                    r1[k] = d1[k] + d2[k];
                    r2[k] = d2[k] - d1[k];
                    r3[k] = d1[k] - d3[k];
                }
            }
            // v = r B (column combinations).
            for i in 0..4 {
                let row = &r[4 * i * c..4 * (i + 1) * c];
                let (a0, a1, a2, a3) =
                    (&row[..c], &row[c..2 * c], &row[2 * c..3 * c], &row[3 * c..]);
                let dst = |j: usize| ((4 * i + j) * chunk + t) * c;
                let (o0, o1, o2, o3) = (dst(0), dst(1), dst(2), dst(3));
                for k in 0..c {
                    v[o0 + k] = a0[k] - a2[k];
                    v[o1 + k] = a1[k] + a2[k];
                    v[o2 + k] = a2[k] - a1[k];
                    v[o3 + k] = a1[k] - a3[k];
                }
            }
        }
    }
}

/// Aᵀ m A of `count` tiles into the output grid's interior (clipped at odd edges).
fn output_transform(
    m: &[f32],
    first: usize,
    count: usize,
    chunk: usize,
    c: usize,
    (n, h, w): (usize, usize, usize),
    out: OutPtr,
) {
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let stride = w + 2;
    let mut r = vec![0.0f32; 8 * c];
    let mut y = vec![0.0f32; 4 * c];
    for t in 0..count {
        let tile = first + t;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        debug_assert!(img < n);
        let e = |xi: usize| &m[(xi * chunk + t) * c..(xi * chunk + t + 1) * c];
        // r = Aᵀ m: 2×4, r[i][j] at r[(4i + j)·c ..].
        for j in 0..4 {
            let (m0, m1, m2, m3) = (e(j), e(4 + j), e(8 + j), e(12 + j));
            let (r0, r1) = r.split_at_mut(4 * c);
            let (r0, r1) = (&mut r0[j * c..(j + 1) * c], &mut r1[j * c..(j + 1) * c]);
            for k in 0..c {
                r0[k] = m0[k] + m1[k] + m2[k];
                r1[k] = m1[k] - m2[k] - m3[k];
            }
        }
        // y = r A: 2×2, y[i][j] at y[(2i + j)·c ..].
        for i in 0..2 {
            let row = &r[4 * i * c..4 * (i + 1) * c];
            let (a0, a1, a2, a3) = (&row[..c], &row[c..2 * c], &row[2 * c..3 * c], &row[3 * c..]);
            let (y0, y1) = y[2 * i * c..2 * (i + 1) * c].split_at_mut(c);
            for k in 0..c {
                y0[k] = a0[k] + a1[k] + a2[k];
                y1[k] = a1[k] - a2[k] - a3[k];
            }
        }
        for dy in 0..2 {
            for dx in 0..2 {
                let (oy, ox) = (2 * ty + dy, 2 * tx + dx);
                if oy >= h || ox >= w {
                    continue;
                }
                let p = (w + 3) + (img * (h + 2) + oy + 1) * stride + ox + 1;
                let src = &y[(2 * dy + dx) * c..(2 * dy + dx + 1) * c];
                // SAFETY: p is an interior pixel of the output grid, written by this tile only.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), out.0.add(p * c), c);
                }
            }
        }
    }
}
