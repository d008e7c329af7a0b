//! Convs whose kernel is kt×1×1 (the causal convs' temporal 3×1×1 half, and 1×1×1) with stride
//! 1 and no padding (the causal padding is already in x), on Flex's host buffers, without
//! im2col.
//!
//! Frames are contiguous within a channel of x [N, C, T, H, W], so the frames a tap k reads,
//! x[n, :, k .. k+T', :, :], form a [C_in, T'·H·W] matrix with row stride T·H·W: every pass is
//! kt GEMMs on strided views of the tensors themselves.
//!
//! - Forward: `y[n] = b + Σ_k W_k · x[n, :, k..k+T']`, `W_k = weight[:, :, k]`.
//! - Input gradient: `dx[n, :, k..k+T'] += W_kᵀ · dy[n]`. The im2col path computes it as the
//!   "full" conv of dy, padded by kt − 1 zero frames at both ends, and multiplies those zeros:
//!   (T' + kt − 1)/T' times the work (2× for the tokenizer's 3-frame kernels on 2 latent frames).
//! - Weight gradient: `dW_k = Σ_n dy[n] · x[n, :, k..k+T']ᵀ`, its positions split into at most
//!   [`GRAD_SPLITS`] fixed runs (of at least `MIN_RUN` positions) summed on their own and then in
//!   order, so that the result does not depend on the number of threads.
//!
//! Each GEMM sums over C_in (or positions) per tap and the taps are then added, so results
//! differ from the im2col kernel's single sum over (tap, C_in) by rounding only (a few ε).

use rayon::prelude::*;

use crate::flex_host::GRAD_SPLITS;
use crate::flex_host::{SharedMut, matmul};

/// Positions (columns) per task of the forward pass and the input gradient: the kt GEMMs of a
/// task accumulate into the same [C, BLOCK] block of the result while it is in cache. With
/// several threads, small layers take smaller blocks (at least [`MIN_BLOCK`]), four per thread.
const BLOCK: usize = 512;
const MIN_BLOCK: usize = 128;
/// The shortest run of positions the weight gradient sums on its own.
const MIN_RUN: usize = 256;

/// The sizes of a kt×1×1 conv: x [batch, c_in, frames, plane], weight [c_out, c_in, kt],
/// y [batch, c_out, frames − kt + 1, plane] (`plane` = H·W).
#[derive(Clone, Copy, Debug)]
pub struct Temporal {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub frames: usize,
    pub plane: usize,
    pub kt: usize,
}

impl Temporal {
    /// The conv of x `[batch, c_in, frames, h, w]` with a `[c_out, c_in, kt, 1, 1]` weight.
    pub fn new([batch, c_in, frames, h, w]: [usize; 5], c_out: usize, kt: usize) -> Self {
        Self {
            batch,
            c_in,
            c_out,
            frames,
            plane: h * w,
            kt,
        }
    }

    /// Output frames T' = T − kt + 1.
    pub fn out_frames(&self) -> usize {
        self.frames + 1 - self.kt
    }

    /// Positions per channel of x: T·H·W.
    fn in_len(&self) -> usize {
        self.frames * self.plane
    }

    /// Positions per channel of y: T'·H·W.
    fn out_len(&self) -> usize {
        self.out_frames() * self.plane
    }

    /// `(n, [start, end))`: the column blocks of `len` positions per batch element.
    fn blocks(&self, len: usize) -> impl IndexedParallelIterator<Item = (usize, usize, usize)> {
        let threads = rayon::current_num_threads();
        let block = if threads > 1 {
            (self.batch * len)
                .div_ceil(4 * threads)
                .clamp(MIN_BLOCK, BLOCK)
        } else {
            BLOCK
        };
        let per = len.div_ceil(block);
        (0..self.batch * per).into_par_iter().map(move |i| {
            let (n, b) = (i / per, i % per);
            (n, b * block, ((b + 1) * block).min(len))
        })
    }
}

