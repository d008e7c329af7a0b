//! The frozen VGG-16 of the perceptual and Gram losses, run on host memory: forward pass and
//! input gradient written on NHWC buffers with `gemm` (the matrix kernel burn-flex itself uses).
//! [`ReconLoss`](crate::ReconLoss) uses it on the Flex device; other devices keep burn's path
//! ([`Vgg16::features`] under autodiff), and the tests hold the two to each other and to the
//! PyTorch fixtures.
//!
//! Why it exists: the VGG is frozen, so a training step needs only the gradient with respect
//! to its input. For a 3×3, stride-1, padding-1 convolution that gradient is itself a 3×3
//! convolution of the (zero-padded) output gradient with the kernel flipped and its channels
//! transposed. burn's autodiff instead runs its generic transposed convolution (col2im), which
//! on Flex costs about twice PyTorch's time (BENCHMARKS.md, per-conv table).
//!
//! Activations live on a zero-padded NHWC grid ([`PaddedNhwc`]). Convolutions with at least
//! [`WINOGRAD_MIN_CHANNELS`] channels run as Winograd F(4×4, 3×3) ([`Winograd`]); narrower ones
//! (the first conv, and every conv of a narrow test VGG) as three GEMMs over the grid, one per
//! kernel row (`conv_grid`): in NHWC the three column taps of a pixel are three consecutive
//! pixels, so the GEMM reads them in place as one row of length 3·C_in — no im2col copy.
//! The Winograd convs add the bias and apply the ReLU (forward), or the ReLU mask of the layer
//! below (backward), as their output transform writes each value ([`Epilogue`]); the
//! element-wise passes left (the L1 term and its gradient, the tap masks, the pooling
//! gradient) are row kernels compiled for AVX-512 / AVX2 (`simd_fn!`).

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::config::GramMode;
use crate::vgg::{BLOCK_CONVS, LPIPS_SCALE, LPIPS_SHIFT, Vgg16};
use cosmotok_kernels::padded_nhwc::PaddedNhwc;
use cosmotok_kernels::winograd::{Epilogue, Plan, Winograd};

/// Convolutions whose input and output both have at least this many channels run as
/// Winograd convolutions ([`Winograd`]); narrower ones as three direct GEMMs (`conv_grid`),
/// where the Winograd transforms would cost more than the multiplications they save.
pub const WINOGRAD_MIN_CHANNELS: usize = 64;
/// Output tile of the Winograd convolutions: F(4×4, 3×3) (36 multiplications per 16 outputs).
pub const WINOGRAD_TILE: usize = 4;

/// The weights of one conv, in the layout of the kernel that runs it.
#[derive(Clone, Debug)]
enum Kernels {
    /// For [`conv_grid`]: forward `[ky][kx·C_in + ci][co]` = W[co, ci, ky, kx]; input gradient
    /// `[ky][kx·C_out + co][ci]` = W[co, ci, 2−ky, 2−kx].
    Direct {
        forward: Vec<f32>,
        backward: Vec<f32>,
    },
    /// The same two kernels in the Winograd domain.
    Winograd(Winograd, Winograd),
}

/// One 3×3 convolution (padding 1).
#[derive(Clone, Debug)]
struct Conv3x3 {
    c_in: usize,
    c_out: usize,
    kernels: Kernels,
    bias: Vec<f32>,
}

