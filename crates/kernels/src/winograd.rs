//! Winograd convolution F(m×m, 3×3) for m = 2 and m = 4 (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016) on a zero-padded NHWC [`PaddedNhwc`]: each m×m block of
//! outputs comes from an α×α block of inputs (α = m + 2) with α² multiplications per channel
//! pair instead of 9·m² (F(2,3): 16 for 36, F(4,3): 36 for 144). The α² products are α² GEMMs
//! `V_ξ · U_ξ` over the tiles, run chunk by chunk so that the transformed tiles stay in cache,
//! or, for wide layers on few tiles, once over all tiles so that U is read once ([`Plan`]). The
//! output transform can apply a bias + ReLU or a ReLU mask as it writes ([`Epilogue`]).
//! Used by the VGG of `cosmotok-losses` and by [`crate::flex_winograd`] (the tokenizer's
//! spatial convs), where the channel counts make the GEMMs, not the transforms, the cost.
//!
//! Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A with the matrices below (F(4,3): the points 0, ±1, ±2, ∞
//! of the paper). The data transforms are written out as 1-D formulas over whole channel
//! vectors (one vectorised pass per tile row or column); the kernel transform runs in f64.

use rayon::prelude::*;

use crate::flex_host::{SharedMut, matmul};
use crate::padded_nhwc::PaddedNhwc;

/// Floats of transformed inputs + products per chunk (≈ 1 MiB, an L2 cache).
const CHUNK_FLOATS: usize = 256 * 1024;

/// One F(M, 3), α = A = M + 2: its kernel matrix G and its two 1-D data transforms, written
/// out as the paper's formulas (the tile sizes are const generics so that the per-tile arrays
/// live on the stack).
trait Tile<const M: usize, const A: usize> {
    /// G, α×3.
    const G: [[f64; 3]; A];
    /// Bᵀ d.
    fn input_1d(d: [f32; A]) -> [f32; A];
    /// Aᵀ m.
    fn output_1d(m: [f32; A]) -> [f32; M];

    /// A z: the output gradient's 1-D transform (the transpose of [`output_1d`](Self::output_1d)).
    fn grad_1d(z: [f32; M]) -> [f32; A];

    /// G g, summed in f64.
    #[inline(always)]
    fn kernel_1d(g: [f32; 3]) -> [f32; A] {
        std::array::from_fn(|i| {
            let r = Self::G[i];
            (r[0] * g[0] as f64 + r[1] * g[1] as f64 + r[2] * g[2] as f64) as f32
        })
    }