/// y = conv(x, weight) + bias: x `[N, C_in, T, H, W]`, weight `[C_out, C_in, kt, 1, 1]`, bias
/// `[C_out]`; y `[N, C_out, T', H, W]`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Temporal) -> Vec<f32> {
    let (c_in, c_out, kt) = (g.c_in, g.c_out, g.kt);
    let (in_len, out_len) = (g.in_len(), g.out_len());
    assert_eq!(x.len(), g.batch * c_in * in_len, "temporal conv input size");
    assert_eq!(weight.len(), c_out * c_in * kt, "temporal conv weight size");
    let mut y = vec![0.0f32; g.batch * c_out * out_len];
    let dst = SharedMut(y.as_mut_ptr());
    g.blocks(out_len).for_each(|(n, start, end)| {
        let at = n * c_out * out_len + start;
        if let Some(bias) = bias {
            for (co, &b) in bias.iter().enumerate() {
                // SAFETY: positions [start, end) of channel co of batch element n: this
                // task's block.
                unsafe { std::slice::from_raw_parts_mut(dst.at(at + co * out_len), end - start) }
                    .fill(b);
            }
        }
        for k in 0..kt {
            // SAFETY: y[n, :, start..end] (rows of out_len), W_k ([c_out, c_in] with strides
            // (kt, c_in·kt)) and x[n, :, k·plane + start .. k·plane + end] (rows of in_len),
            // all inside their buffers; the block is this task's.
            unsafe {
                matmul(
                    [c_out, end - start, c_in],
                    (dst.at(at), 1, out_len),
                    (weight.as_ptr().add(k), kt, c_in * kt),
                    (
                        x.as_ptr().add(n * c_in * in_len + k * g.plane + start),
                        1,
                        in_len,
                    ),
                    bias.is_some() || k > 0,
                );
            }
        }
    });
    y
}

/// dL/dx of [`forward`] for the output gradient `dy` [N, C_out, T', H, W]: [N, C_in, T, H, W].
pub fn input_grad(dy: &[f32], weight: &[f32], g: &Temporal) -> Vec<f32> {
    let (c_in, c_out, kt) = (g.c_in, g.c_out, g.kt);
    let (in_len, out_len) = (g.in_len(), g.out_len());
    assert_eq!(
        dy.len(),
        g.batch * c_out * out_len,
        "temporal conv gradient size"
    );
    assert_eq!(weight.len(), c_out * c_in * kt, "temporal conv weight size");
    let mut dx = vec![0.0f32; g.batch * c_in * in_len];
    let dst = SharedMut(dx.as_mut_ptr());
    g.blocks(in_len).for_each(|(n, start, end)| {
        for k in 0..kt {
            // dx position p takes dy position p − k·plane through tap k, where that is in
            // [0, out_len).
            let shift = k * g.plane;
            let (lo, hi) = (start.max(shift), end.min(shift + out_len));
            if lo >= hi {
                continue;
            }
            // SAFETY: dx[n, :, lo..hi] (this task's block), W_kᵀ ([c_in, c_out] with strides
            // (c_in·kt, kt)) and dy[n, :, lo − shift .. hi − shift], all in bounds.
            unsafe {
                matmul(
                    [c_in, hi - lo, c_out],
                    (dst.at(n * c_in * in_len + lo), 1, in_len),
                    (weight.as_ptr().add(k), c_in * kt, kt),
                    (
                        dy.as_ptr().add(n * c_out * out_len + lo - shift),
                        1,
                        out_len,
                    ),
                    true,
                );
            }
        }
    });
    dx
}