impl Conv3x3 {
    /// From PyTorch-layout weights `[C_out, C_in, 3, 3]` and bias `[C_out]`; Winograd
    /// F(`tile`, 3) when both channel counts are at least `winograd_min`.
    fn new(
        w: &[f32],
        bias: Vec<f32>,
        (c_in, c_out): (usize, usize),
        (winograd_min, tile): (usize, usize),
    ) -> Self {
        assert_eq!(w.len(), c_out * c_in * 9, "conv weight size");
        let wt =
            |co: usize, ci: usize, ky: usize, kx: usize| w[((co * c_in + ci) * 3 + ky) * 3 + kx];
        let kernels = if c_in.min(c_out) >= winograd_min {
            Kernels::Winograd(
                Winograd::new(tile, c_in, c_out, wt),
                Winograd::new(tile, c_out, c_in, |ci, co, ky, kx| {
                    wt(co, ci, 2 - ky, 2 - kx)
                }),
            )
        } else {
            let mut forward = vec![0.0; 9 * c_in * c_out];
            let mut backward = vec![0.0; 9 * c_in * c_out];
            for co in 0..c_out {
                for ci in 0..c_in {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let v = wt(co, ci, ky, kx);
                            forward[(ky * 3 * c_in + kx * c_in + ci) * c_out + co] = v;
                            let (fy, fx) = (2 - ky, 2 - kx);
                            backward[(fy * 3 * c_out + fx * c_out + co) * c_in + ci] = v;
                        }
                    }
                }
            }
            Kernels::Direct { forward, backward }
        };
        Self {
            c_in,
            c_out,
            kernels,
            bias,
        }
    }

    /// ReLU(conv(x) + bias), zero padding.
    fn forward(&self, x: &PaddedNhwc) -> PaddedNhwc {
        match &self.kernels {
            Kernels::Winograd(w, _) => w.conv_then(x, Epilogue::BiasRelu(&self.bias)),
            Kernels::Direct { forward, .. } => {
                let mut a = conv_grid(x, forward, self.c_out);
                let bias = &self.bias;
                a.map_interior(|v, ch| (v + bias[ch]).max(0.0));
                a
            }
        }
    }

    /// The gradient w.r.t. the input, from the (zero-padded) gradient w.r.t. the output; with
    /// `relu`, the input's own ReLU output, the gradient w.r.t. that ReLU's input (zero where
    /// `relu` is not positive). Padding pixels of the result: zero or garbage.
    fn backward(&self, grad_out: &PaddedNhwc, relu: Option<&PaddedNhwc>) -> PaddedNhwc {
        match (&self.kernels, relu) {
            (Kernels::Winograd(_, w), Some(act)) => w.conv_then(grad_out, Epilogue::Mask(act)),
            (Kernels::Winograd(_, w), None) => w.conv(grad_out),
            (Kernels::Direct { backward, .. }, relu) => {
                let mut g = conv_grid(grad_out, backward, self.c_in);
                if let Some(act) = relu {
                    relu_backward(&mut g, act);
                }
                g
            }
        }
    }
}

/// Threads for one GEMM: all of rayon's pool for big products, one for small ones (the same
/// threshold as burn-flex's matmul).
fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `out[p] = Σ_{ky,kx} x[p + (ky−1)·stride + kx − 1] · K[ky][kx]` for every grid pixel p, with
/// `kernel` laid out `[ky][kx·C_in + ci][co]` (C_in = `x.c`). Guards of the result are zero;
/// its padding pixels hold garbage until the caller masks them.
fn conv_grid(x: &PaddedNhwc, kernel: &[f32], c_out: usize) -> PaddedNhwc {
    let (c_in, s, g, m) = (x.c, x.stride(), x.guard(), x.pixels());
    let k = 3 * c_in;
    assert_eq!(kernel.len(), 3 * k * c_out, "kernel size");
    let mut out = PaddedNhwc::zeros(x.n, x.h, x.w, c_out);
    for ky in 0..3 {
        // Padded pixel p's top-left tap of row ky is p + (ky−1)·s − 1; with the guard g = s + 1
        // that is data pixel g + p + (ky−1)·s − 1 = p + ky·s ≥ 0, and the last read (p = m−1,
        // ky = 2, kx = 2) is pixel m + 2s + 1 < m + 2g: always in bounds.
        let lhs_start = ky * s * c_in;
        debug_assert!(lhs_start + (m - 1) * c_in + k <= x.data.len());
        // SAFETY: every index read or written is in bounds (above); `out` and `x` are distinct.
        unsafe {
            gemm(
                m,
                c_out,
                k,
                out.data.as_mut_ptr().add(g * c_out),
                1,
                c_out as isize,
                ky > 0,
                x.data.as_ptr().add(lhs_start),
                1,
                c_in as isize,
                kernel.as_ptr().add(ky * k * c_out),
                1,
                c_out as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(m, c_out, k),
            );
        }
    }
    out
}

