//! Winograd convolution F(m×m, 3×3) for m = 2 and m = 4 (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016) on a zero-padded NHWC [`Grid`]: each m×m block of
//! outputs comes from an α×α block of inputs (α = m + 2) with α² multiplications per channel
//! pair instead of 9·m² (F(2,3): 16 for 36, F(4,3): 36 for 144). The α² products are α² GEMMs
//! `V_ξ · U_ξ` over the tiles, run chunk by chunk so that the transformed tiles stay in cache.
//! Used by the VGG of `cosmotok-losses` and by [`crate::flex_winograd`] (the tokenizer's
//! spatial convs), where the channel counts make the GEMMs, not the transforms, the cost.
//!
//! Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A with the matrices below (F(4,3): the points 0, ±1, ±2, ∞
//! of the paper). The data transforms are written out as 1-D formulas over whole channel
//! vectors (one vectorised pass per tile row or column); the kernel transform runs in f64.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::grid::Grid;

/// Floats of transformed inputs + products per chunk (≈ 1 MiB, an L2 cache).
const CHUNK_FLOATS: usize = 256 * 1024;

/// One F(M, 3), α = A = M + 2: its kernel matrix G and its two 1-D data transforms (the tile
/// sizes are const generics so that the per-tile arrays live on the stack).
trait Tile<const M: usize, const A: usize> {
    /// G, α×3.
    const G: [[f64; 3]; A];
    /// `out[i] = Σ_k Bᵀ[i][k] · d[k]` over channel vectors.
    fn input_1d(d: [&[f32]; A], out: [&mut [f32]; A]);
    /// `out[i] = Σ_k Aᵀ[i][k] · m[k]` over channel vectors.
    fn output_1d(m: [&[f32]; A], out: [&mut [f32]; M]);
}

struct F2;
impl Tile<2, 4> for F2 {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];

    /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
    #[inline(always)]
    fn input_1d(d: [&[f32]; 4], [o0, o1, o2, o3]: [&mut [f32]; 4]) {
        let c = o0.len();
        let [d0, d1, d2, d3] = d.map(|d| &d[..c]);
        let (o1, o2, o3) = (&mut o1[..c], &mut o2[..c], &mut o3[..c]);
        for k in 0..c {
            o0[k] = d0[k] - d2[k];
            o1[k] = d1[k] + d2[k];
            o2[k] = d2[k] - d1[k];
            o3[k] = d1[k] - d3[k];
        }
    }

    /// Aᵀ = [1 1 1 0; 0 1 −1 −1].
    #[inline(always)]
    fn output_1d(m: [&[f32]; 4], [o0, o1]: [&mut [f32]; 2]) {
        let c = o0.len();
        let [m0, m1, m2, m3] = m.map(|m| &m[..c]);
        let o1 = &mut o1[..c];
        for k in 0..c {
            o0[k] = m0[k] + m1[k] + m2[k];
            o1[k] = m1[k] - m2[k] - m3[k];
        }
    }
}

struct F4;
impl Tile<4, 6> for F4 {
    const G: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];

    /// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0;
    /// 0 4 0 −5 0 1].
    #[inline(always)]
    fn input_1d(d: [&[f32]; 6], [o0, o1, o2, o3, o4, o5]: [&mut [f32]; 6]) {
        let c = o0.len();
        let [d0, d1, d2, d3, d4, d5] = d.map(|d| &d[..c]);
        let (o1, o2, o3, o4, o5) = (
            &mut o1[..c],
            &mut o2[..c],
            &mut o3[..c],
            &mut o4[..c],
            &mut o5[..c],
        );
        for k in 0..c {
            let (a, b) = (d4[k] - 4.0 * d2[k], d3[k] - 4.0 * d1[k]);
            let (e, f) = (d4[k] - d2[k], 2.0 * (d3[k] - d1[k]));
            o0[k] = 4.0 * d0[k] - 5.0 * d2[k] + d4[k];
            o1[k] = a + b;
            o2[k] = a - b;
            o3[k] = e + f;
            o4[k] = e - f;
            o5[k] = 4.0 * d1[k] - 5.0 * d3[k] + d5[k];
        }
    }

    /// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
    #[inline(always)]
    fn output_1d(m: [&[f32]; 6], [o0, o1, o2, o3]: [&mut [f32]; 4]) {
        let c = o0.len();
        let [m0, m1, m2, m3, m4, m5] = m.map(|m| &m[..c]);
        let (o1, o2, o3) = (&mut o1[..c], &mut o2[..c], &mut o3[..c]);
        for k in 0..c {
            let (p, q) = (m1[k] + m2[k], m3[k] + m4[k]);
            let (r, s) = (m1[k] - m2[k], m3[k] - m4[k]);
            o0[k] = m0[k] + p + q;
            o1[k] = r + 2.0 * s;
            o2[k] = p + 4.0 * q;
            o3[k] = r + 8.0 * s + m5[k];
        }
    }
}

