//! One 3-D Haar level (docs/architecture.md §3) and its inverse as direct, parallel Flex kernels.
//!
//! burn has no op for "each 2×2×2 block times an 8×8 matrix", so cosmotok-model's `wavelet.rs` writes it
//! as reshape → 6-D permute → [N, 8]·[8, 8] matmul → permute: two strided copies of the whole
//! clip and a GEMM with K = 8 per level, on the full-resolution input (encode) and output
//! (decode). Here one pass reads each block, multiplies it by the same matrix (the same
//! products summed in the same order) and writes the bands, one (batch, channel, frame pair)
//! per rayon task. The level is linear, so its gradient is its transpose: the backward pass is
//! the other kernel with the transposed matrix. Even T, H and W only (the caller pads).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::prelude::*;
use rayon::prelude::*;

use crate::flex_host::{SharedMut, f32_tensor, on_flex_f32};

/// The extension operations.
#[backend_extension(Flex, Autodiff)]
pub trait Haar3d: Backend {
    /// `m` is the 8×8 band matrix, row-major [element t·4 + h·2 + w, band 4·t + 2·h + w].
    /// Forward: [B, C, T, H, W] → [B, 8C, T/2, H/2, W/2], channel band·C + c, out = block · m.
    /// Inverse (`inverse`): [B, 8C, T, H, W] → [B, C, 2T, 2H, 2W], block = bands · m.
    fn haar3d(x: FloatTensor<Self>, m: [f32; 64], inverse: bool) -> FloatTensor<Self>;
}

/// `m` transposed.
pub fn transpose(m: &[f32; 64]) -> [f32; 64] {
    std::array::from_fn(|i| m[(i % 8) * 8 + i / 8])
}

/// Blocks → bands: x [B, C, T, H, W] (even T, H, W) → [B, 8C, T/2, H/2, W/2].
fn to_bands(x: &[f32], [b, c, t, h, w]: [usize; 5], m: &[f32; 64]) -> Vec<f32> {
    let (t2, h2, w2) = (t / 2, h / 2, w / 2);
    let plane = h2 * w2;
    let mut out = vec![0.0f32; x.len()];
    let dst = SharedMut(out.as_mut_ptr());
    (0..b * c * t2).into_par_iter().for_each(|task| {
        let (bc, z) = (task / t2, task % t2);
        let (n, ch) = (bc / c, bc % c);
        let src = &x[(bc * t + 2 * z) * h * w..][..2 * h * w];
        // SAFETY: band planes (n, band·C + ch, z) belong to this task alone.
        let mut bands: [&mut [f32]; 8] = std::array::from_fn(|band| unsafe {
            let at = ((n * 8 * c + band * c + ch) * t2 + z) * plane;
            std::slice::from_raw_parts_mut(dst.at(at), plane)
        });
        for y in 0..h2 {
            for xx in 0..w2 {
                let mut e = [0.0f32; 8];
                for (i, v) in e.iter_mut().enumerate() {
                    let (dt, dy, dx) = (i / 4, (i / 2) % 2, i % 2);
                    *v = src[(dt * h + 2 * y + dy) * w + 2 * xx + dx];
                }
                for (band, plane) in bands.iter_mut().enumerate() {
                    let mut acc = 0.0f32;
                    for (i, v) in e.iter().enumerate() {
                        acc += v * m[i * 8 + band];
                    }
                    plane[y * w2 + xx] = acc;
                }
            }
        }
    });
    out
}

/// Bands → blocks: x [B, 8C, T, H, W] → [B, C, 2T, 2H, 2W], block element e = Σ_band x·m[band, e].
fn from_bands(x: &[f32], [b, c8, t, h, w]: [usize; 5], m: &[f32; 64]) -> Vec<f32> {
    let c = c8 / 8;
    let plane = h * w;
    let (h2, w2) = (2 * h, 2 * w);
    let mut out = vec![0.0f32; x.len()];
    let dst = SharedMut(out.as_mut_ptr());
    (0..b * c * t).into_par_iter().for_each(|task| {
        let (bc, z) = (task / t, task % t);
        let (n, ch) = (bc / c, bc % c);
        let bands: [&[f32]; 8] = std::array::from_fn(|band| {
            &x[((n * 8 * c + band * c + ch) * t + z) * plane..][..plane]
        });
        // SAFETY: output frames 2z and 2z + 1 of (n, ch) belong to this task alone.
        let frames = unsafe {
            std::slice::from_raw_parts_mut(dst.at((bc * 2 * t + 2 * z) * h2 * w2), 2 * h2 * w2)
        };
        for y in 0..h {
            for xx in 0..w {
                let v: [f32; 8] = std::array::from_fn(|band| bands[band][y * w + xx]);
                for i in 0..8 {
                    let (dt, dy, dx) = (i / 4, (i / 2) % 2, i % 2);
                    let mut acc = 0.0f32;
                    for (band, v) in v.iter().enumerate() {
                        acc += v * m[band * 8 + i];
                    }
                    frames[(dt * h2 + 2 * y + dy) * w2 + 2 * xx + dx] = acc;
                }
            }
        }
    });
    out
}

fn run(x: FlexTensor, m: &[f32; 64], inverse: bool) -> FlexTensor {
    let x = x.to_contiguous();
    let s = x.layout().shape();
    let dims = [s[0], s[1], s[2], s[3], s[4]];
    let [b, c, t, h, w] = dims;
    let (data, shape) = if inverse {
        (
            from_bands(x.storage(), dims, m),
            [b, c / 8, 2 * t, 2 * h, 2 * w],
        )
    } else {
        (
            to_bands(x.storage(), dims, m),
            [b, 8 * c, t / 2, h / 2, w / 2],
        )
    };
    f32_tensor(data, &shape)
}