/// 2×2 max pooling, stride 2 (floor), of the interior.
fn max_pool(a: &PaddedNhwc) -> PaddedNhwc {
    let (h2, w2, c) = (a.h / 2, a.w / 2, a.c);
    PaddedNhwc::from_rows(a.n, h2, w2, c, |r, row| {
        let (i, y) = PaddedNhwc::image_row(h2, r);
        for x in 0..w2 {
            let dst = &mut row[x * c..(x + 1) * c];
            let p = [
                a.at(i, 2 * y, 2 * x),
                a.at(i, 2 * y, 2 * x + 1),
                a.at(i, 2 * y + 1, 2 * x),
                a.at(i, 2 * y + 1, 2 * x + 1),
            ];
            for (ch, d) in dst.iter_mut().enumerate() {
                *d = p
                    .iter()
                    .map(|&q| a.data[q * c + ch])
                    .fold(f32::NEG_INFINITY, f32::max);
            }
        }
    })
}

/// Gradient of [`max_pool`]: each pooled gradient goes to the first maximum of its window in
/// row-major order (PyTorch's and burn's choice), added into `grad_a` (the gradient w.r.t. `a`).
fn max_pool_backward(a: &PaddedNhwc, grad_out: &PaddedNhwc, grad_a: &mut PaddedNhwc) {
    let (h2, w2, c) = (grad_out.h, grad_out.w, a.c);
    let (s, per) = (a.stride(), (a.h + 2) * a.stride());
    // Rows of grad_a, two input rows per pooled row; parallel over images.
    let g = a.guard();
    let m = a.pixels();
    grad_a.data[g * c..(g + m) * c]
        .par_chunks_mut(per * c)
        .enumerate()
        .for_each(|(i, img)| {
            for y in 0..h2 {
                // The window's four pixels, row-major: offsets from its top-left pixel.
                let top = a.at(i, 2 * y, 0) * c;
                let local = ((2 * y + 1) * s + 1) * c;
                for x in 0..w2 {
                    let (p, l) = (top + 2 * x * c, local + 2 * x * c);
                    let go = &grad_out.data[grad_out.at(i, y, x) * c..][..c];
                    pool_window_backward(
                        [
                            &a.data[p..p + c],
                            &a.data[p + c..p + 2 * c],
                            &a.data[p + s * c..p + (s + 1) * c],
                            &a.data[p + (s + 1) * c..p + (s + 2) * c],
                        ],
                        go,
                        &mut img[l..l + (s + 2) * c],
                        s * c,
                    );
                }
            }
        });
}