/// The `N` channel vectors `buf[i·stride..][..c]`, i < N.
#[inline(always)]
fn vectors<const N: usize>(buf: &[f32], stride: usize, c: usize) -> [&[f32]; N] {
    std::array::from_fn(|i| &buf[i * stride..i * stride + c])
}

/// The `N` disjoint channel vectors `buf[i·stride..][..c]`, i < N (stride ≥ c).
#[inline(always)]
fn vectors_mut<const N: usize>(buf: &mut [f32], stride: usize, c: usize) -> [&mut [f32]; N] {
    let mut rows = buf.chunks_mut(stride);
    std::array::from_fn(|_| &mut rows.next().expect("Winograd buffer too short")[..c])
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
        if m != 2 && m != 4 {
            panic!("Winograd F({m}, 3) is not implemented (2 or 4)");
        }
        let (a, pairs) = (m + 2, c_in * c_out);
        // The nine kernel taps as planes [ky·3 + kx][ci][co].
        let mut taps = vec![0.0f64; 9 * pairs];
        for ci in 0..c_in {
            for co in 0..c_out {
                for t in 0..9 {
                    taps[t * pairs + ci * c_out + co] = k(co, ci, t / 3, t % 3) as f64;
                }
            }
        }
        let mut u = vec![0.0f32; a * a * pairs];
        match m {
            2 => simd::kernel_transform::<2, 4, F2>(&taps, &mut u),
            _ => simd::kernel_transform::<4, 6, F4>(&taps, &mut u),
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
                simd::input_transform::<M, A, T>(x, first, count, chunk, v);
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
                simd::output_transform::<M, A, T>(prod, first, count, chunk, co, out_geom, out_ptr);
            },
        );
        out
    }
}

/// `u[ξ] = (G g Gᵀ)[i][j] = Σ_{y,x} G[i][y] G[j][x] g[y][x]` for every channel pair, ξ = α·i + j:
/// per ξ a combination of the nine tap planes (`taps`, [9][pairs]; zero coefficients skipped),
/// summed in f64.
#[inline(always)]
fn kernel_transform<const M: usize, const A: usize, T: Tile<M, A>>(taps: &[f64], u: &mut [f32]) {
    let pairs = taps.len() / 9;
    let mut acc = vec![0.0f64; pairs];
    for (xi, dst) in u.chunks_exact_mut(pairs).enumerate() {
        let (gi, gj) = (T::G[xi / A], T::G[xi % A]);
        acc.fill(0.0);
        for (t, plane) in taps.chunks_exact(pairs).enumerate() {
            let coef = gi[t / 3] * gj[t % 3];
            if coef != 0.0 {
                for (s, v) in acc.iter_mut().zip(plane) {
                    *s += coef * v;
                }
            }
        }
        for (d, s) in dst.iter_mut().zip(&acc) {
            *d = *s as f32;
        }
    }
}