/// dL/dweight of [`forward`] for the output gradient `dy`: [C_out, C_in, kt]. Takes x
/// channels-last, [N, T, H, W, C_in] (`x_nhwc`): a tap's rows are then [positions, C_in] with
/// contiguous channels, the layout gemm packs fastest here (measured: in NCDHW, both operands
/// contiguous along the summed axis, this took 1.5–1.8× the im2col kernel's time).
pub fn weight_grad(x_nhwc: &[f32], dy: &[f32], g: &Temporal) -> Vec<f32> {
    let (c_in, c_out, kt) = (g.c_in, g.c_out, g.kt);
    let (in_len, out_len) = (g.in_len(), g.out_len());
    assert_eq!(
        x_nhwc.len(),
        g.batch * c_in * in_len,
        "temporal conv input size"
    );
    assert_eq!(
        dy.len(),
        g.batch * c_out * out_len,
        "temporal conv gradient size"
    );
    let pairs = c_out * c_in;
    // Runs of positions over all batch elements, at most GRAD_SPLITS and at least MIN_RUN
    // long (shorter GEMMs cost more in packing than they sum): (n, start, end) pieces.
    let total = g.batch * out_len;
    let splits = GRAD_SPLITS.min(total.div_ceil(MIN_RUN));
    let runs = |s: usize| {
        let (first, last) = (s * total / splits, (s + 1) * total / splits);
        (first / out_len..=(last - 1) / out_len).map(move |n| {
            let lo = first.max(n * out_len) - n * out_len;
            let hi = last.min((n + 1) * out_len) - n * out_len;
            (n, lo, hi)
        })
    };
    // Each run sums into its own [kt][c_out][c_in] accumulator.
    let partial: Vec<Vec<f32>> = (0..splits)
        .into_par_iter()
        .map(|s| {
            let mut part = vec![0.0f32; kt * pairs];
            for (n, lo, hi) in runs(s) {
                for k in 0..kt {
                    // SAFETY: dW_k (row-major [c_out, c_in]) inside `part`, dy[n, :, lo..hi]
                    // and the channels-last rows k·plane + lo .. k·plane + hi of x[n]
                    // ([hi − lo, c_in], row-major), all in bounds.
                    unsafe {
                        matmul(
                            [c_out, c_in, hi - lo],
                            (part.as_mut_ptr().add(k * pairs), 1, c_in),
                            (dy.as_ptr().add(n * c_out * out_len + lo), 1, out_len),
                            (
                                x_nhwc.as_ptr().add((n * in_len + k * g.plane + lo) * c_in),
                                1,
                                c_in,
                            ),
                            true,
                        );
                    }
                }
            }
            part
        })
        .collect();
    // Summed in run order, into the weight's [c_out][c_in][kt] layout.
    let mut dw = vec![0.0f32; kt * pairs];
    dw.par_chunks_mut(kt).enumerate().for_each(|(pair, taps)| {
        for part in &partial {
            for (k, d) in taps.iter_mut().enumerate() {
                *d += part[k * pairs + pair];
            }
        }
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex_host::test_data as data;

    /// Worst |got − want| relative to max |want|.
    fn rel_err(got: &[f32], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        got.iter()
            .zip(want)
            .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()))
            / scale
    }

    /// Forward, input and weight gradients against direct f64 sums, for a 3-frame and a
    /// pointwise kernel, two batch elements whose positions span several blocks (the last one
    /// partial), weight-gradient runs that cross from one batch element into the next, and
    /// one to three threads.
    #[test]
    fn passes_match_direct_sums() {
        for kt in [3, 1] {
            let g = Temporal {
                batch: 2,
                c_in: 5,
                c_out: 3,
                frames: 5,
                plane: 13 * 17,
                kt,
            };
            let (t_out, p) = (g.out_frames(), g.plane);
            let x = data(g.batch * g.c_in * g.frames * p, 1);
            let w = data(g.c_out * g.c_in * kt, 2);
            let b = data(g.c_out, 3);
            let dy = data(g.batch * g.c_out * t_out * p, 4);
            let xi = |n: usize, ci: usize, t: usize, q: usize| {
                ((n * g.c_in + ci) * g.frames + t) * p + q
            };
            let yi =
                |n: usize, co: usize, t: usize, q: usize| ((n * g.c_out + co) * t_out + t) * p + q;
            let wi = |co: usize, ci: usize, k: usize| (co * g.c_in + ci) * kt + k;
            // x channels-last: [n][t·plane + q][ci].
            let mut x_nhwc = vec![0f32; x.len()];
            for n in 0..g.batch {
                for ci in 0..g.c_in {
                    for tq in 0..g.frames * p {
                        x_nhwc[(n * g.frames * p + tq) * g.c_in + ci] = x[xi(n, ci, 0, tq)];
                    }
                }
            }

            let mut y = vec![0f64; dy.len()];
            let mut dx = vec![0f64; x.len()];
            let mut dw = vec![0f64; w.len()];
            for n in 0..g.batch {
                for co in 0..g.c_out {
                    for t in 0..t_out {
                        for q in 0..p {
                            let d = dy[yi(n, co, t, q)] as f64;
                            let mut s = b[co] as f64;
                            for ci in 0..g.c_in {
                                for k in 0..kt {
                                    let (xv, wv) =
                                        (x[xi(n, ci, t + k, q)] as f64, w[wi(co, ci, k)] as f64);
                                    s += wv * xv;
                                    dx[xi(n, ci, t + k, q)] += wv * d;
                                    dw[wi(co, ci, k)] += xv * d;
                                }
                            }
                            y[yi(n, co, t, q)] = s;
                        }
                    }
                }
            }
            for threads in 1..=3 {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (got_y, got_dx, got_dw) = pool.install(|| {
                    (
                        forward(&x, &w, Some(&b), &g),
                        input_grad(&dy, &w, &g),
                        weight_grad(&x_nhwc, &dy, &g),
                    )
                });
                let tol = 1e-6;
                assert!(
                    rel_err(&got_y, &y) <= tol,
                    "kt {kt}, {threads} threads: forward"
                );
                assert!(
                    rel_err(&got_dx, &dx) <= tol,
                    "kt {kt}, {threads} threads: dx"
                );
                assert!(
                    rel_err(&got_dw, &dw) <= tol,
                    "kt {kt}, {threads} threads: dw"
                );
                if threads > 1 {
                    // Fixed runs: the weight gradient does not depend on the thread count.
                    let one = weight_grad(&x_nhwc, &dy, &g);
                    assert_eq!(
                        got_dw, one,
                        "kt {kt}: weight gradient with {threads} threads"
                    );
                }
            }
        }
    }
}
