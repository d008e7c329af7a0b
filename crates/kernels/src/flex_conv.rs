//! The causal convs' forward pass, input gradient and weight gradient on Flex's host buffers,
//! with every pass over the data spread over the rayon pool.
//!
//! Forward: burn-flex's generic conv3d algorithm (im2col of 512-position tiles, one GEMM per
//! tile with burn's operand order and strides, the bias added), so on one thread the output is
//! bit-for-bit burn's. What differs: burn first copies the whole input to channels-last and
//! adds the bias on the calling thread; here each tile's im2col columns are built straight from
//! the NCDHW input (a few row copies per column row, padding zero-filled) and the bias is added
//! to the tile while it is in cache, all inside the parallel tile loop; and with several
//! threads, layers with fewer than four tiles per thread are split into finer tiles.
//!
//! Spatial 1×3×3 convs (stride 1, padding 1) with at least [`flex_winograd::MIN_CHANNELS`]
//! channels and enough output tiles ([`flex_winograd::applies`]) run as Winograd F(4×4, 3×3)
//! instead ([`flex_winograd`]), forward, input and weight gradients: 4× fewer multiplications,
//! at a rounding error of a few tens of ε. kt×1×1 convs with stride 1 and no padding (the
//! temporal halves, 1×1×1) run as one GEMM per tap on strided views ([`flex_temporal`]) for
//! the gradients and, with kt > 1, the forward pass.
//!
//! Input gradient (stride 1, other shapes): the full conv of dY with the kernel flipped and its
//! channel axes swapped, through the same tile loop.
//!
//! Weight gradient: `dW[c_out, (kd, kh, kw, c_in)] = Σ_positions dY[c_out, p] · col[p, ·]`, the
//! transpose of the forward GEMM, summed over im2col tiles (built from a channels-last copy,
//! which packs fastest for this product). Small gradients (the tokenizer's) split the positions
//! into [`GRAD_SPLITS`] fixed, contiguous runs of tiles that are summed in parallel into their
//! own accumulators and then added in order, so the result does not depend on the number of
//! threads; large ones run the tiles in order with a parallel GEMM. This replaces burn's
//! convolution-shaped weight gradient, whose GEMMs have as few rows as the kernel has taps.
//!
//! Shapes are burn's: x [N, C_in, D, H, W], weight [C_out, C_in, kd, kh, kw], one group.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::tensor::DType;
use gemm::Parallelism;
use rayon::prelude::*;

use crate::flex_host::GRAD_SPLITS;
use crate::flex_host::{SharedMut, f32_tensor, matmul_on};
use crate::flex_temporal::{self, Temporal};
use crate::flex_winograd;

/// Output positions per im2col tile (burn-flex's `TILE_SIZE`; the forward must match it to
/// reproduce burn's output exactly).
const TILE: usize = 512;
/// burn-flex's threshold (m·n·k) above which one tile's GEMM is itself parallel.
const PARALLEL_GEMM_WORK: usize = 192 * 192 * 192;
/// Weight gradients with more elements than this use one accumulator and a parallel GEMM.
const SPLIT_MAX_WEIGHTS: usize = 1 << 17;

/// The sizes of one conv, derived from the input, the weight shape and the options.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    input: [usize; 3],
    c_out: usize,
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
    dilation: [usize; 3],
    output: [usize; 3],
    /// Output positions per im2col tile ([`TILE`] unless a caller splits finer).
    tile: usize,
}

impl Geometry {
    /// `None` where this module does not apply (groups, a non-f32 dtype, asymmetric padding):
    /// callers then use burn's kernels.
    fn new(x: &FlexTensor, w_shape: &[usize], options: &ConvOptions<3>) -> Option<Self> {
        let xs = x.layout().shape();
        if options.groups != 1
            || x.dtype() != DType::F32
            || options.padding.iter().any(|&(begin, end)| begin != end)
            || xs.len() != 5
            || w_shape.len() != 5
            || w_shape[1] != xs[1]
        {
            return None;
        }
        let kernel = [w_shape[2], w_shape[3], w_shape[4]];
        let input = [xs[2], xs[3], xs[4]];
        let mut output = [0; 3];
        for i in 0..3 {
            let span = options.dilation[i] * (kernel[i] - 1) + 1;
            let padded = input[i] + 2 * options.padding_begin()[i];
            if padded < span {
                return None;
            }
            output[i] = (padded - span) / options.stride[i] + 1;
        }
        Some(Self {
            batch: xs[0],
            c_in: xs[1],
            input,
            c_out: w_shape[0],
            kernel,
            stride: options.stride,
            padding: options.padding_begin(),
            dilation: options.dilation,
            output,
            tile: TILE,
        })
    }