    /// Gᵀ m, summed in f64: the kernel gradient's 1-D transform back from the α points.
    #[inline(always)]
    fn kernel_grad_1d(m: [f32; A]) -> [f32; 3] {
        // Plain loops (an iterator sum here is not inlined into the lane loop of `apply`).
        let mut sum = [0.0f64; 3];
        for (row, &v) in Self::G.iter().zip(&m) {
            for k in 0..3 {
                sum[k] += row[k] * v as f64;
            }
        }
        sum.map(|s| s as f32)
    }
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
    fn input_1d([d0, d1, d2, d3]: [f32; 4]) -> [f32; 4] {
        [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
    }

    /// Aᵀ = [1 1 1 0; 0 1 −1 −1].
    #[inline(always)]
    fn output_1d([m0, m1, m2, m3]: [f32; 4]) -> [f32; 2] {
        [m0 + m1 + m2, m1 - m2 - m3]
    }

    #[inline(always)]
    fn grad_1d([z0, z1]: [f32; 2]) -> [f32; 4] {
        [z0, z0 + z1, z0 - z1, -z1]
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
    fn input_1d([d0, d1, d2, d3, d4, d5]: [f32; 6]) -> [f32; 6] {
        let (a, b) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
        let (e, f) = (d4 - d2, 2.0 * (d3 - d1));
        [
            4.0 * d0 - 5.0 * d2 + d4,
            a + b,
            a - b,
            e + f,
            e - f,
            4.0 * d1 - 5.0 * d3 + d5,
        ]
    }

    /// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
    #[inline(always)]
    fn output_1d([m0, m1, m2, m3, m4, m5]: [f32; 6]) -> [f32; 4] {
        let (p, q) = (m1 + m2, m3 + m4);
        let (r, s) = (m1 - m2, m3 - m4);
        [m0 + p + q, r + 2.0 * s, p + 4.0 * q, r + 8.0 * s + m5]
    }

    #[inline(always)]
    fn grad_1d([z0, z1, z2, z3]: [f32; 4]) -> [f32; 6] {
        let (e, o) = (z0 + 4.0 * z2, z1 + 4.0 * z3);
        let (e1, o1) = (z0 + z2, z1 + z3);
        [z0, e1 + o1, e1 - o1, e + 2.0 * o, e - 2.0 * o, z3]
    }
}

/// Lanes per block of [`apply`]: one AVX-512 vector.
const LANES: usize = 16;

/// `dst[o][k] = f(src[·][k])[o]` for every element k of the `len`-long vectors
/// `src[i] = src_buf[i·src_stride..]` and `dst[o] = dst_buf[o·dst_stride..]`. Blocks of
/// [`LANES`] elements are copied into local arrays first: the compiler cannot tell that the
/// vectors do not overlap, and would not vectorise a loop over the buffers themselves.
#[inline(always)]
fn apply<const I: usize, const O: usize>(
    (src_buf, src_stride): (&[f32], usize),
    (dst_buf, dst_stride): (&mut [f32], usize),
    len: usize,
    f: impl Fn([f32; I]) -> [f32; O],
) {
    assert!(
        src_buf.len() >= (I - 1) * src_stride + len,
        "Winograd source too short"
    );
    assert!(
        dst_buf.len() >= (O - 1) * dst_stride + len,
        "Winograd destination too short"
    );
    let block = |inp: [[f32; LANES]; I]| {
        let mut out = [[0.0f32; LANES]; O];
        for l in 0..LANES {
            let r = f(std::array::from_fn(|i| inp[i][l]));
            for o in 0..O {
                out[o][l] = r[o];
            }
        }
        out
    };
    let full = len / LANES * LANES;
    for k in (0..full).step_by(LANES) {
        // Fixed-size copies: one vector load or store each.
        let inp = std::array::from_fn(|i| {
            <[f32; LANES]>::try_from(&src_buf[i * src_stride + k..][..LANES]).unwrap()
        });
        for (o, lanes) in block(inp).iter().enumerate() {
            dst_buf[o * dst_stride + k..][..LANES].copy_from_slice(lanes);
        }
    }
    let n = len - full;
    if n > 0 {
        let mut inp = [[0.0f32; LANES]; I];
        for (i, lanes) in inp.iter_mut().enumerate() {
            lanes[..n].copy_from_slice(&src_buf[i * src_stride + full..][..n]);
        }
        for (o, lanes) in block(inp).iter().enumerate() {
            dst_buf[o * dst_stride + full..][..n].copy_from_slice(&lanes[..n]);
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
    plan: Plan,
}

/// How [`Winograd::conv`] orders its work. Both plans compute the same products and sums; only
/// the GEMMs' blocking of the sums may differ (rounding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plan {
    /// By the layer's shape: [`WholeLayer`](Plan::WholeLayer) for wide layers (more than
    /// 2^15 channel pairs, e.g. 256 → 256) whose transformed tiles fit in 16 MiB, else
    /// [`Chunks`](Plan::Chunks). Measured on the VGG-16 layers of a 17-frame 64×64 clip: the
    /// 8×8 512-channel layers take half the time as whole layers; narrower layers take longer
    /// (128 → 256 and 128 → 128 channels, and a released tokenizer's 128-channel 64×64 layer,
    /// 12–40 %; 64 → 64 on 4352 tiles 4×). See `examples/bench_winograd_plans.rs`.
    #[default]
    Auto,
    /// L2-sized chunks of tiles, each taken through the input transform, its α² GEMMs and the
    /// output transform while it is in cache. Each chunk's GEMMs read all of U.
    Chunks,
    /// All tiles through the input transform, then one GEMM per point over all of them (U read
    /// once), then the output transform.
    WholeLayer,
}

impl Winograd {
    /// F(`m`×`m`, 3×3), m ∈ {2, 4}, from `k(co, ci, ky, kx)`, the cross-correlation kernel
    /// (PyTorch's conv2d weight).
    pub fn new(
        m: usize,
        c_in: usize,
        c_out: usize,
        k: impl Fn(usize, usize, usize, usize) -> f32 + Sync,
    ) -> Self {
        Self::from_tap_rows(m, c_in, c_out, |ci, g| {
            for co in 0..c_out {
                for t in 0..9 {
                    g[t * c_out + co] = k(co, ci, t / 3, t % 3);
                }
            }
        })
    }

    /// [`new`](Self::new) with the kernel given per input channel: `rows(ci, g)` fills
    /// `g[(ky·3 + kx)·c_out + co]` with tap (ky, kx) of output channel co.
    pub fn from_tap_rows(
        m: usize,
        c_in: usize,
        c_out: usize,
        rows: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Self {
        if m != 2 && m != 4 {
            panic!("Winograd F({m}, 3) is not implemented (2 or 4)");
        }
        let (a, pairs) = (m + 2, c_in * c_out);
        let mut u = vec![0.0f32; a * a * pairs];
        let dst = SharedMut(u.as_mut_ptr());
        // One task per input channel: its nine tap rows g[ky·3 + kx][co], transformed into
        // α² rows of C_out, which go to u[ξ][ci][..].
        (0..c_in).into_par_iter().for_each_init(
            || {
                (
                    vec![0.0f32; 9 * c_out],
                    vec![0.0f32; 3 * a * c_out],
                    vec![0.0f32; a * a * c_out],
                )
            },
            |(g, gk, out), ci| {
                rows(ci, g);
                match m {
                    2 => simd::kernel_transform::<2, 4, F2>(g, gk, out, c_out),
                    _ => simd::kernel_transform::<4, 6, F4>(g, gk, out, c_out),
                }
                for (xi, row) in out.chunks_exact(c_out).enumerate() {
                    // SAFETY: u[ξ][ci][..] is inside u and written by this task (ci) only.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            row.as_ptr(),
                            dst.at((xi * c_in + ci) * c_out),
                            c_out,
                        );
                    }
                }
            },
        );
        Self {
            m,
            c_in,
            c_out,
            u,
            plan: Plan::Auto,
        }
    }

    /// Whether [`conv`](Self::conv) of `x` runs as one whole layer (see [`Plan`]).
    pub fn whole_layer(&self, x: &PaddedNhwc) -> bool {
        let (a, pairs) = (self.m + 2, self.c_in * self.c_out);
        let tiles = x.n * x.h.div_ceil(self.m) * x.w.div_ceil(self.m);
        match self.plan {
            Plan::Chunks => false,
            Plan::WholeLayer => true,
            Plan::Auto => {
                pairs > WHOLE_MIN_PAIRS
                    && a * a * tiles * self.c_in.max(self.c_out) <= WHOLE_MAX_FLOATS
            }
        }
    }

    /// The same kernel with its work ordered by `plan`.
    pub fn with_plan(self, plan: Plan) -> Self {
        Self { plan, ..self }
    }

    /// The 3×3 convolution (padding 1) of `x`'s interior; the result's padding is zero.
    pub fn conv(&self, x: &PaddedNhwc) -> PaddedNhwc {
        self.conv_then(x, Epilogue::None)
    }

    /// [`conv`](Self::conv) with `epilogue` applied to each output value as it is written.
    pub fn conv_then(&self, x: &PaddedNhwc, epilogue: Epilogue) -> PaddedNhwc {
        match epilogue {
            Epilogue::BiasRelu(bias) => {
                assert_eq!(bias.len(), self.c_out, "Winograd conv bias length")
            }
            Epilogue::Mask(mask) => assert!(
                (mask.n, mask.h, mask.w, mask.c) == (x.n, x.h, x.w, self.c_out),
                "Winograd conv mask: {}×{}×{}×{} grid for a {}×{}×{}×{} output",
                mask.n,
                mask.h,
                mask.w,
                mask.c,
                x.n,
                x.h,
                x.w,
                self.c_out
            ),
            Epilogue::None => {}
        }
        // SAFETY: the output transform writes every interior value of the output (each tile
        // its clipped M×M pixels of every channel, the tiles covering every image).
        unsafe {
            PaddedNhwc::with_interior(x.n, x.h, x.w, self.c_out, |out| {
                self.run(x, Sink::PaddedNhwc(out, epilogue))
            })
        }
    }

    /// The same convolution written as `[N, C_out, T, H, W]` (the grid's image `n·T + t` is
    /// frame t of batch element n), `bias[co]` added: the layout of burn's conv3d output.
    pub fn conv_ncdhw(&self, x: &PaddedNhwc, frames: usize, bias: Option<&[f32]>) -> Vec<f32> {
        assert!(
            frames > 0 && x.n.is_multiple_of(frames),
            "{} images are not whole clips of {frames} frames",
            x.n
        );
        if let Some(bias) = bias {
            assert_eq!(bias.len(), self.c_out, "Winograd conv bias length");
        }
        // Every output value belongs to one tile, whose output transform writes it: the buffer
        // is not zeroed first.
        let len = x.n * self.c_out * x.h * x.w;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let sink = Sink::Ncdhw(SharedMut(out.as_mut_ptr()), frames, bias);
        self.run(x, sink);
        // SAFETY: `run` wrote all `len` values (each tile its clipped M×M pixels of every
        // channel, the tiles covering every image).
        unsafe { out.set_len(len) };
        out
    }

    fn run(&self, x: &PaddedNhwc, sink: Sink) {
        assert_eq!(x.c, self.c_in, "Winograd conv input channels");
        match self.m {
            2 => self.conv_tiles::<2, 4, F2>(x, sink),
            4 => self.conv_tiles::<4, 6, F4>(x, sink),
            other => unreachable!("F({other}, 3) rejected in new"),
        }
    }

    fn conv_tiles<const M: usize, const A: usize, T: Tile<M, A>>(
        &self,
        x: &PaddedNhwc,
        sink: Sink,
    ) {
        let (n, h, w, ci, co) = (x.n, x.h, x.w, self.c_in, self.c_out);
        let tiles = n * h.div_ceil(M) * w.div_ceil(M);
        if self.whole_layer(x) {
            return self.conv_whole::<M, A, T>(x, sink, tiles);
        }
        // Chunks fit in L2, and there are at least two per thread where the tiles allow.
        let chunk = (CHUNK_FLOATS / (A * A * (ci + co)))
            .min(tiles.div_ceil(2 * rayon::current_num_threads()))
            .clamp(16, 512);
        let geom = Geometry { n, h, w, c: co };
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
                simd::input_transform::<M, A, T>(x, first, count, Planes::by_point(chunk, ci), v);
                for xi in 0..A * A {
                    // SAFETY: v holds [α²][chunk][ci], prod [α²][chunk][co], u [α²][ci][co].
                    unsafe {
                        matmul(
                            [count, co, ci],
                            (prod.as_mut_ptr().add(xi * chunk * co), 1, co),
                            (v.as_ptr().add(xi * chunk * ci), 1, ci),
                            (self.u.as_ptr().add(xi * ci * co), 1, co),
                            false,
                        );
                    }
                }
                simd::output_transform::<M, A, T>(
                    prod,
                    first,
                    count,
                    Planes::by_point(chunk, co),
                    geom,
                    sink,
                );
            },
        );
    }

