//! The causal convs' spatial 1×3×3 convolutions (stride 1, H/W padding 1) as Winograd
//! F(4×4, 3×3) convolutions ([`crate::winograd`]) on Flex's host buffers: 36 multiplications
//! per 16 outputs and channel pair instead of 144.
//!
//! Every frame of x [N, C, T, H, W] is one image: the input is copied to a zero-padded NHWC
//! [`PaddedNhwc`] of N·T images (the copy the im2col path makes nine times over) and convolved; the
//! output transform writes [N, C_out, T, H, W] directly, with the bias added. The forward pass,
//! the input gradient (the kernel flipped, its channel axes swapped) and the weight gradient
//! (the transposed algorithm, [`crate::winograd::weight_grad`]) run here;
//! [`crate::flex_conv`] keeps everything else, and the convs narrower than [`MIN_CHANNELS`] or
//! smaller than [`MIN_TILES`] or [`MIN_WORK`], where the transforms cost more than the
//! multiplications they save.
//!
//! Accuracy: F(4×4, 3×3) rounds differently from a direct sum (its transforms scale values by
//! up to 8 and back): a few tens of f32 ε of the output's magnitude instead of a few ε
//! ([`tolerance`], tested against f64 sums).

use crate::padded_nhwc::PaddedNhwc;
use crate::winograd::Winograd;

/// Output tile: F(4×4, 3×3).
pub const TILE: usize = 4;
/// Both channel counts must be at least this for the Winograd path (below it the transforms,
/// which are per channel, cost more than the GEMMs they shrink).
pub const MIN_CHANNELS: usize = 32;
/// And at least this many output tiles (N·T·⌈H/4⌉·⌈W/4⌉)…
pub const MIN_TILES: usize = 16;
/// …and at least this much work, tiles · C_in · C_out: below it the per-conv kernel transform
/// and the small GEMMs cost more than they save. Measured against the im2col kernel (one and
/// two threads): 128 → 128 channels on 16 or 32 tiles 0.47–0.70× its time, on 8 tiles
/// 0.9–1.4×; 64 → 128 on 32 tiles 0.74–0.78×, 64 → 64 on 32 tiles 0.89–0.97×; 32 → 32 on 48
/// tiles 0.9–1.07×, on 8 tiles 1.2–1.3×.
pub const MIN_WORK: usize = 1 << 17;

/// Whether a conv of this shape runs here: kernel 1×3×3, stride 1, padding (0, 1, 1), no
/// dilation, at least [`MIN_CHANNELS`] input and output channels, [`MIN_TILES`] tiles and
/// [`MIN_WORK`] (`frames` = N·T images of `height`×`width`).
pub fn applies(
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
    dilation: [usize; 3],
    (c_in, c_out): (usize, usize),
    [frames, height, width]: [usize; 3],
) -> bool {
    kernel == [1, 3, 3]
        && stride == [1, 1, 1]
        && padding == [0, 1, 1]
        && dilation == [1, 1, 1]
        && c_in.min(c_out) >= MIN_CHANNELS
        && {
            let tiles = frames * height.div_ceil(TILE) * width.div_ceil(TILE);
            tiles >= MIN_TILES && tiles * c_in * c_out >= MIN_WORK
        }
}

/// The error bound the tests hold the Winograd conv to, relative to the largest output
/// magnitude: 4ε·√(9·C_in), a rounding error that grows like a sum of 9·C_in terms (measured on
/// random data: 14–39 ε at 32–33 input channels, 55 ε at 128; a direct f32 sum stays within a
/// few ε). For scale, the released models run in bf16, whose ε is 65 536 times f32's.
pub fn tolerance(c_in: usize) -> f32 {
    4.0 * f32::EPSILON * ((9 * c_in) as f32).sqrt()
}

/// The error bound the tests hold the weight gradient to, relative to its largest magnitude,
/// for a sum over `positions` output positions: 4ε·√positions (measured: 16 ε over 420
/// positions at 33 → 35 channels).
pub fn grad_tolerance(positions: usize) -> f32 {
    4.0 * f32::EPSILON * (positions as f32).sqrt()
}

