//! LPIPS (Zhang et al. 2018, the `lpips` package, v0.1, VGG backbone): the perceptual distance
//! TokenBench reports. For images `x0`, `x1` in `[-1, 1]`:
//!
//! ```text
//! f_l  = relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of VGG-16 after the scaling layer
//!        (x − shift) / scale                                  ([`Vgg16::features`])
//! n(f) = f / (sqrt(Σ_c f²) + 1e-10)                          (unit length per pixel)
//! d    = Σ_l mean_{h,w} Σ_c w_l[c] · (n(f0_l) − n(f1_l))²    (w_l: the `lin` 1×1 convs)
//! ```
//!
//! Weights: the VGG-16 backbone is torchvision's (`scripts/convert_vgg16.py`); the linear heads
//! ship in the `lpips` PyPI package (`lpips/weights/v0.1/vgg.pth`), converted by
//! `scripts/convert_lpips.py` to `lin0.weight` … `lin4.weight` ([1, C, 1, 1]).

use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::LossError;
use crate::vgg::Vgg16;

/// `normalize_tensor`'s epsilon in the `lpips` package.
const NORM_EPS: f32 = 1e-10;

/// The LPIPS network: a VGG-16 and one linear head per tapped layer.
#[derive(Debug, Clone)]
pub struct Lpips {
    vgg: Vgg16,
    /// `[1, C_l, 1, 1]` non-negative channel weights, one per layer.
    lins: Vec<Tensor<4>>,
}

impl Lpips {
    /// From a VGG-16 and the linear heads' weights (`[C_l]` each, layer order).
    pub fn new(vgg: Vgg16, lins: Vec<Tensor<1>>) -> Lpips {
        let lins = lins
            .into_iter()
            .map(|w| {
                let c = w.dims()[0];
                w.reshape([1, c, 1, 1])
            })
            .collect();
        Lpips { vgg, lins }
    }

    /// Loads the VGG-16 (`vgg`, widths `widths`) and the heads (`lin`, see [`read_heads`]).
    pub fn load(
        vgg: &Path,
        lin: &Path,
        widths: [usize; 5],
        device: &Device,
    ) -> Result<Lpips, LossError> {
        let vgg = Vgg16::load(vgg, widths, device)?;
        let bytes = std::fs::read(lin).map_err(|e| LossError::BadVggWeights {
            path: lin.to_path_buf(),
            key: "-".into(),
            problem: format!(
                "cannot read ({e}); make it with `python3 scripts/convert_lpips.py` or \
                 `cosmotok fetch lpips`"
            ),
        })?;
        Ok(Lpips::new(vgg, read_heads(lin, &bytes, widths, device)?))
    }

    /// The per-layer distances `[N]` (layer order) of images `x0`, `x1` `[N, 3, H, W]` in
    /// `[-1, 1]`.
    pub fn layers(&self, x0: Tensor<4>, x1: Tensor<4>) -> Vec<Tensor<1>> {
        let f0 = self.vgg.features(x0);
        let f1 = self.vgg.features(x1);
        f0.into_iter()
            .zip(f1)
            .zip(&self.lins)
            .map(|((a, b), w)| {
                let d = normalize(a).sub(normalize(b)).powi_scalar(2);
                let (n, dtype) = (d.dims()[0], d.dtype());
                // Σ_c w_c · d_c, then the spatial mean: [N].
                d.mul(w.clone().cast(dtype))
                    .sum_dim(1)
                    .mean_dim(2)
                    .mean_dim(3)
                    .reshape([n])
                    .cast(burn::tensor::DType::F32)
            })
            .collect()
    }

    /// LPIPS `[N]` of images `x0`, `x1` `[N, 3, H, W]` in `[-1, 1]`.
    pub fn distance(&self, x0: Tensor<4>, x1: Tensor<4>) -> Tensor<1> {
        self.layers(x0, x1)
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("five layers")
    }
}

/// The linear heads in `bytes`, a safetensors file (`path`, for errors) holding `lin0.weight`
/// … `lin4.weight`, f32 of shapes `[1, widths[l], 1, 1]`: `[C_l]` each, in layer order.
pub fn read_heads(
    path: &Path,
    bytes: &[u8],
    widths: [usize; 5],
    device: &Device,
) -> Result<Vec<Tensor<1>>, LossError> {
    let bad = |key: &str, problem: String| LossError::BadVggWeights {
        path: path.to_path_buf(),
        key: key.into(),
        problem,
    };
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad("-", format!("not a safetensors file: {e}")))?;
    let mut lins = Vec::with_capacity(5);
    for (l, &c) in widths.iter().enumerate() {
        let key = format!("lin{l}.weight");
        let t = st
            .tensor(&key)
            .map_err(|_| bad(&key, format!("missing (expected shape [1, {c}, 1, 1])")))?;
        if t.shape() != [1, c, 1, 1] || t.dtype() != Dtype::F32 {
            return Err(bad(
                &key,
                format!(
                    "{:?} {:?}, expected F32 [1, {c}, 1, 1]",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        lins.push(Tensor::<1>::from_data(TensorData::new(v, [c]), device));
    }
    Ok(lins)
}

/// `f / (sqrt(Σ_c f²) + eps)` over the channel axis of `[N, C, H, W]`.
fn normalize(f: Tensor<4>) -> Tensor<4> {
    let norm = f
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt()
        .add_scalar(NORM_EPS);
    f.div(norm)
}