    /// [`conv_tiles`](Self::conv_tiles) for wide layers on few tiles: all tiles are transformed
    /// first (tile-major, [tile][ξ][c]), then each point's GEMM runs once over all of them (one
    /// task per ξ), then the output transform. An L2-sized chunk of such a layer would hold a
    /// handful of tiles, and each chunk's α² GEMMs would stream the whole kernel U again.
    fn conv_whole<const M: usize, const A: usize, T: Tile<M, A>>(
        &self,
        x: &PaddedNhwc,
        sink: Sink,
        tiles: usize,
    ) {
        let (ci, co, points) = (self.c_in, self.c_out, A * A);
        let (v_planes, p_planes) = (Planes::by_tile(points, ci), Planes::by_tile(points, co));
        let mut v: Vec<f32> = Vec::with_capacity(tiles * points * ci);
        let mut prod: Vec<f32> = Vec::with_capacity(tiles * points * co);
        let (vp, pp) = (SharedMut(v.as_mut_ptr()), SharedMut(prod.as_mut_ptr()));
        let tasks = tiles.div_ceil(TASK_TILES);
        (0..tasks).into_par_iter().for_each(|task| {
            let start = task * TASK_TILES;
            let n = TASK_TILES.min(tiles - start);
            // SAFETY: tiles start .. start + n: this task's block of v, inside its capacity.
            let v = unsafe { vp.zeroed(start * points * ci, n * points * ci) };
            simd::input_transform::<M, A, T>(x, start, n, v_planes, v);
        });
        // SAFETY: the tasks above wrote every tile's block.
        unsafe { v.set_len(tiles * points * ci) };
        (0..points).into_par_iter().for_each(|xi| {
            // SAFETY: P_ξ [tiles, c_out] (row stride α²·c_out) is written by this task only,
            // inside prod's capacity; V_ξ [tiles, c_in] (row stride α²·c_in) and U_ξ
            // [c_in, c_out] are inside v and u.
            unsafe {
                matmul(
                    [tiles, co, ci],
                    (pp.at(xi * co), 1, points * co),
                    (v.as_ptr().add(xi * ci), 1, points * ci),
                    (self.u.as_ptr().add(xi * ci * co), 1, co),
                    false,
                );
            }
        });
        // SAFETY: the GEMMs wrote every point of every tile.
        unsafe { prod.set_len(tiles * points * co) };
        let geom = Geometry {
            n: x.n,
            h: x.h,
            w: x.w,
            c: co,
        };
        (0..tasks).into_par_iter().for_each(|task| {
            let start = task * TASK_TILES;
            let n = TASK_TILES.min(tiles - start);
            simd::output_transform::<M, A, T>(
                &prod[start * points * co..],
                start,
                n,
                p_planes,
                geom,
                sink,
            );
        });
    }
}