/// The forward kernel of weight [C_out, C_in, 1, 3, 3] (PyTorch's layout).
pub fn forward_kernel(weight: &[f32], c_in: usize, c_out: usize) -> Winograd {
    assert_eq!(weight.len(), c_out * c_in * 9, "1×3×3 conv weight size");
    Winograd::from_tap_rows(TILE, c_in, c_out, |ci, g| {
        // Kernel (co, ci) is weight[co][ci][..9].
        for (co, kernels) in weight.chunks_exact(c_in * 9).enumerate() {
            for (t, &v) in kernels[ci * 9..][..9].iter().enumerate() {
                g[t * c_out + co] = v;
            }
        }
    })
}

/// The input-gradient kernel of the same weight: flipped, C_out → C_in.
pub fn input_grad_kernel(weight: &[f32], c_in: usize, c_out: usize) -> Winograd {
    assert_eq!(weight.len(), c_out * c_in * 9, "1×3×3 conv weight size");
    // Its input channel `co` reads weight[co][..][..9] (one contiguous block), flipped.
    Winograd::from_tap_rows(TILE, c_out, c_in, |co, g| {
        for (ci, taps) in weight[co * c_in * 9..][..c_in * 9]
            .chunks_exact(9)
            .enumerate()
        {
            for (t, &v) in taps.iter().rev().enumerate() {
                g[t * c_in + ci] = v;
            }
        }
    })
}

/// The 3×3 conv (padding 1) of every frame of `x` ([N, C_in, T, H, W]) with `kernel`, plus
/// `bias`: [N, C_out, T, H, W].
pub fn conv(
    x: &[f32],
    [n, c, t, h, w]: [usize; 5],
    kernel: &Winograd,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    kernel.conv_ncdhw(&to_grid(x, [n, c, t, h, w]), t, bias)
}

/// dL/dweight of the conv of [`conv`] for the output gradient `dy` ([N, C_out, T, H, W]):
/// [C_out, C_in, 1, 3, 3] ([`crate::winograd::weight_grad`]).
pub fn weight_grad(x: &[f32], dy: &[f32], [n, c, t, h, w]: [usize; 5], c_out: usize) -> Vec<f32> {
    crate::winograd::weight_grad(
        TILE,
        &to_grid(x, [n, c, t, h, w]),
        &to_grid(dy, [n, c_out, t, h, w]),
    )
}

