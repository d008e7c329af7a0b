//! Winograd convolution F(m×m, 3×3) for m = 2 and m = 4 (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016) on a zero-padded NHWC [`Grid`]: each m×m block of
//! outputs comes from an α×α block of inputs (α = m + 2) with α² multiplications per channel
//! pair instead of 9·m² (F(2,3): 16 for 36, F(4,3): 36 for 144). The α² products are α² GEMMs
//! `V_ξ · U_ξ` over the tiles, run chunk by chunk so that the transformed tiles stay in cache.
//! Used by [`CpuVgg`](crate::vgg_cpu::CpuVgg) where the channel counts make the GEMMs, not the
//! transforms, the cost.
//!
//! Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A with the matrices below (F(4,3): the points 0, ±1, ±2, ∞
//! of the paper).

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::vgg_cpu::Grid;

/// Floats of transformed inputs + products per chunk (≈ 1 MiB, an L2 cache).
const CHUNK_FLOATS: usize = 256 * 1024;

/// The transform matrices of one F(M, 3), α = A = M + 2 (the tile sizes are const generics so
/// that the per-tile arrays live on the stack).
trait Tile<const M: usize, const A: usize> {
    /// Bᵀ, α×α.
    const BT: [[f32; A]; A];
    /// G, α×3.
    const G: [[f64; 3]; A];
    /// Aᵀ, m×α.
    const AT: [[f32; A]; M];
}

struct F2;
impl Tile<2, 4> for F2 {
    const BT: [[f32; 4]; 4] = [
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ];
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
}

struct F4;
impl Tile<4, 6> for F4 {
    const BT: [[f32; 6]; 6] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ];
    const G: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 6]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ];
}

/// `dst = Σ_k coef[k] · src(k)` over channel vectors, in one pass: the non-zero terms are
/// collected first, then a loop specialised to their number runs (it vectorises).
#[inline(always)]
fn combine<'a, const A: usize>(dst: &mut [f32], coef: &[f32; A], src: impl Fn(usize) -> &'a [f32]) {
    let c = dst.len();
    let mut t: [(f32, &[f32]); A] = [(0.0, &[]); A];
    let mut n = 0;
    for (k, &a) in coef.iter().enumerate() {
        if a != 0.0 {
            t[n] = (a, &src(k)[..c]);
            n += 1;
        }
    }
    match n {
        1 => {
            let (a0, s0) = t[0];
            for (d, x0) in dst.iter_mut().zip(s0) {
                *d = a0 * x0;
            }
        }
        2 => {
            let ((a0, s0), (a1, s1)) = (t[0], t[1]);
            for ((d, x0), x1) in dst.iter_mut().zip(s0).zip(s1) {
                *d = a0 * x0 + a1 * x1;
            }
        }
        3 => {
            let ((a0, s0), (a1, s1), (a2, s2)) = (t[0], t[1], t[2]);
            for (((d, x0), x1), x2) in dst.iter_mut().zip(s0).zip(s1).zip(s2) {
                *d = a0 * x0 + a1 * x1 + a2 * x2;
            }
        }
        4 => {
            let ((a0, s0), (a1, s1), (a2, s2), (a3, s3)) = (t[0], t[1], t[2], t[3]);
            for ((((d, x0), x1), x2), x3) in dst.iter_mut().zip(s0).zip(s1).zip(s2).zip(s3) {
                *d = a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
            }
        }
        _ => {
            dst.fill(0.0);
            for &(a, s) in &t[..n] {
                for (d, x) in dst.iter_mut().zip(s) {
                    *d += a * x;
                }
            }
        }
    }
}