/// [`Winograd::conv`] transforms all tiles before its GEMMs for more channel pairs than this …
const WHOLE_MIN_PAIRS: usize = 1 << 15;
/// … when the transformed tiles (or the products) take at most this many floats (16 MiB).
const WHOLE_MAX_FLOATS: usize = 1 << 22;
/// Tiles per transform task of the whole-layer path and the weight gradient.
const TASK_TILES: usize = 8;

/// Floats of transformed tiles per weight-gradient chunk (4 MiB, about an L3 slice; measured
/// faster than 1 or 16 MiB on large layers): bounds the transient memory too. The tokenizer's
/// small layers are one chunk.
const GRAD_CHUNK_FLOATS: usize = 1 << 20;
/// Channel pairs per task of the weight gradient's back-transform.
const PAIR_BLOCK: usize = 4096;

/// dL/dk of the 3×3 convolution (padding 1) of `x` for the output gradient `dy` (a grid of the
/// output's images): `[c_out][c_in][3][3]`, PyTorch's weight layout.
///
/// The transpose of the forward algorithm: with `z` an m×m block of dy and `d` the α×α input
/// block under it, a tile adds `Gᵀ [(A z Aᵀ) ⊙ (Bᵀ d B)] G` to the 3×3 kernel gradient of each
/// channel pair (α² multiplications instead of 9·m²). The sum over tiles is α² GEMMs
/// `Zᵀ_ξ · V_ξ`, one task per ξ over fixed chunks of tiles, so the result does not depend on
/// the number of threads.
pub fn weight_grad(m: usize, x: &PaddedNhwc, dy: &PaddedNhwc) -> Vec<f32> {
    assert!(
        x.n == dy.n && x.h == dy.h && x.w == dy.w,
        "Winograd weight gradient: input {}×{}×{} and output gradient {}×{}×{} images differ",
        x.n,
        x.h,
        x.w,
        dy.n,
        dy.h,
        dy.w
    );
    match m {
        2 => weight_grad_tiles::<2, 4, F2>(x, dy),
        4 => weight_grad_tiles::<4, 6, F4>(x, dy),
        other => panic!("Winograd F({other}, 3) is not implemented (2 or 4)"),
    }
}