/// x [N, C, T, H, W] → the grid of its N·T frames (image n·T + t).
fn to_grid(x: &[f32], [n, c, t, h, w]: [usize; 5]) -> PaddedNhwc {
    assert_eq!(x.len(), n * c * t * h * w, "conv input size");
    /// Channels per transposed block: one AVX-512 vector per pixel.
    const BLOCK: usize = 16;
    let plane = t * h * w;
    PaddedNhwc::from_rows(n * t, h, w, c, |r, row| {
        let (img, y) = PaddedNhwc::image_row(h, r);
        let (b, f) = (img / t, img % t);
        // x index of (b, channel 0, f, y, 0); channel ch is `ch · plane` further.
        let at = ((b * c * t + f) * h + y) * w;
        let full = c / BLOCK * BLOCK;
        for ch0 in (0..full).step_by(BLOCK) {
            let src: [&[f32]; BLOCK] = std::array::from_fn(|k| &x[at + (ch0 + k) * plane..][..w]);
            for (px, dst) in row.chunks_exact_mut(c).enumerate() {
                let v: [f32; BLOCK] = std::array::from_fn(|k| src[k][px]);
                dst[ch0..ch0 + BLOCK].copy_from_slice(&v);
            }
        }
        for ch in full..c {
            let src = &x[at + ch * plane..][..w];
            for (px, &v) in src.iter().enumerate() {
                row[px * c + ch] = v;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex_host::test_data as data;

    /// Every tap of the 1×3×3 conv with padding 1 on [n, c, t, h, w] with `co` output
    /// channels: `f(y index, x index, w index)` for each output value, input channel and
    /// kernel position whose input pixel lies inside the frame (row-major indices of y
    /// [n, co, t, h, w], x and the PyTorch weight [co, c, 1, 3, 3]). The three direct sums
    /// below (forward, input and weight gradients) accumulate over these triples.
    fn for_each_tap(
        [n, c, t, h, w]: [usize; 5],
        co: usize,
        mut f: impl FnMut(usize, usize, usize),
    ) {
        for b in 0..n {
            for o in 0..co {
                for ci in 0..c {
                    for fr in 0..t {
                        for y in 0..h {
                            for xx in 0..w {
                                let out = (((b * co + o) * t + fr) * h + y) * w + xx;
                                for ky in 0..3 {
                                    for kx in 0..3 {
                                        let (iy, ix) = (y + ky, xx + kx);
                                        if iy < 1 || ix < 1 || iy > h || ix > w {
                                            continue;
                                        }
                                        let inp =
                                            (((b * c + ci) * t + fr) * h + iy - 1) * w + ix - 1;
                                        f(out, inp, ((o * c + ci) * 3 + ky) * 3 + kx);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// (max |got − want|, max |want|).
    fn max_err(got: &[f32], want: &[f64]) -> (f64, f64) {
        let err = got
            .iter()
            .zip(want)
            .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        (err, want.iter().fold(0.0f64, |m, v| m.max(v.abs())))
    }

    #[test]
    fn forward_and_input_grad_match_direct_sums() {
        // 7×10 frames: partial tiles on both axes; 2 batch elements × 3 frames.
        let (n, c, co, t, h, w) = (2, 33, 35, 3, 7, 10);
        let dims = [n, c, t, h, w];
        let x = data(n * c * t * h * w, 1);
        let wt = data(co * c * 9, 2);
        let bias = data(co, 3);
        let y = conv(&x, dims, &forward_kernel(&wt, c, co), Some(&bias));
        // y[o] = bias[o] + Σ_{ci, ky, kx} w[o, ci, ky, kx] · x[ci](y + ky − 1, x + kx − 1).
        let mut want = vec![0.0f64; y.len()];
        for (out, v) in want.iter_mut().enumerate() {
            *v = bias[out / (t * h * w) % co] as f64;
        }
        for_each_tap(dims, co, |out, inp, k| {
            want[out] += x[inp] as f64 * wt[k] as f64
        });
        let (err, scale) = max_err(&y, &want);
        assert!(
            err <= tolerance(c) as f64 * scale,
            "forward err {err} (scale {scale})"
        );

        // dL/dx for dL/dy = g: x'[ci] = Σ_co g[co] ⋆ flip(w[co, ci]), i.e. each tap's
        // w · g[out] goes to the input pixel it read.
        let g = data(n * co * t * h * w, 4);
        let dx = conv(&g, [n, co, t, h, w], &input_grad_kernel(&wt, c, co), None);
        let mut want = vec![0.0f64; x.len()];
        for_each_tap(dims, co, |out, inp, k| {
            want[inp] += g[out] as f64 * wt[k] as f64
        });
        let (err, scale) = max_err(&dx, &want);
        assert!(
            err <= tolerance(co) as f64 * scale,
            "input grad err {err} (scale {scale})"
        );

        // dL/dw[o, ci, ky, kx] = Σ g[o](y, x) · x[ci](y + ky − 1, x + kx − 1), with one to three
        // threads (the same result on each).
        let mut want = vec![0.0f64; wt.len()];
        for_each_tap(dims, co, |out, inp, k| {
            want[k] += g[out] as f64 * x[inp] as f64
        });
        let mut first: Option<Vec<f32>> = None;
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let dw = pool.install(|| weight_grad(&x, &g, dims, co));
            let (err, scale) = max_err(&dw, &want);
            assert!(
                err <= grad_tolerance(n * t * h * w) as f64 * scale,
                "weight grad err {err} (scale {scale}, {threads} threads)"
            );
            match &first {
                None => first = Some(dw),
                Some(one) => assert_eq!(&dw, one, "weight grad with {threads} threads"),
            }
        }
    }
}