    /// Length of one im2col row: C_in · kd · kh · kw.
    fn col_len(&self) -> usize {
        self.c_in * self.taps()
    }

    fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    fn out_positions(&self) -> usize {
        self.output.iter().product()
    }

    fn in_positions(&self) -> usize {
        self.input.iter().product()
    }

    /// Tiles of one batch element.
    fn tiles(&self) -> usize {
        self.out_positions().div_ceil(self.tile)
    }

    /// Output positions [start, end) of tile `t`.
    fn tile(&self, t: usize) -> (usize, usize) {
        let start = t * self.tile;
        (start, (start + self.tile).min(self.out_positions()))
    }

    /// [N, C_in, D, H, W].
    fn input_shape(&self) -> [usize; 5] {
        let [d, h, w] = self.input;
        [self.batch, self.c_in, d, h, w]
    }

    /// [N, C_out, D', H', W'].
    fn output_shape(&self) -> [usize; 5] {
        let [d, h, w] = self.output;
        [self.batch, self.c_out, d, h, w]
    }

    /// Small layers (the low-resolution, wide ones) have too few 512-position tiles to keep
    /// every thread busy: with more than one thread, split them finer. Each output is still
    /// the same dot product, so only gemm's choice of kernel for tiny tiles can change a bit.
    fn split_finer(&mut self) {
        let threads = rayon::current_num_threads();
        let tasks = 4 * threads;
        if threads > 1 && self.batch * self.tiles() < tasks {
            self.tile = (self.batch * self.out_positions())
                .div_ceil(tasks)
                .clamp(32, TILE);
        }
    }

    /// A spatial 3×3 conv that [`flex_winograd`] runs.
    fn is_winograd(&self) -> bool {
        flex_winograd::applies(
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            (self.c_in, self.c_out),
            [self.batch * self.input[0], self.input[1], self.input[2]],
        )
    }

    /// A kt×1×1 conv with stride 1 and no padding, which [`flex_temporal`] runs (`None`
    /// otherwise).
    fn temporal(&self) -> Option<Temporal> {
        let ones = [1, 1, 1];
        (self.kernel[1] == 1
            && self.kernel[2] == 1
            && self.stride == ones
            && self.dilation == ones
            && self.padding == [0, 0, 0])
        .then(|| Temporal::new(self.input_shape(), self.c_out, self.kernel[0]))
    }

    /// burn-flex's generic conv3d path applies (not its 1×1, depthwise, small-channel or
    /// direct paths): the only case where [`forward`] reproduces burn bit for bit.
    fn is_burns_generic_path(&self) -> bool {
        let pointwise =
            self.kernel == [1, 1, 1] && self.stride == [1, 1, 1] && self.padding == [0, 0, 0];
        // The depthwise, small-channel and direct paths all need a single input frame with a
        // one-frame kernel.
        let single_frame = self.kernel[0] == 1 && self.input[0] == 1;
        !pointwise && !single_frame
    }
}

/// x [N, C, D, H, W] → channels-last [N, D, H, W, C], one (n, d) slab per task.
fn channels_last(x: &[f32], g: &Geometry) -> Vec<f32> {
    let (c, [d, h, w]) = (g.c_in, g.input);
    let plane = h * w;
    let mut out = vec![0.0f32; g.batch * d * plane * c];
    out.par_chunks_mut(plane * c)
        .enumerate()
        .for_each(|(slab, dst)| {
            let (n, z) = (slab / d, slab % d);
            let src = &x[n * c * d * plane + z * plane..];
            // Blocks of 64 positions keep the 64·C destination block in L1 while the channel
            // rows are read sequentially.
            for p0 in (0..plane).step_by(64) {
                let p1 = (p0 + 64).min(plane);
                for ch in 0..c {
                    let row = &src[ch * d * plane + p0..ch * d * plane + p1];
                    for (i, &v) in row.iter().enumerate() {
                        dst[(p0 + i) * c + ch] = v;
                    }
                }
            }
        });
    out
}