fn weight_grad_tiles<const M: usize, const A: usize, T: Tile<M, A>>(
    x: &PaddedNhwc,
    dy: &PaddedNhwc,
) -> Vec<f32> {
    let (ci, co) = (x.c, dy.c);
    let (points, pairs) = (A * A, ci * co);
    let tiles = x.n * x.h.div_ceil(M) * x.w.div_ceil(M);
    assert!(tiles > 0, "Winograd weight gradient of empty images");
    let chunk = (GRAD_CHUNK_FLOATS / (points * (ci + co)))
        .max(TASK_TILES)
        .min(tiles);
    // Tile by tile: [tile][ξ][c].
    let (v_planes, z_planes) = (Planes::by_tile(points, ci), Planes::by_tile(points, co));
    // The transform buffers and the accumulator are not zeroed up front: each transform task
    // zeroes its own block just before writing it (in cache), and the first chunk's GEMMs
    // overwrite the accumulator.
    let mut v: Vec<f32> = Vec::with_capacity(chunk * points * ci);
    let mut z: Vec<f32> = Vec::with_capacity(chunk * points * co);
    let (vp, zp) = (SharedMut(v.as_mut_ptr()), SharedMut(z.as_mut_ptr()));
    // Σ_tiles Zᵀ_ξ V_ξ: [ξ][c_out][c_in].
    let mut acc: Vec<f32> = Vec::with_capacity(points * pairs);
    let accp = SharedMut(acc.as_mut_ptr());
    for first in (0..tiles).step_by(chunk) {
        let count = chunk.min(tiles - first);
        (0..count.div_ceil(TASK_TILES))
            .into_par_iter()
            .for_each(|task| {
                let start = task * TASK_TILES;
                let n = TASK_TILES.min(count - start);
                // SAFETY: tiles start .. start + n of the chunk: this task's blocks of v and z,
                // inside their capacities.
                let (v, z) = unsafe {
                    (
                        vp.zeroed(start * points * ci, n * points * ci),
                        zp.zeroed(start * points * co, n * points * co),
                    )
                };
                simd::input_transform::<M, A, T>(x, first + start, n, v_planes, v);
                simd::grad_transform::<M, A, T>(dy, first + start, n, z_planes, z);
            });
        (0..points).into_par_iter().for_each(|xi| {
            // SAFETY: acc_ξ is [c_out][c_in] inside acc's capacity, written by this task only;
            // Zᵀ_ξ is [c_out, count] with column stride α²·c_out (one tile per column) and V_ξ
            // [count, c_in] with row stride α²·c_in, both inside the first `count` tiles of z
            // and v, which the tasks above wrote.
            unsafe {
                matmul(
                    [co, ci, count],
                    (accp.at(xi * pairs), 1, ci),
                    (zp.at(xi * co), points * co, 1),
                    (vp.at(xi * ci), 1, points * ci),
                    first > 0,
                );
            }
        });
    }
    // SAFETY: the first chunk's GEMMs wrote every element of acc (there is at least one tile).
    unsafe { acc.set_len(points * pairs) };
    // Back to the nine taps, pair block by pair block: [pair][ky·3 + kx].
    let mut dk = vec![0.0f32; pairs * 9];
    dk.par_chunks_mut(PAIR_BLOCK * 9)
        .enumerate()
        .for_each(|(b, dst)| {
            let (p0, len) = (b * PAIR_BLOCK, dst.len() / 9);
            let mut t = vec![0.0f32; A * 3 * len];
            let mut out = vec![0.0f32; 9 * len];
            simd::kernel_grad_transform::<M, A, T>(&acc[p0..], pairs, &mut t, &mut out, len);
            for (p, taps) in dst.chunks_exact_mut(9).enumerate() {
                for (tap, d) in taps.iter_mut().enumerate() {
                    *d = out[tap * len + p];
                }
            }
        });
    dk
}