/// Runs the body compiled for AVX-512 or AVX2 + FMA where the CPU has them (the crate itself
/// is built for baseline x86-64, whose 4-wide SSE vectors leave these element loops 2–4×
/// slower).
macro_rules! simd_fn {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

simd_fn! {
    /// One pooling window's gradient: `go[ch]` added to the first of the four pixels `v`
    /// (row-major) holding the channel's maximum. `dst` starts at the window's top-left pixel;
    /// its bottom row starts `row` floats later.
    fn pool_window_backward(v: [&[f32]; 4], go: &[f32], dst: &mut [f32], row: usize) {
        let c = go.len();
        let (top, bottom) = dst.split_at_mut(row);
        let (d0, d1) = top[..2 * c].split_at_mut(c);
        let (d2, d3) = bottom[..2 * c].split_at_mut(c);
        for ch in 0..c {
            let (v0, v1, v2, v3) = (v[0][ch], v[1][ch], v[2][ch], v[3][ch]);
            let mx = v0.max(v1).max(v2.max(v3));
            let (m0, m1, m2) = (v0 == mx, v1 == mx, v2 == mx);
            let g = go[ch];
            d0[ch] += if m0 { g } else { 0.0 };
            d1[ch] += if !m0 && m1 { g } else { 0.0 };
            d2[ch] += if !m0 && !m1 && m2 { g } else { 0.0 };
            d3[ch] += if !m0 && !m1 && !m2 { g } else { 0.0 };
        }
    }
}

simd_fn! {
    /// `g` zeroed where `act` is not positive.
    fn relu_mask_row(g: &mut [f32], act: &[f32]) {
        for (gv, &av) in g.iter_mut().zip(act) {
            *gv = if av > 0.0 { *gv } else { 0.0 };
        }
    }
}

simd_fn! {
    /// Σ|b − a| of one row (16 f32 lanes, summed in f64 at the end), adding `scale·sign(b − a)`
    /// into `g`.
    fn l1_row(g: &mut [f32], a: &[f32], b: &[f32], scale: f32) -> f64 {
        const L: usize = 16;
        let mut lanes = [0.0f32; L];
        let mut gc = g.chunks_exact_mut(L);
        let (mut ac, mut bc) = (a.chunks_exact(L), b.chunks_exact(L));
        for ((gs, as_), bs) in (&mut gc).zip(&mut ac).zip(&mut bc) {
            for l in 0..L {
                let d = bs[l] - as_[l];
                lanes[l] += d.abs();
                gs[l] += if d > 0.0 {
                    scale
                } else if d < 0.0 {
                    -scale
                } else {
                    0.0
                };
            }
        }
        let mut sum: f64 = lanes.iter().map(|&v| v as f64).sum();
        for ((gv, &av), &bv) in gc.into_remainder().iter_mut().zip(ac.remainder()).zip(bc.remainder()) {
            let d = bv - av;
            sum += d.abs() as f64;
            *gv += if d > 0.0 {
                scale
            } else if d < 0.0 {
                -scale
            } else {
                0.0
            };
        }
        sum
    }
}

/// The VGG-16 convs (widths from the loaded network) on host memory.
#[derive(Clone, Debug)]
pub struct CpuVgg {
    convs: Vec<Conv3x3>,
}

/// Activations of one forward pass: the post-ReLU output of every conv (`None` where not kept).
struct Forward {
    acts: Vec<Option<PaddedNhwc>>,
}

/// Index of the last conv of each block (the relu1_2 … relu5_3 taps).
fn taps() -> [usize; 5] {
    let mut out = [0; 5];
    let mut k = 0;
    for (b, n) in BLOCK_CONVS.iter().enumerate() {
        k += n;
        out[b] = k - 1;
    }
    out
}

/// Loss values (unweighted by the schedules) and the gradient of `w_perc·perceptual +
/// w_gram·gram` with respect to x̂, in x̂'s [B, 3, T, H, W] layout.
#[derive(Clone, Debug)]
pub struct VggLoss {
    pub perceptual: f64,
    pub gram: f64,
    pub grad: Vec<f32>,
}

impl CpuVgg {
    /// Copies the weights of a loaded [`Vgg16`].
    pub fn new(vgg: &Vgg16) -> Self {
        Self::with_winograd(vgg, WINOGRAD_MIN_CHANNELS, WINOGRAD_TILE)
    }

    /// As [`new`](Self::new), with Winograd F(`tile`, 3) (2 or 4) for convs of at least
    /// `min_channels` channels in and out (0: every conv, `usize::MAX`: none).
    pub fn with_winograd(vgg: &Vgg16, min_channels: usize, tile: usize) -> Self {
        let convs = vgg
            .convs
            .iter()
            .map(|conv| {
                let [c_out, c_in, _, _] = conv.weight.dims();
                let w = conv
                    .weight
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32");
                let b = match &conv.bias {
                    Some(b) => b.val().into_data().try_to_vec::<f32>().expect("f32"),
                    None => vec![0.0; c_out],
                };
                Conv3x3::new(&w, b, (c_in, c_out), (min_channels, tile))
            })
            .collect();
        Self { convs }
    }

    /// The same network with every Winograd conv's work ordered by `plan` (by default each
    /// conv picks by its shape).
    pub fn with_plan(mut self, plan: Plan) -> Self {
        for conv in &mut self.convs {
            if let Kernels::Winograd(forward, backward) = &mut conv.kernels {
                *forward = forward.clone().with_plan(plan);
                *backward = backward.clone().with_plan(plan);
            }
        }
        self
    }

    /// Frames of a [B, 3, T, H, W] clip (row-major `data`) → the scaled VGG input grid
    /// ([B·T] images, frame-major within each clip, as [`frames_to_batch`](crate::perceptual::frames_to_batch)).
    fn input(data: &[f32], dims: [usize; 5]) -> PaddedNhwc {
        let [b, c, t, h, w] = dims;
        assert_eq!(c, 3, "VGG input must have 3 channels");
        let plane = h * w;
        PaddedNhwc::from_rows(b * t, h, w, 3, |r, row| {
            let (i, y) = PaddedNhwc::image_row(h, r);
            let (bi, ti) = (i / t, i % t);
            for ch in 0..3 {
                let src = ((bi * 3 + ch) * t + ti) * plane + y * w;
                let (sh, sc) = (LPIPS_SHIFT[ch], LPIPS_SCALE[ch]);
                for x in 0..w {
                    row[x * 3 + ch] = (data[src + x] - sh) / sc;
                }
            }
        })
    }

    /// Runs the convs; keeps every activation when `keep_all` (for the backward pass), else
    /// only the five taps.
    fn forward(&self, x: PaddedNhwc, keep_all: bool) -> Forward {
        let taps = taps();
        let mut acts: Vec<Option<PaddedNhwc>> = Vec::with_capacity(self.convs.len());
        let mut block_input = x;
        let mut k = 0;
        for (b, n) in BLOCK_CONVS.iter().enumerate() {
            if b > 0 {
                block_input = max_pool(acts[k - 1].as_ref().expect("taps are kept"));
            }
            for j in 0..*n {
                let conv = &self.convs[k];
                let input = if j == 0 {
                    &block_input
                } else {
                    acts[k - 1].as_ref().expect("the previous conv's output")
                };
                let a = conv.forward(input);
                if j > 0 && !keep_all && !taps.contains(&(k - 1)) {
                    acts[k - 1] = None;
                }
                acts.push(Some(a));
                k += 1;
            }
        }
        Forward { acts }
    }

    /// The perceptual loss Σ_l w_l·mean|f_l(x) − f_l(x̂)| and the Gram loss
    /// Σ_l w_l·mean(G_l(x) − G_l(x̂))² (docs/architecture.md §9.2, the same definitions as
    /// [`FeaturePair`](crate::perceptual::FeaturePair)), plus the gradient of
    /// `w_perc·perceptual + w_gram·gram` w.r.t. x̂. `x` and `xhat` are row-major
    /// [B, 3, T, H, W]. A zero weight skips that loss (its value is then 0).
    pub fn loss(
        &self,
        x: &[f32],
        xhat: &[f32],
        dims: [usize; 5],
        w_perc: f64,
        w_gram: f64,
        gram_mode: GramMode,
    ) -> VggLoss {
        let [batch, _, frames, h, w] = dims;
        let taps = taps();
        let fx = self.forward(Self::input(x, dims), false);
        let fy = self.forward(Self::input(xhat, dims), true);
        let mut perceptual = 0.0;
        let mut gram = 0.0;
        // Gradient w.r.t. each tap, accumulated from both losses.
        let mut tap_grads: Vec<PaddedNhwc> = Vec::with_capacity(5);
        for (l, &k) in taps.iter().enumerate() {
            let a = fx.acts[k].as_ref().expect("tap");
            let b = fy.acts[k].as_ref().expect("tap");
            let lw = crate::perceptual::LAYER_WEIGHTS[l];
            let mut g = PaddedNhwc::zeros(b.n, b.h, b.w, b.c);
            if w_perc != 0.0 {
                let count = (b.n * b.h * b.w * b.c) as f64;
                perceptual += lw * l1_and_grad(a, b, &mut g, (w_perc * lw / count) as f32) / count;
            }
            if w_gram != 0.0 {
                gram += lw * gram_and_grad(a, b, &mut g, batch, frames, gram_mode, w_gram * lw);
            }
            tap_grads.push(g);
        }
        // Backward through the convs, last to first.
        let mut grad: Option<PaddedNhwc> = None;
        let mut k = self.convs.len();
        for (b, n) in BLOCK_CONVS.iter().enumerate().rev() {
            // Gradient w.r.t. this block's output (its tap): from the loss, plus from the
            // pooled path into the next block.
            let mut g_tap = tap_grads.pop().expect("one per block");
            debug_assert_eq!(tap_grads.len(), b);
            if let Some(next) = grad.take() {
                max_pool_backward(fy.acts[k - 1].as_ref().expect("kept"), &next, &mut g_tap);
            }
            // Through the tap's ReLU: zero where its output was clipped (and on the padding).
            relu_backward(&mut g_tap, fy.acts[k - 1].as_ref().expect("kept"));
            let mut g = g_tap;
            for j in (0..*n).rev() {
                k -= 1;
                // Within the block, the conv's input is the previous conv's ReLU output: the
                // backward conv passes its gradient through that ReLU as it writes it. The
                // result's padding is zero (the Winograd convs, and the mask), except from a
                // direct conv without a mask (a block's first conv), whose result the pooling
                // gradient and the final read take the interior of.
                let relu = (j > 0).then(|| fy.acts[k - 1].as_ref().expect("kept"));
                g = self.convs[k].backward(&g, relu);
            }
            grad = Some(g);
        }
        let g0 = grad.expect("input gradient");
        // Padded buffer (scaled input) → x̂ layout; d/dx of (x − shift)/scale is 1/scale.
        let mut out = vec![0.0f32; x.len()];
        let plane = h * w;
        out.par_chunks_mut(frames * plane)
            .enumerate()
            .for_each(|(bc, chunk)| {
                let (bi, ch) = (bc / 3, bc % 3);
                let inv = 1.0 / LPIPS_SCALE[ch];
                for ti in 0..frames {
                    for y in 0..h {
                        let p = g0.at(bi * frames + ti, y, 0);
                        for xx in 0..w {
                            chunk[ti * plane + y * w + xx] = g0.data[(p + xx) * 3 + ch] * inv;
                        }
                    }
                }
            });
        VggLoss {
            perceptual,
            gram,
            grad: out,
        }
    }
}

/// `g` through the ReLU whose output is `act`: zero where `act` is not positive (and on the
/// padding).
fn relu_backward(g: &mut PaddedNhwc, act: &PaddedNhwc) {
    g.for_each_interior_row(|r, row| relu_mask_row(row, act.interior_row(r)));
}

/// Σ|b − a| over the interior (f64 per row), adding `scale·sign(b − a)` into `g`.
fn l1_and_grad(a: &PaddedNhwc, b: &PaddedNhwc, g: &mut PaddedNhwc, scale: f32) -> f64 {
    g.sum_interior_rows(|r, gr| l1_row(gr, a.interior_row(r), b.interior_row(r), scale))
}

/// Gram matrices `Fᵀ F / count` of the groups (clips or frames) of a tap, [groups][C·C].
fn gram_matrices(f: &PaddedNhwc, group: usize) -> Vec<Vec<f32>> {
    let c = f.c;
    let count = (group * f.h * f.w) as f32;
    (0..f.n / group)
        .map(|gi| {
            let (start, rows) = f.image_rows(gi * group, (gi + 1) * group);
            let mut out = vec![0.0f32; c * c];
            // SAFETY: rows `start..start+rows` of `f` exist; `out` is C×C.
            unsafe {
                gemm(
                    c,
                    c,
                    rows,
                    out.as_mut_ptr(),
                    1,
                    c as isize,
                    false,
                    f.data.as_ptr().add(start * c),
                    c as isize,
                    1,
                    f.data.as_ptr().add(start * c),
                    1,
                    c as isize,
                    0.0,
                    1.0 / count,
                    false,
                    false,
                    false,
                    parallelism(c, c, rows),
                );
            }
            out
        })
        .collect()
}

/// Σ over groups mean (G(b) − G(a))² (f64), adding `weight·∂/∂b` of it into `g`.
fn gram_and_grad(
    a: &PaddedNhwc,
    b: &PaddedNhwc,
    g: &mut PaddedNhwc,
    batch: usize,
    frames: usize,
    mode: GramMode,
    weight: f64,
) -> f64 {
    let group = match mode {
        GramMode::Clip => frames,
        GramMode::Frame => 1,
    };
    debug_assert_eq!(b.n, batch * frames);
    let c = b.c;
    let ga = gram_matrices(a, group);
    let gb = gram_matrices(b, group);
    let numel = (ga.len() * c * c) as f64;
    let count = (group * b.h * b.w) as f64;
    let mut loss = 0.0f64;
    for (gi, (ma, mb)) in ga.iter().zip(&gb).enumerate() {
        // L = Σ(Gb − Ga)² / numel; ∂L/∂Gb = 2(Gb − Ga)/numel (symmetric), and with
        // Gb = Fᵀ F / count, ∂L/∂F = F · 2·∂L/∂Gb / count.
        let mut d = vec![0.0f32; c * c];
        for ((dv, va), vb) in d.iter_mut().zip(ma).zip(mb) {
            let diff = (*vb - *va) as f64;
            loss += diff * diff;
            *dv = (4.0 * diff / numel / count * weight) as f32;
        }
        let (start, rows) = b.image_rows(gi * group, (gi + 1) * group);
        // SAFETY: rows `start..start+rows` exist in both grids (same geometry); `d` is C×C.
        unsafe {
            gemm(
                rows,
                c,
                c,
                g.data.as_mut_ptr().add(start * c),
                1,
                c as isize,
                true,
                b.data.as_ptr().add(start * c),
                1,
                c as isize,
                d.as_ptr(),
                1,
                c as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(rows, c, c),
            );
        }
    }
    loss / numel
}