/// Bᵀ d B of `count` tiles from tile `first` into `v` ([α²][chunk][C_in]): per tile, α column
/// passes and α row passes over whole channel vectors (NHWC).
#[inline(always)]
fn input_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    x: &Grid,
    first: usize,
    count: usize,
    chunk: usize,
    v: &mut [f32],
) {
    let (h, w, c) = (x.h, x.w, x.c);
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let row_stride = (w + 2) * c;
    let mut patch = vec![0.0f32; A * A * c];
    let mut r = vec![0.0f32; A * A * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        // The α×α input block: padded rows M·ty .. M·ty+α−1, same for columns. Inside the
        // padded image it is read in place; the last, partial tiles copy it, zero beyond.
        let (src, stride): (&[f32], usize) = if M * ty + A <= h + 2 && M * tx + A <= w + 2 {
            (&x.data[x.padded_at(img, M * ty, M * tx) * c..], row_stride)
        } else {
            for i in 0..A {
                for j in 0..A {
                    let (py, px) = (M * ty + i, M * tx + j);
                    let d = &mut patch[(A * i + j) * c..][..c];
                    if py > h + 1 || px > w + 1 {
                        d.fill(0.0);
                    } else {
                        d.copy_from_slice(&x.data[x.padded_at(img, py, px) * c..][..c]);
                    }
                }
            }
            (&patch[..], A * c)
        };
        // r = Bᵀ d, column by column: r[i][j] = Σ_k Bᵀ[i][k] d[k][j].
        for j in 0..A {
            T::input_1d(
                vectors(&src[j * c..], stride, c),
                vectors_mut(&mut r[j * c..], A * c, c),
            );
        }
        // v = r B, row by row: v[i][j] = Σ_k r[i][k] Bᵀ[j][k].
        for i in 0..A {
            T::input_1d(
                vectors(&r[A * i * c..], c, c),
                vectors_mut(&mut v[(A * i * chunk + tl) * c..], chunk * c, c),
            );
        }
    }
}

/// Aᵀ M A of `count` tiles into the output grid's interior (clipped at the last tiles).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
        // r = Aᵀ M, column by column (M×α); product ξ = α·k + j of this tile is M[k][j].
        for j in 0..A {
            T::output_1d(
                vectors(&prod[(j * chunk + tl) * c..], A * chunk * c, c),
                vectors_mut(&mut r[j * c..], A * c, c),
            );
        }
        // y = r A, row by row (M×M).
        for i in 0..M {
            T::output_1d(
                vectors(&r[A * i * c..], c, c),
                vectors_mut(&mut y[M * i * c..], c, c),
            );
        }
        for dy in 0..M {
            let oy = M * ty + dy;
            if oy >= h {
                break;
            }
            let ox = M * tx;
            let run = M.min(w - ox);
            let p = Grid::pixel_index(h, w, img, oy + 1, ox + 1);
            // SAFETY: pixels p .. p+run are interior pixels of the output grid's row oy,
            // written by this tile only.
            unsafe {
                std::ptr::copy_nonoverlapping(y[M * dy * c..].as_ptr(), out.0.add(p * c), run * c);
            }
        }
    }
}

/// The transforms compiled for AVX-512 or AVX2 + FMA, chosen at run time (the crate itself is
/// built for baseline x86-64, whose 4-wide SSE vectors would leave them 2–4× slower).
mod simd {
    use super::{Grid, OutPtr, Tile};

    macro_rules! dispatch {
        ($name:ident ( $($arg:ident : $ty:ty),* )) => {
            pub(super) fn $name<const M: usize, const A: usize, T: Tile<M, A>>($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f")]
                    unsafe fn avx512<const M: usize, const A: usize, T: Tile<M, A>>($($arg: $ty),*) {
                        super::$name::<M, A, T>($($arg),*)
                    }
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn avx2<const M: usize, const A: usize, T: Tile<M, A>>($($arg: $ty),*) {
                        super::$name::<M, A, T>($($arg),*)
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F.
                        return unsafe { avx512::<M, A, T>($($arg),*) };
                    }
                    if std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                    {
                        // SAFETY: the CPU has AVX2 and FMA.
                        return unsafe { avx2::<M, A, T>($($arg),*) };
                    }
                }
                super::$name::<M, A, T>($($arg),*)
            }
        };
    }

    dispatch!(kernel_transform(taps: &[f64], u: &mut [f32]));
    dispatch!(input_transform(x: &Grid, first: usize, count: usize, chunk: usize, v: &mut [f32]));
    dispatch!(output_transform(
        prod: &[f32],
        first: usize,
        count: usize,
        chunk: usize,
        c: usize,
        geom: (usize, usize, usize),
        out: OutPtr
    ));
}