/// The output's image geometry: `n` images of `h`×`w` pixels, `c` channels.
#[derive(Clone, Copy)]
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
}

/// What [`Winograd::conv_then`] does to each output value `y` of channel `ch` at grid pixel
/// `p` as it writes it (fused into the output transform, instead of a pass of its own).
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// `y`.
    None,
    /// `max(y + bias[ch], 0)`: a conv + bias + ReLU layer.
    BiasRelu(&'a [f32]),
    /// `y` where `mask` (a grid of the output's geometry) is positive at (p, ch), else 0: the
    /// gradient through the ReLU whose output `mask` is.
    Mask(&'a PaddedNhwc),
}

/// Where the output tiles go (each chunk writes its own tiles' pixels only).
#[derive(Clone, Copy)]
enum Sink<'a> {
    /// The interior of a grid of the output's geometry, through the epilogue.
    PaddedNhwc(SharedMut, Epilogue<'a>),
    /// `[N, C, T, H, W]` with T frames per clip, plus the bias.
    Ncdhw(SharedMut, usize, Option<&'a [f32]>),
}

/// `u = G g Gᵀ` of the 3×3 kernels of one input channel and all `c` output channels:
/// `g` [ky·3 + kx][c] → `rows` [ξ = α·i + j][c], by the 1-D transform `G·` down the kernel
/// columns into `gk` ([α][3][c]), then along its rows. Each 1-D step sums in f64, rounded to
/// f32 once per step.
#[inline(always)]
fn kernel_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    g: &[f32],
    gk: &mut [f32],
    rows: &mut [f32],
    c: usize,
) {
    // gk[i][kx] = Σ_ky G[i][ky] g[ky][kx]: per kernel column kx, rows ky at stride 3c.
    for kx in 0..3 {
        apply(
            (&g[kx * c..], 3 * c),
            (&mut gk[kx * c..], 3 * c),
            c,
            T::kernel_1d,
        );
    }
    // rows[i][j] = Σ_kx gk[i][kx] G[j][kx].
    for i in 0..A {
        apply(
            (&gk[3 * i * c..], c),
            (&mut rows[A * i * c..], c),
            c,
            T::kernel_1d,
        );
    }
}

/// Where transformed tiles go: point ξ of the `tl`-th tile at `ξ·xi + tl·tile` floats.
#[derive(Clone, Copy)]
struct Planes {
    xi: usize,
    tile: usize,
}

impl Planes {
    /// [α²][chunk][c]: a plane per point (the forward pass's GEMM operands).
    fn by_point(chunk: usize, c: usize) -> Self {
        Self {
            xi: chunk * c,
            tile: c,
        }
    }

    /// [tile][α²][c]: a block per tile (written by disjoint tasks).
    fn by_tile(points: usize, c: usize) -> Self {
        Self {
            xi: c,
            tile: points * c,
        }
    }
}

/// Bᵀ d B of `count` tiles from tile `first` into `v` (laid out as `planes` says): per tile, α
/// column passes and α row passes over whole channel vectors (NHWC).
#[inline(always)]
fn input_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    x: &PaddedNhwc,
    first: usize,
    count: usize,
    planes: Planes,
    v: &mut [f32],
) {
    let (h, w, c) = (x.h, x.w, x.c);
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let mut patch = vec![0.0f32; A * A * c];
    let mut r = vec![0.0f32; A * A * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        // The α×α input block: padded rows M·ty .. M·ty+α−1, same for columns. Inside the
        // padded image it is read in place; the last, partial tiles copy it, zero beyond.
        let (src, stride) = x.block(&mut patch, img, (M * ty, M * tx), A);
        // r = Bᵀ d: r[i][·] = Σ_k Bᵀ[i][k] d[k][·], over whole rows of α pixels.
        apply((src, stride), (&mut r, A * c), A * c, T::input_1d);
        // v = r B, row by row: v[i][j] = Σ_k r[i][k] Bᵀ[j][k].
        for i in 0..A {
            apply(
                (&r[A * i * c..], c),
                (&mut v[A * i * planes.xi + tl * planes.tile..], planes.xi),
                c,
                T::input_1d,
            );
        }
    }
}