impl Haar3d for Flex {
    fn haar3d(x: FloatTensor<Self>, m: [f32; 64], inverse: bool) -> FloatTensor<Self> {
        run(x, &m, inverse)
    }
}

#[derive(Debug)]
struct Haar3dBackward;

impl<B: Haar3d> Backward<B, 1> for Haar3dBackward {
    /// The matrix and the direction.
    type State = ([f32; 64], bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (m, inverse) = ops.state;
        if let Some(node) = node_x {
            // out = block · m (forward) or block = bands · m (inverse): the gradient is the
            // other direction with mᵀ.
            grads.register::<B>(node.id, B::haar3d(grad, transpose(&m), !inverse));
        }
    }
}

impl<B: Backend + Haar3d, C: CheckpointStrategy> Haar3d for Autodiff<B, C> {
    fn haar3d(x: FloatTensor<Self>, m: [f32; 64], inverse: bool) -> FloatTensor<Self> {
        match Haar3dBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::haar3d(x.into_primitive(), m, inverse);
                prep.finish((m, inverse), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::haar3d(x.into_primitive(), m, inverse)),
        }
    }
}

/// Whether [`haar3d`] applies: Flex, f32, even T, H, W (forward) or a multiple of 8 channels
/// (inverse).
pub fn applies(x: &Tensor<5>, inverse: bool) -> bool {
    let [_, c, t, h, w] = x.dims();
    on_flex_f32(x)
        && if inverse {
            c % 8 == 0
        } else {
            t % 2 == 0 && h % 2 == 0 && w % 2 == 0
        }
}

/// One level (see [`Haar3d::haar3d`]); callers check [`applies`] first.
pub fn haar3d(x: Tensor<5>, m: [f32; 64], inverse: bool) -> Tensor<5> {
    let out = <burn::backend::Dispatch as Haar3d>::haar3d(x.into_dispatch(), m, inverse);
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// An arbitrary (not orthogonal) matrix, so that a transposition mistake shows.
    fn matrix() -> [f32; 64] {
        std::array::from_fn(|i| ((i * 37 % 64) as f32 - 31.5) / 16.0)
    }

    fn host(t: Tensor<5>) -> Vec<f32> {
        t.into_data().try_to_vec().unwrap()
    }

    /// Both directions against the definition evaluated in f64, and their gradients (through
    /// autodiff) against the transposed map, on a batch of 2 with unequal T, H, W.
    #[test]
    fn levels_and_gradients_match_the_definition() {
        let dev = Device::flex().autodiff();
        dev.seed(5);
        let m = matrix();
        let (b, c, t, h, w) = (2, 3, 4, 6, 10);
        for inverse in [false, true] {
            let in_shape = if inverse {
                [b, 8 * c, t, h, w]
            } else {
                [b, c, 2 * t, 2 * h, 2 * w]
            };
            let out_shape = if inverse {
                [b, c, 2 * t, 2 * h, 2 * w]
            } else {
                [b, 8 * c, t, h, w]
            };
            let x =
                Tensor::<5>::random(in_shape, Distribution::Normal(0.0, 1.0), &dev).require_grad();
            let wgt = Tensor::<5>::random(out_shape, Distribution::Normal(0.0, 1.0), &dev);
            let y = haar3d(x.clone(), m, inverse);
            assert_eq!(y.dims(), out_shape);
            let g = y.clone().mul(wgt.clone()).sum().backward();
            let (xv, yv, wv, gv) = (
                host(x.clone().inner()),
                host(y.inner()),
                host(wgt.inner()),
                host(x.grad(&g).unwrap()),
            );
            // Reference: for every block (n, ch, z, yy, xx) and element e / band k, the
            // block-side index and the band-side index, then out = Σ in · m.
            let mut want = vec![0f64; yv.len()];
            let mut want_grad = vec![0f64; xv.len()];
            let block_at = |n: usize, ch: usize, z: usize, yy: usize, xx: usize, e: usize| {
                let (dt, dy, dx) = (e / 4, (e / 2) % 2, e % 2);
                (((n * c + ch) * 2 * t + 2 * z + dt) * 2 * h + 2 * yy + dy) * 2 * w + 2 * xx + dx
            };
            let band_at = |n: usize, ch: usize, z: usize, yy: usize, xx: usize, k: usize| {
                (((n * 8 * c + k * c + ch) * t + z) * h + yy) * w + xx
            };
            for n in 0..b {
                for ch in 0..c {
                    for z in 0..t {
                        for yy in 0..h {
                            for xx in 0..w {
                                for e in 0..8 {
                                    for k in 0..8 {
                                        let (bi, ki) = (
                                            block_at(n, ch, z, yy, xx, e),
                                            band_at(n, ch, z, yy, xx, k),
                                        );
                                        if inverse {
                                            let mk = m[k * 8 + e] as f64;
                                            want[bi] += xv[ki] as f64 * mk;
                                            want_grad[ki] += wv[bi] as f64 * mk;
                                        } else {
                                            let me = m[e * 8 + k] as f64;
                                            want[ki] += xv[bi] as f64 * me;
                                            want_grad[bi] += wv[ki] as f64 * me;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let worst = |got: &[f32], want: &[f64]| {
                got.iter()
                    .zip(want)
                    .map(|(a, b)| (*a as f64 - b).abs())
                    .fold(0f64, f64::max)
            };
            let (ey, eg) = (worst(&yv, &want), worst(&gv, &want_grad));
            assert!(
                ey < 1e-5 && eg < 1e-5,
                "inverse {inverse}: values {ey:e}, grads {eg:e}"
            );
        }
    }
}