/// Fills `col` ([tile positions, col_len], row-major) with the receptive fields of output
/// positions [start, end) of batch element `n`, in burn's order (kd, kh, kw, c_in), zeros for
/// the padding.
fn im2col_rows(
    col: &mut [f32],
    x_nhwc: &[f32],
    g: &Geometry,
    n: usize,
    (start, end): (usize, usize),
) {
    let c = g.c_in;
    let col_len = g.col_len();
    let [id, ih, iw] = g.input;
    let [_, oh, ow] = g.output;
    let batch_base = n * g.in_positions() * c;
    for (row, p) in col.chunks_exact_mut(col_len).zip(start..end) {
        let (od, rem) = (p / (oh * ow), p % (oh * ow));
        let (oy, ox) = (rem / ow, rem % ow);
        let mut at = 0;
        for kd in 0..g.kernel[0] {
            let z = (od * g.stride[0] + kd * g.dilation[0]) as isize - g.padding[0] as isize;
            for ky in 0..g.kernel[1] {
                let y = (oy * g.stride[1] + ky * g.dilation[1]) as isize - g.padding[1] as isize;
                for kx in 0..g.kernel[2] {
                    let xx =
                        (ox * g.stride[2] + kx * g.dilation[2]) as isize - g.padding[2] as isize;
                    let dst = &mut row[at..at + c];
                    if (0..id as isize).contains(&z)
                        && (0..ih as isize).contains(&y)
                        && (0..iw as isize).contains(&xx)
                    {
                        let pos = (z as usize * ih + y as usize) * iw + xx as usize;
                        let src = batch_base + pos * c;
                        dst.copy_from_slice(&x_nhwc[src..src + c]);
                    } else {
                        dst.fill(0.0);
                    }
                    at += c;
                }
            }
        }
    }
}