/// A z Aᵀ of the M×M output-gradient blocks of `count` tiles from tile `first` (zeros beyond
/// the image) into `z` (laid out as `planes` says): the transpose of [`output_transform`].
#[inline(always)]
fn grad_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    dy: &PaddedNhwc,
    first: usize,
    count: usize,
    planes: Planes,
    z: &mut [f32],
) {
    let (h, w, c) = (dy.h, dy.w, dy.c);
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let mut patch = vec![0.0f32; M * M * c];
    let mut r = vec![0.0f32; A * M * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        // Interior pixel (y, x) is padded pixel (y + 1, x + 1); beyond the image, zeros.
        let (src, stride) = dy.block(&mut patch, img, (M * ty + 1, M * tx + 1), M);
        // r = A z over whole rows of M pixels (α×M), then each row times Aᵀ.
        apply((src, stride), (&mut r, M * c), M * c, T::grad_1d);
        for i in 0..A {
            apply(
                (&r[M * i * c..], c),
                (&mut z[A * i * planes.xi + tl * planes.tile..], planes.xi),
                c,
                T::grad_1d,
            );
        }
    }
}

/// Gᵀ m G of `len` channel pairs: `m` [ξ][pairs] (planes `stride` apart) → `out`
/// [ky·3 + kx][len], through `t` ([α][3][len]).
#[inline(always)]
fn kernel_grad_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    m: &[f32],
    stride: usize,
    t: &mut [f32],
    out: &mut [f32],
    len: usize,
) {
    // t[i][kx] = Σ_j m[i][j] G[j][kx]; out[ky][kx] = Σ_i G[i][ky] t[i][kx].
    for i in 0..A {
        apply(
            (&m[A * i * stride..], stride),
            (&mut t[3 * i * len..], len),
            len,
            T::kernel_grad_1d,
        );
    }
    for kx in 0..3 {
        apply(
            (&t[kx * len..], 3 * len),
            (&mut out[kx * len..], 3 * len),
            len,
            T::kernel_grad_1d,
        );
    }
}