/// A 3×3 kernel in the Winograd domain of F(m, 3): `u[ξ][ci][co]`, ξ = α·i + j.
#[derive(Clone, Debug)]
pub struct Winograd {
    m: usize,
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
    /// F(`m`×`m`, 3×3), m ∈ {2, 4}, from `k(co, ci, ky, kx)`, the cross-correlation kernel
    /// (PyTorch's conv2d weight).
    pub fn new(
        m: usize,
        c_in: usize,
        c_out: usize,
        k: impl Fn(usize, usize, usize, usize) -> f32,
    ) -> Self {
        let g: &[[f64; 3]] = match m {
            2 => &F2::G,
            4 => &F4::G,
            other => panic!("Winograd F({other}, 3) is not implemented (2 or 4)"),
        };
        let a = m + 2;
        let mut u = vec![0.0f32; a * a * c_in * c_out];
        for co in 0..c_out {
            for ci in 0..c_in {
                // G g Gᵀ in f64: (α×3)(3×3)(3×α).
                let mut gg = vec![[0.0f64; 3]; a];
                for (row, grow) in gg.iter_mut().zip(g) {
                    for (x, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|y| grow[y] * k(co, ci, y, x) as f64).sum();
                    }
                }
                for (i, row) in gg.iter().enumerate() {
                    for (j, gj) in g.iter().enumerate() {
                        let v: f64 = (0..3).map(|x| row[x] * gj[x]).sum();
                        u[((a * i + j) * c_in + ci) * c_out + co] = v as f32;
                    }
                }
            }
        }
        Self { m, c_in, c_out, u }
    }

    /// The 3×3 convolution (padding 1) of `x`'s interior; the result's padding is zero.
    pub fn conv(&self, x: &Grid) -> Grid {
        assert_eq!(x.c, self.c_in, "Winograd conv input channels");
        match self.m {
            2 => self.conv_tiles::<2, 4, F2>(x),
            4 => self.conv_tiles::<4, 6, F4>(x),
            other => unreachable!("F({other}, 3) rejected in new"),
        }
    }

    fn conv_tiles<const M: usize, const A: usize, T: Tile<M, A>>(&self, x: &Grid) -> Grid {
        let (n, h, w, ci, co) = (x.n, x.h, x.w, self.c_in, self.c_out);
        let tiles = n * h.div_ceil(M) * w.div_ceil(M);
        let chunk = (CHUNK_FLOATS / (A * A * (ci + co))).clamp(16, 512);
        let mut out = Grid::zeros(n, h, w, co);
        let out_ptr = OutPtr(out.data.as_mut_ptr());
        let out_geom = (out.n, out.h, out.w);
        (0..tiles.div_ceil(chunk)).into_par_iter().for_each_init(
            || {
                (
                    vec![0.0f32; A * A * chunk * ci],
                    vec![0.0f32; A * A * chunk * co],
                )
            },
            |(v, prod), c| {
                let first = c * chunk;
                let count = chunk.min(tiles - first);
                input_transform::<M, A, T>(x, first, count, chunk, v);
                for xi in 0..A * A {
                    // SAFETY: v holds [α²][chunk][ci], prod [α²][chunk][co], u [α²][ci][co].
                    unsafe {
                        gemm(
                            count,
                            co,
                            ci,
                            prod.as_mut_ptr().add(xi * chunk * co),
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
                output_transform::<M, A, T>(prod, first, count, chunk, co, out_geom, out_ptr);
            },
        );
        out
    }
}

/// Bᵀ d B of `count` tiles from tile `first` into `v` ([α²][chunk][C_in]), as fused passes
/// over whole channel vectors (NHWC).
fn input_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    x: &Grid,
    first: usize,
    count: usize,
    chunk: usize,
    v: &mut [f32],
) {
    let (h, w, c) = (x.h, x.w, x.c);
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let zeros = vec![0.0f32; c];
    let mut r = vec![0.0f32; A * A * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        // The α×α input block: padded rows M·ty .. M·ty+α−1, same for columns (zero beyond the
        // grid's one-pixel border at the last, partial tiles).
        let d: [[&[f32]; A]; A] = std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let (py, px) = (M * ty + i, M * tx + j);
                if py > h + 1 || px > w + 1 {
                    &zeros[..]
                } else {
                    let p = x.padded_at(img, py, px);
                    &x.data[p * c..(p + 1) * c]
                }
            })
        });
        // r = Bᵀ d: r[i][j] = Σ_k Bᵀ[i][k] d[k][j].
        for i in 0..A {
            for j in 0..A {
                combine(
                    &mut r[(A * i + j) * c..(A * i + j + 1) * c],
                    &T::BT[i],
                    |k| d[k][j],
                );
            }
        }
        // v = r B: v[i][j] = Σ_k r[i][k] Bᵀ[j][k].
        for i in 0..A {
            let row = &r[A * i * c..A * (i + 1) * c];
            for j in 0..A {
                let o = ((A * i + j) * chunk + tl) * c;
                combine(&mut v[o..o + c], &T::BT[j], |k| &row[k * c..(k + 1) * c]);
            }
        }
    }
}

/// Aᵀ M A of `count` tiles into the output grid's interior (clipped at the last tiles).
#[allow(clippy::too_many_arguments)]
fn output_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    prod: &[f32],
    first: usize,
    count: usize,
    chunk: usize,
    c: usize,
    (n, h, w): (usize, usize, usize),
    out: OutPtr,
) {
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let mut r = vec![0.0f32; M * A * c];
    let mut y = vec![0.0f32; M * M * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        debug_assert!(img < n);
        // M[k][j] = product ξ = α·k + j of this tile.
        let m: [[&[f32]; A]; A] = std::array::from_fn(|k| {
            std::array::from_fn(|j| {
                let xi = A * k + j;
                &prod[(xi * chunk + tl) * c..(xi * chunk + tl + 1) * c]
            })
        });
        // r = Aᵀ M: r[i][j] = Σ_k Aᵀ[i][k] M[k][j] (M×α).
        for i in 0..M {
            for j in 0..A {
                combine(
                    &mut r[(A * i + j) * c..(A * i + j + 1) * c],
                    &T::AT[i],
                    |k| m[k][j],
                );
            }
        }
        // y = r A: y[i][j] = Σ_k r[i][k] Aᵀ[j][k] (M×M).
        for i in 0..M {
            let row = &r[A * i * c..A * (i + 1) * c];
            for j in 0..M {
                combine(
                    &mut y[(M * i + j) * c..(M * i + j + 1) * c],
                    &T::AT[j],
                    |k| &row[k * c..(k + 1) * c],
                );
            }
        }
        for dy in 0..M {
            for dx in 0..M {
                let (oy, ox) = (M * ty + dy, M * tx + dx);
                if oy >= h || ox >= w {
                    continue;
                }
                let p = Grid::pixel_index(h, w, img, oy + 1, ox + 1);
                let src = &y[(M * dy + dx) * c..(M * dy + dx + 1) * c];
                // SAFETY: p is an interior pixel of the output grid, written by this tile only.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), out.0.add(p * c), c);
                }
            }
        }
    }
}