/// Fills `col` ([col_len, end − start], row-major: one row per (kd, kh, kw, c_in) in burn's
/// im2col order, one column per output position) with what output positions [start, end) of
/// batch element `n` read through each tap, zeros for the padding. Reads x [N, C, D, H, W]
/// directly: a row is a few runs along output rows, each a copy from one input row.
fn im2col(col: &mut [f32], x: &[f32], g: &Geometry, n: usize, (start, end): (usize, usize)) {
    let len = end - start;
    let [id, ih, iw] = g.input;
    let [_, oh, ow] = g.output;
    let [sd, sh, sw] = g.stride;
    let [dd, dh, dw] = g.dilation;
    let [pd, ph, pw] = g.padding.map(|p| p as isize);
    let plane = g.in_positions();
    // The pieces of output rows the tile covers: (offset in the tile, length, od, oy, ox0).
    let mut runs = Vec::with_capacity(len / ow + 2);
    let mut p = start;
    while p < end {
        let (od, rem) = (p / (oh * ow), p % (oh * ow));
        let (oy, ox0) = (rem / ow, rem % ow);
        let run = (ow - ox0).min(end - p);
        runs.push((p - start, run, od, oy, ox0));
        p += run;
    }
    let mut rows = col.chunks_exact_mut(len);
    let mut spans = Vec::with_capacity(runs.len());
    for kd in 0..g.kernel[0] {
        for ky in 0..g.kernel[1] {
            for kx in 0..g.kernel[2] {
                // What each run reads through this tap, the same for every channel: output
                // column ox0 + i reads input column ix0 + i·sw; `first..last` of the run fall
                // inside the input row, starting at plane offset `from`; the rest is padding.
                spans.clear();
                for &(offset, run, od, oy, ox0) in &runs {
                    let z = (od * sd + kd * dd) as isize - pd;
                    let y = (oy * sh + ky * dh) as isize - ph;
                    let ix0 = (ox0 * sw + kx * dw) as isize - pw;
                    let (first, last) = if z < 0 || z >= id as isize || y < 0 || y >= ih as isize {
                        (0, 0)
                    } else {
                        let first = if ix0 < 0 {
                            ((-ix0) as usize).div_ceil(sw).min(run)
                        } else {
                            0
                        };
                        let last = if ix0 >= iw as isize {
                            first
                        } else {
                            ((iw as isize - 1 - ix0) as usize / sw + 1).clamp(first, run)
                        };
                        (first, last)
                    };
                    let from = if first < last {
                        (z as usize * ih + y as usize) * iw + (ix0 + (first * sw) as isize) as usize
                    } else {
                        0
                    };
                    spans.push((offset, run, first, last, from));
                }
                for ci in 0..g.c_in {
                    let src = &x[(n * g.c_in + ci) * plane..][..plane];
                    let row = rows.next().expect("col has col_len rows");
                    for &(offset, run, first, last, from) in &spans {
                        let dst = &mut row[offset..offset + run];
                        dst[..first].fill(0.0);
                        dst[last..].fill(0.0);
                        let inside = &mut dst[first..last];
                        if sw == 1 {
                            inside.copy_from_slice(&src[from..from + inside.len()]);
                        } else {
                            for (i, d) in inside.iter_mut().enumerate() {
                                *d = src[from + i * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per output channel, the [rows, cols] block of `w` transposed: burn's weight
/// [C_out, C_in, (kd, kh, kw)] ↔ the im2col order [C_out, (kd, kh, kw), C_in].
fn transpose_blocks(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w.len()];
    out.par_chunks_mut(rows * cols)
        .zip(w.par_chunks(rows * cols))
        .for_each(|(dst, src)| {
            for (r, row) in src.chunks_exact(cols).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    dst[k * rows + r] = v;
                }
            }
        });
    out
}

/// conv3d(x, weight) + bias: Winograd for wide spatial convs, otherwise burn-flex's im2col
/// algorithm — bit-identical to `Flex::conv3d` on one thread; on several, small layers are
/// split into finer tiles (a few ε apart) — and burn's own kernel wherever burn would not use
/// its generic im2col path.
pub fn forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    options: &ConvOptions<3>,
) -> FlexTensor {
    let w_shape = weight.layout().shape().to_vec();
    let geometry = Geometry::new(&x, &w_shape, options)
        .filter(|g| bias.dtype() == DType::F32 && (g.is_winograd() || g.is_burns_generic_path()));
    let Some(mut g) = geometry else {
        return Flex::conv3d(x, weight, Some(bias), options.clone());
    };
    let (x, weight, bias) = (
        x.to_contiguous(),
        weight.to_contiguous(),
        bias.to_contiguous(),
    );
    if g.is_winograd() {
        let kernel = flex_winograd::forward_kernel(weight.storage(), g.c_in, g.c_out);
        let out = flex_winograd::conv(x.storage(), g.input_shape(), &kernel, Some(bias.storage()));
        return f32_tensor(out, &g.output_shape());
    }
    if let Some(t) = g.temporal() {
        let out = flex_temporal::forward(x.storage(), weight.storage(), Some(bias.storage()), &t);
        return f32_tensor(out, &g.output_shape());
    }
    g.split_finer();
    let out = conv(x.storage(), weight.storage(), Some(bias.storage()), &g);
    f32_tensor(out, &g.output_shape())
}

/// The conv of [`forward`] on host slices: x and the weight in burn's layouts, the output
/// [N, C_out, D', H', W'].
fn conv(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let g = *g;
    let w_col = transpose_blocks(weight, g.c_in, g.taps());
    let (col_len, positions, c_out) = (g.col_len(), g.out_positions(), g.c_out);

    let mut out = vec![0.0f32; g.batch * c_out * positions];
    let dst = SharedMut(out.as_mut_ptr());
    (0..g.batch * g.tiles())
        .into_par_iter()
        .for_each_init(Vec::new, |col, item| {
            let (n, (start, end)) = (item / g.tiles(), g.tile(item % g.tiles()));
            let len = end - start;
            col.resize(len * col_len, 0.0);
            im2col(col, x, &g, n, (start, end));
            // burn-flex's conv GEMM: [C_out, col_len] · [col_len, len] → [C_out, len], written
            // straight into the output's rows (the destination stride does not change what
            // gemm computes).
            let parallelism = if c_out * len * col_len >= PARALLEL_GEMM_WORK {
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            };
            // For at most 16×16 outputs gemm uses a dot-product kernel when both operands are
            // contiguous along K, as they are in burn's [len, col_len] layout; give it that
            // layout there too, so the output stays burn's bit for bit.
            let by_position: Vec<f32>;
            let (rhs, rhs_cs, rhs_rs) = if c_out * len <= 16 * 16 {
                by_position = (0..len * col_len)
                    .map(|i| col[(i % col_len) * len + i / col_len])
                    .collect();
                (by_position.as_ptr(), col_len, 1)
            } else {
                (col.as_ptr(), 1, len)
            };
            let out_at = n * c_out * positions + start;
            // SAFETY: the pointers and strides describe `w_col` ([c_out, col_len]), the
            // [col_len, len] columns and output positions [start, end) of every channel of
            // batch element `n`, which this task alone writes.
            unsafe {
                matmul_on(
                    parallelism,
                    [c_out, len, col_len],
                    (dst.at(out_at), 1, positions),
                    (w_col.as_ptr(), 1, col_len),
                    (rhs, rhs_cs, rhs_rs),
                    false,
                );
            }
            for (co, &b) in bias.unwrap_or_default().iter().enumerate() {
                // SAFETY: as above, this task's positions of channel `co`.
                let row =
                    unsafe { std::slice::from_raw_parts_mut(dst.at(out_at + co * positions), len) };
                for o in row {
                    *o += b;
                }
            }
        });
    out
}

/// dL/dx of `conv3d(x, weight)` for the output gradient `grad`, for a stride-1 conv: the
/// "full" conv of the output gradient (padded by k − 1 − p) with the kernel flipped and its
/// channel axes swapped, run by the forward kernel. `None` where that does not apply (strides,
/// dilation, padding above k − 1; the caller uses burn's transposed conv).
pub fn input_grad(
    x_shape: &[usize],
    weight: FlexTensor,
    grad: FlexTensor,
    options: &ConvOptions<3>,
) -> Option<FlexTensor> {
    let w_shape = weight.layout().shape().to_vec();
    if options.stride != [1, 1, 1]
        || options.dilation != [1, 1, 1]
        || weight.dtype() != DType::F32
        || w_shape.len() != 5
        || x_shape.len() != 5
    {
        return None;
    }
    let kernel = [w_shape[2], w_shape[3], w_shape[4]];
    let pad = options.padding_begin();
    if (0..3).any(|i| pad[i] + 1 > kernel[i]) {
        return None;
    }
    let gs = grad.layout().shape();
    if kernel[1] == 1 && kernel[2] == 1 && pad == [0, 0, 0] && grad.dtype() == DType::F32 {
        let t = Temporal::new(std::array::from_fn(|i| x_shape[i]), w_shape[0], kernel[0]);
        if w_shape[1] != t.c_in
            || t.frames < t.kt
            || gs[..] != [t.batch, t.c_out, t.out_frames(), x_shape[3], x_shape[4]]
        {
            return None;
        }
        let (weight, grad) = (weight.to_contiguous(), grad.to_contiguous());
        let dx = flex_temporal::input_grad(grad.storage(), weight.storage(), &t);
        return Some(f32_tensor(dx, x_shape));
    }
    let full: [usize; 3] = std::array::from_fn(|i| kernel[i] - 1 - pad[i]);
    let flipped_shape = [w_shape[1], w_shape[0], kernel[0], kernel[1], kernel[2]];
    let transposed = ConvOptions::new([1, 1, 1], full, [1, 1, 1], 1);
    let mut g = Geometry::new(&grad, &flipped_shape, &transposed)?;
    g.split_finer();
    if g.output != [x_shape[2], x_shape[3], x_shape[4]] || g.c_out != x_shape[1] {
        return None;
    }
    let weight = weight.to_contiguous();
    if g.is_winograd() {
        let kernel = flex_winograd::input_grad_kernel(weight.storage(), w_shape[1], w_shape[0]);
        let grad = grad.to_contiguous();
        let out = flex_winograd::conv(grad.storage(), g.input_shape(), &kernel, None);
        return Some(f32_tensor(out, x_shape));
    }
    // w'[ci, co, a, b, c] = w[co, ci, kt−1−a, kh−1−b, kw−1−c].
    let w: &[f32] = weight.storage();
    let taps = g.taps();
    let (c_out, c_in) = (w_shape[0], w_shape[1]);
    let mut flipped = vec![0.0f32; w.len()];
    flipped
        .par_chunks_exact_mut(c_out * taps)
        .enumerate()
        .for_each(|(ci, dst)| {
            for co in 0..c_out {
                let src = &w[(co * c_in + ci) * taps..][..taps];
                for (k, d) in dst[co * taps..(co + 1) * taps].iter_mut().enumerate() {
                    *d = src[taps - 1 - k];
                }
            }
        });
    let grad = grad.to_contiguous();
    let out = conv(grad.storage(), &flipped, None, &g);
    Some(f32_tensor(out, x_shape))
}

/// dL/dweight of `conv3d(x, weight)` for the output gradient `grad`, shaped like the weight;
/// `None` where this module does not apply (the caller uses burn's).
pub fn weight_grad(
    x: FlexTensor,
    w_shape: &[usize],
    grad: FlexTensor,
    options: &ConvOptions<3>,
) -> Option<FlexTensor> {
    let g = Geometry::new(&x, w_shape, options)?;
    let gs = grad.layout().shape();
    if grad.dtype() != DType::F32
        || gs.len() != 5
        || gs[0] != g.batch
        || gs[1] != g.c_out
        || [gs[2], gs[3], gs[4]] != g.output
    {
        return None;
    }
    let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
    if g.is_winograd() {
        let dw = flex_winograd::weight_grad(x.storage(), grad.storage(), g.input_shape(), g.c_out);
        return Some(f32_tensor(dw, w_shape));
    }
    let x_nhwc = channels_last(x.storage(), &g);
    if let Some(t) = g.temporal() {
        let dw = flex_temporal::weight_grad(&x_nhwc, grad.storage(), &t);
        return Some(f32_tensor(dw, w_shape));
    }
    let dy: &[f32] = grad.storage();
    let (col_len, c_out, positions) = (g.col_len(), g.c_out, g.out_positions());
    let weights = c_out * col_len;

    // Adds dY[:, tile] · col(tile) into acc ([c_out, col_len]).
    let accumulate = |acc: &mut [f32], col: &mut Vec<f32>, item: usize, par: Parallelism| {
        let (n, (start, end)) = (item / g.tiles(), g.tile(item % g.tiles()));
        let len = end - start;
        col.resize(len * col_len, 0.0);
        im2col_rows(col, &x_nhwc, &g, n, (start, end));
        // SAFETY: lhs is dY[n, :, start..end] (rows of stride `positions`), rhs the
        // [len, col_len] tile, dst the [c_out, col_len] accumulator; all in bounds.
        unsafe {
            matmul_on(
                par,
                [c_out, col_len, len],
                (acc.as_mut_ptr(), 1, col_len),
                (dy.as_ptr().add(n * c_out * positions + start), 1, positions),
                (col.as_ptr(), 1, col_len),
                true,
            );
        }
    };

    let items = g.batch * g.tiles();
    let mut acc = vec![0.0f32; weights];
    if weights <= SPLIT_MAX_WEIGHTS && items > 1 {
        let splits = GRAD_SPLITS.min(items);
        let partial: Vec<Vec<f32>> = (0..splits)
            .into_par_iter()
            .map(|s| {
                let mut part = vec![0.0f32; weights];
                let mut col = Vec::new();
                for item in s * items / splits..(s + 1) * items / splits {
                    accumulate(&mut part, &mut col, item, Parallelism::None);
                }
                part
            })
            .collect();
        for part in partial {
            for (a, p) in acc.iter_mut().zip(part) {
                *a += p;
            }
        }
    } else {
        let mut col = Vec::new();
        for item in 0..items {
            accumulate(&mut acc, &mut col, item, Parallelism::Rayon(0));
        }
    }
    Some(f32_tensor(
        transpose_blocks(&acc, g.taps(), g.c_in),
        w_shape,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn random(shape: &[usize], seed: u64) -> FlexTensor {
        // A small LCG: the test needs varied values, not a distribution.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = shape.iter().product();
        let data: Vec<f32> = (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect();
        FlexTensor::from_data(TensorData::new(data, shape.to_vec()))
    }

    fn host(t: FlexTensor) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The tokenizer's conv shapes (spatial 1×3×3 with padding, causal temporal 3×1×1,
    /// strided downsampling, a 3×3×3), several tiles with a last one shorter than 512, a
    /// weight gradient large enough for the single-accumulator path, and a spatial conv that
    /// [`forward`] runs as Winograd.
    /// (x shape, weight shape, stride, padding).
    type Case = ([usize; 5], [usize; 5], [usize; 3], [usize; 3]);

    const CASES: [Case; 7] = [
        ([2, 5, 3, 7, 9], [6, 5, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 8, 6, 17, 19], [8, 8, 3, 1, 1], [1, 1, 1], [0, 0, 0]),
        ([2, 4, 2, 9, 8], [7, 4, 1, 3, 3], [1, 2, 2], [0, 0, 0]),
        ([1, 3, 5, 6, 7], [4, 3, 3, 3, 3], [2, 1, 1], [0, 1, 1]),
        ([1, 6, 4, 24, 30], [5, 6, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 128, 2, 6, 5], [128, 128, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
        // Enough 4×4 tiles (2·10·9, partial ones on the right) for the Winograd path.
        ([1, 32, 2, 40, 35], [33, 32, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
    ];

    #[test]
    fn forward_is_bit_identical_to_burn() {
        for (i, (xs, ws, stride, pad)) in CASES.into_iter().enumerate() {
            let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
            let (x, w, b) = (
                random(&xs, i as u64),
                random(&ws, 100 + i as u64),
                random(&[ws[0]], 200 + i as u64),
            );
            let g = Geometry::new(&x, &ws, &options).unwrap();
            assert!(
                g.is_burns_generic_path(),
                "case {i} must run this module's kernel"
            );
            // The im2col kernel itself ([`forward`] sends wide spatial convs to Winograd).
            let ours = conv(
                &host(x.clone()),
                &host(w.clone()),
                Some(&host(b.clone())),
                &g,
            );
            let dispatched = host(forward(x.clone(), w.clone(), b.clone(), &options));
            // On one thread `forward` keeps burn's 512-position tiles.
            let one_thread = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| host(forward(x.clone(), w.clone(), b.clone(), &options)));
            let burns = host(Flex::conv3d(x, w, Some(b), options));
            assert_eq!(ours.len(), burns.len(), "case {i}");
            let differ = ours
                .iter()
                .zip(&burns)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ.count(), 0, "case {i}: {xs:?} * {ws:?}");
            // What `forward` runs: the same kernel (bit for bit on one thread; on several,
            // small layers' finer tiles may take gemm's dot-product kernel for the last, tiny
            // tile: a few ε), or Winograd within its rounding.
            let scale = burns.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let max_err = |y: &[f32]| {
                y.iter()
                    .zip(&burns)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            };
            let (err, err_one) = (max_err(&dispatched), max_err(&one_thread));
            if g.is_winograd() {
                let tol = flex_winograd::tolerance(g.c_in) * scale;
                assert!(err <= tol, "case {i}: Winograd err {err} (scale {scale})");
                assert!(
                    err_one <= tol,
                    "case {i}: Winograd err {err_one} (scale {scale})"
                );
            } else if g.temporal().is_some() {
                // flex_temporal: one GEMM per tap, then the taps added.
                for e in [err, err_one] {
                    assert!(
                        e <= 4.0 * f32::EPSILON * scale,
                        "case {i}: temporal err {e} (scale {scale})"
                    );
                }
            } else {
                assert_eq!(err_one, 0.0, "case {i}: one-thread forward must be burn's");
                assert!(
                    err <= 4.0 * f32::EPSILON * scale,
                    "case {i}: finer tiles err {err} (scale {scale})"
                );
            }
        }
        assert!(CASES.iter().any(|&(xs, ws, stride, pad)| {
            let x = random(&xs, 0);
            let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
            Geometry::new(&x, &ws, &options).unwrap().is_winograd()
        }));
    }

    /// Every (z, y, x) of a `[d, h, w]` grid, in row-major order.
    fn grid([d, h, w]: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
        (0..d).flat_map(move |z| (0..h).flat_map(move |y| (0..w).map(move |x| [z, y, x])))
    }

    /// The index into x (shape `xs`) that output position `out` of batch element `n` reads
    /// through kernel tap `tap` from input channel `ci`; `None` where that is padding.
    fn tap_input(
        xs: [usize; 5],
        stride: [usize; 3],
        pad: [usize; 3],
        (n, ci): (usize, usize),
        out: [usize; 3],
        tap: [usize; 3],
    ) -> Option<usize> {
        let mut at = n * xs[1] + ci;
        for i in 0..3 {
            let p = (out[i] * stride[i] + tap[i]).checked_sub(pad[i])?;
            if p >= xs[2 + i] {
                return None;
            }
            at = at * xs[2 + i] + p;
        }
        Some(at)
    }

    /// Against a direct f64 sum over every output position and tap.
    #[test]
    fn weight_grad_matches_a_direct_sum() {
        for (i, (xs, ws, stride, pad)) in CASES.into_iter().enumerate() {
            let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
            let x = random(&xs, 300 + i as u64);
            let g = Geometry::new(&x, &ws, &options).unwrap();
            let [od, oh, ow] = g.output;
            let dy = random(&[xs[0], ws[0], od, oh, ow], 400 + i as u64);
            let ours = host(weight_grad(x.clone(), &ws, dy.clone(), &options).unwrap());
            let (xv, dyv) = (host(x), host(dy));
            let mut worst = 0f64;
            let mut scale = 0f64;
            let mut k = 0;
            for co in 0..ws[0] {
                for ci in 0..ws[1] {
                    for tap in grid([ws[2], ws[3], ws[4]]) {
                        let mut sum = 0f64;
                        for n in 0..xs[0] {
                            for (gi, out) in grid(g.output).enumerate() {
                                let Some(xi) = tap_input(xs, stride, pad, (n, ci), out, tap) else {
                                    continue;
                                };
                                let gi = (n * ws[0] + co) * g.out_positions() + gi;
                                sum += xv[xi] as f64 * dyv[gi] as f64;
                            }
                        }
                        worst = worst.max((ours[k] as f64 - sum).abs());
                        scale = scale.max(sum.abs());
                        k += 1;
                    }
                }
            }
            // Winograd's transforms round more than a direct sum (tens of ε).
            let tol = if g.is_winograd() {
                flex_winograd::grad_tolerance(xs[0] * g.out_positions()) as f64
            } else {
                1e-5
            };
            assert!(
                worst <= tol * scale,
                "case {i}: max |Δ| {worst:e} (max {scale:e})"
            );
        }
    }

    /// dL/dx against a direct f64 scatter of every output gradient through every tap, for the
    /// stride-1 shapes (spatial with padding, causal temporal, pointwise, 3×3×3 with padding);
    /// strided convs are left to burn (`None`).
    #[test]
    fn input_grad_matches_a_direct_sum() {
        let cases: [Case; 5] = [
            ([2, 5, 3, 7, 9], [6, 5, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
            ([1, 8, 6, 17, 19], [8, 8, 3, 1, 1], [1, 1, 1], [0, 0, 0]),
            ([1, 7, 2, 5, 6], [4, 7, 1, 1, 1], [1, 1, 1], [0, 0, 0]),
            ([1, 3, 5, 6, 7], [4, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1]),
            ([2, 4, 2, 9, 8], [7, 4, 1, 3, 3], [1, 2, 2], [0, 0, 0]),
        ];
        for (i, (xs, ws, stride, pad)) in cases.into_iter().enumerate() {
            let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
            let x = random(&xs, i as u64);
            let g = Geometry::new(&x, &ws, &options).unwrap();
            let [od, oh, ow] = g.output;
            let w = random(&ws, 50 + i as u64);
            let dy = random(&[xs[0], ws[0], od, oh, ow], 90 + i as u64);
            let got = input_grad(&xs, w.clone(), dy.clone(), &options);
            if stride != [1, 1, 1] {
                assert!(got.is_none(), "case {i}: strided convs go to burn");
                continue;
            }
            let got: Vec<f32> = got.unwrap().into_data().try_to_vec().unwrap();
            let wv: Vec<f32> = w.into_data().try_to_vec().unwrap();
            let dyv: Vec<f32> = dy.into_data().try_to_vec().unwrap();
            let mut want = vec![0f64; got.len()];
            for n in 0..xs[0] {
                for co in 0..ws[0] {
                    for (gi, out) in grid(g.output).enumerate() {
                        let d = dyv[(n * ws[0] + co) * g.out_positions() + gi] as f64;
                        for ci in 0..ws[1] {
                            for (k, tap) in grid([ws[2], ws[3], ws[4]]).enumerate() {
                                let Some(xi) = tap_input(xs, stride, pad, (n, ci), out, tap) else {
                                    continue;
                                };
                                want[xi] += d * wv[(co * ws[1] + ci) * g.taps() + k] as f64;
                            }
                        }
                    }
                }
            }
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want)
                .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
            assert!(
                scale > 0.0 && worst <= 1e-5 * scale,
                "case {i}: max |Δ| {worst:e} (max {scale:e})"
            );
        }
    }
}