/// Aᵀ M A of `count` tiles into the sink (clipped at the last tiles).
#[inline(always)]
fn output_transform<const M: usize, const A: usize, T: Tile<M, A>>(
    prod: &[f32],
    first: usize,
    count: usize,
    planes: Planes,
    Geometry { n, h, w, c }: Geometry,
    sink: Sink,
) {
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let mut r = vec![0.0f32; A * M * c];
    let mut y = vec![0.0f32; M * M * c];
    for tl in 0..count {
        let tile = first + tl;
        let (img, ty, tx) = (tile / (th * tw), (tile / tw) % th, tile % tw);
        debug_assert!(img < n);
        // r = M A, row by row (α×M); product ξ = α·k + j of this tile is M[k][j].
        for k in 0..A {
            apply(
                (&prod[A * k * planes.xi + tl * planes.tile..], planes.xi),
                (&mut r[M * k * c..], c),
                c,
                T::output_1d,
            );
        }
        // y = Aᵀ r over whole rows of M pixels (M×M).
        apply((&r, M * c), (&mut y, M * c), M * c, T::output_1d);
        let (oy, ox) = (M * ty, M * tx);
        let (rows, run) = (M.min(h - oy), M.min(w - ox));
        match sink {
            Sink::PaddedNhwc(out, epilogue) => {
                for dy in 0..rows {
                    let p = PaddedNhwc::pixel_index(h, w, img, oy + dy + 1, ox + 1);
                    let src = &y[M * dy * c..][..run * c];
                    // SAFETY: pixels p .. p+run are interior pixels of the output grid's row
                    // oy + dy, written by this tile only.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.at(p * c), run * c) };
                    match epilogue {
                        Epilogue::None => dst.copy_from_slice(src),
                        Epilogue::BiasRelu(bias) => {
                            for (d, px) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
                                for ((d, &v), &b) in d.iter_mut().zip(px).zip(bias) {
                                    *d = (v + b).max(0.0);
                                }
                            }
                        }
                        Epilogue::Mask(mask) => {
                            let m = &mask.data[p * c..][..run * c];
                            for ((d, &v), &m) in dst.iter_mut().zip(src).zip(m) {
                                *d = if m > 0.0 { v } else { 0.0 };
                            }
                        }
                    }
                }
            }
            Sink::Ncdhw(out, frames, bias) => {
                let (b, f) = (img / frames, img % frames);
                for co in 0..c {
                    let add = bias.map_or(0.0, |bias| bias[co]);
                    let plane = (((b * c + co) * frames + f) * h + oy) * w + ox;
                    for dy in 0..rows {
                        for dx in 0..run {
                            // SAFETY: inside the [N, C, T, H, W] output; this tile's pixels
                            // of channel co, written by this tile only.
                            unsafe {
                                *out.at(plane + dy * w + dx) = y[(M * dy + dx) * c + co] + add;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The transforms compiled for AVX-512 or AVX2 + FMA, chosen at run time (the crate itself is
/// built for baseline x86-64, whose 4-wide SSE vectors would leave them 2–4× slower).
mod simd {
    use super::{Geometry, PaddedNhwc, Planes, Sink, Tile};

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

    dispatch!(kernel_transform(g: &[f32], gk: &mut [f32], rows: &mut [f32], c: usize));
    dispatch!(input_transform(
        x: &PaddedNhwc,
        first: usize,
        count: usize,
        planes: Planes,
        v: &mut [f32]
    ));
    dispatch!(grad_transform(
        dy: &PaddedNhwc,
        first: usize,
        count: usize,
        planes: Planes,
        z: &mut [f32]
    ));
    dispatch!(kernel_grad_transform(
        m: &[f32],
        stride: usize,
        t: &mut [f32],
        out: &mut [f32],
        len: usize
    ));
    dispatch!(output_transform(
        prod: &[f32],
        first: usize,
        count: usize,
        planes: Planes,
        geom: Geometry,
        sink: Sink
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex_host::test_data as data;

    /// A grid of `n` images `h`×`w`, `c` channels, filled from `values` (NHWC order).
    fn grid(n: usize, h: usize, w: usize, c: usize, values: &[f32]) -> PaddedNhwc {
        PaddedNhwc::from_rows(n, h, w, c, |r, row| {
            let (i, y) = PaddedNhwc::image_row(h, r);
            row.copy_from_slice(&values[((i * h + y) * w) * c..][..w * c]);
        })
    }

    /// Both plans, both tile sizes and the three epilogues against an f64 direct sum, on 5×7
    /// images (partial tiles on both axes); the padding of every result is zero.
    #[test]
    fn conv_plans_and_epilogues_match_direct_sums() {
        let (n, h, w, ci, co) = (3, 5, 7, 6, 9);
        let x = data(n * h * w * ci, 1);
        let k = data(co * ci * 9, 2);
        let bias = data(co, 3);
        let mask_values = data(n * h * w * co, 4);
        let (xg, mask) = (grid(n, h, w, ci, &x), grid(n, h, w, co, &mask_values));
        // want[(i, y, x, o)] = Σ k[o, c, ky, kx] · x[i, y + ky − 1, x + kx − 1, c].
        let mut want = vec![0.0f64; n * h * w * co];
        for i in 0..n {
            for y in 0..h {
                for xx in 0..w {
                    for o in 0..co {
                        let mut s = 0.0f64;
                        for c in 0..ci {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (y + ky, xx + kx);
                                    if iy < 1 || ix < 1 || iy > h || ix > w {
                                        continue;
                                    }
                                    let v = x[((i * h + iy - 1) * w + ix - 1) * ci + c];
                                    s += v as f64 * k[((o * ci + c) * 3 + ky) * 3 + kx] as f64;
                                }
                            }
                        }
                        want[((i * h + y) * w + xx) * co + o] = s;
                    }
                }
            }
        }
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let kernel = |o: usize, c: usize, ky: usize, kx: usize| k[((o * ci + c) * 3 + ky) * 3 + kx];
        for m in [2, 4] {
            for plan in [Plan::Chunks, Plan::WholeLayer] {
                let wino = Winograd::new(m, ci, co, kernel).with_plan(plan);
                for epilogue in [
                    Epilogue::None,
                    Epilogue::BiasRelu(&bias),
                    Epilogue::Mask(&mask),
                ] {
                    let out = wino.conv_then(&xg, epilogue);
                    let mut interior = 0;
                    for (p, px) in out.data.chunks_exact(co).enumerate() {
                        let q = p.wrapping_sub(out.guard());
                        let (i, py, pxx) =
                            (q / ((h + 2) * (w + 2)), q / (w + 2) % (h + 2), q % (w + 2));
                        if p < out.guard() || i >= n || py == 0 || py > h || pxx == 0 || pxx > w {
                            assert!(px.iter().all(|&v| v == 0.0), "padding pixel {p} not zero");
                            continue;
                        }
                        interior += 1;
                        let at = ((i * h + py - 1) * w + pxx - 1) * co;
                        for (o, &got) in px.iter().enumerate() {
                            let d = want[at + o];
                            let expect = match epilogue {
                                Epilogue::None => d,
                                Epilogue::BiasRelu(b) => (d + b[o] as f64).max(0.0),
                                Epilogue::Mask(_) if mask_values[at + o] > 0.0 => d,
                                Epilogue::Mask(_) => 0.0,
                            };
                            assert!(
                                (got as f64 - expect).abs() <= 1e-5 * scale,
                                "F({m}, 3) {plan:?} {epilogue:?}: {got} vs {expect} at \
                                 image {i} ({py}, {pxx}) channel {o}"
                            );
                        }
                    }
                    assert_eq!(interior, n * h * w);
                }
            }
        }
    }
}
