//! torchvision VGG-16 `features` (conv part) up to relu5_3, frozen, with the LPIPS scaling
//! layer in front (docs/architecture.md §9.2). Weights come from `scripts/convert_vgg16.py`
//! (torchvision key names `features.N.weight/bias`); widths are configurable so tests can use a
//! tiny VGG-16.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, FloatDType};
use safetensors::{Dtype, SafeTensors};

use crate::error::LossError;

/// The real VGG-16 block widths.
pub const VGG16_WIDTHS: [usize; 5] = [64, 128, 256, 512, 512];
/// Convs per block (VGG-16, configuration D).
pub const BLOCK_CONVS: [usize; 5] = [2, 2, 3, 3, 3];
/// LPIPS ScalingLayer: (x − shift) / scale.
pub const LPIPS_SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
pub const LPIPS_SCALE: [f32; 3] = [0.458, 0.448, 0.450];

/// Index of each conv in torchvision's `features` Sequential (ReLU after each, MaxPool
/// between blocks): 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28.
pub fn conv_indices() -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    for (b, n) in BLOCK_CONVS.iter().enumerate() {
        if b > 0 {
            i += 1; // MaxPool2d
        }
        for _ in 0..*n {
            out.push(i);
            i += 2; // Conv2d, ReLU
        }
    }
    out
}

/// Expected `(key, shape)` of every tensor for the given widths, in layer order.
pub fn expected_keys(widths: [usize; 5]) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let idx = conv_indices();
    let mut c_in = 3;
    let mut k = 0;
    for (b, n) in BLOCK_CONVS.iter().enumerate() {
        for _ in 0..*n {
            let c_out = widths[b];
            out.push((
                format!("features.{}.weight", idx[k]),
                vec![c_out, c_in, 3, 3],
            ));
            out.push((format!("features.{}.bias", idx[k]), vec![c_out]));
            c_in = c_out;
            k += 1;
        }
    }
    out
}

/// The 13 convs of VGG-16 (3×3, padding 1), grouped in 5 blocks.
#[derive(Module, Debug)]
pub struct Vgg16 {
    pub convs: Vec<Conv2d>,
    shift: Tensor<4>,
    scale: Tensor<4>,
}

impl Vgg16 {
    /// Randomly initialised (tests, or as a shape template); parameters frozen.
    pub fn new(widths: [usize; 5], device: &Device) -> Self {
        let mut convs = Vec::new();
        let mut c_in = 3;
        for (b, n) in BLOCK_CONVS.iter().enumerate() {
            for _ in 0..*n {
                convs.push(
                    Conv2dConfig::new([c_in, widths[b]], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                );
                c_in = widths[b];
            }
        }
        let shift = Tensor::<1>::from_floats(LPIPS_SHIFT, device).reshape([1, 3, 1, 1]);
        let scale = Tensor::<1>::from_floats(LPIPS_SCALE, device).reshape([1, 3, 1, 1]);
        Self {
            convs,
            shift,
            scale,
        }
        .no_grad()
    }

    /// Loads `features.N.weight/bias` from a safetensors file (f32, f16 or bf16). A missing
    /// file is [`LossError::MissingVggWeights`], which names the converter command.
    pub fn load(path: &Path, widths: [usize; 5], device: &Device) -> Result<Self, LossError> {
        if !path.is_file() {
            return Err(LossError::MissingVggWeights {
                path: path.display().to_string(),
            });
        }
        let bad = |key: &str, problem: String| LossError::BadVggWeights {
            path: path.to_path_buf(),
            key: key.into(),
            problem,
        };
        let bytes = std::fs::read(path).map_err(|e| bad("-", format!("cannot read: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad("-", format!("not a safetensors file: {e}")))?;
        let mut vgg = Self::new(widths, device);
        let expected = expected_keys(widths);
        for (k, conv) in vgg.convs.iter_mut().enumerate() {
            let read = |j: usize| -> Result<Tensor<1>, LossError> {
                let (key, shape) = &expected[2 * k + j];
                let t = st
                    .tensor(key)
                    .map_err(|_| bad(key, format!("missing (expected shape {shape:?})")))?;
                if t.shape() != shape.as_slice() {
                    return Err(bad(
                        key,
                        format!(
                            "shape {:?}, expected {shape:?} (vgg_widths {widths:?})",
                            t.shape()
                        ),
                    ));
                }
                let data = t.data();
                let v: Vec<f32> = match t.dtype() {
                    Dtype::F32 => data
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                    Dtype::F16 => data
                        .chunks_exact(2)
                        .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                        .collect(),
                    Dtype::BF16 => data
                        .chunks_exact(2)
                        .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                        .collect(),
                    other => {
                        return Err(bad(key, format!("dtype {other:?}, expected F32/F16/BF16")));
                    }
                };
                let n = v.len();
                Ok(Tensor::<1>::from_data(TensorData::new(v, [n]), device))
            };
            let w = read(0)?;
            let b = read(1)?;
            let [o, i, kh, kw] = conv.weight.dims();
            conv.weight = Param::from_tensor(w.reshape([o, i, kh, kw])).set_require_grad(false);
            conv.bias = Some(Param::from_tensor(b).set_require_grad(false));
        }
        Ok(vgg)
    }

    /// [N, 3, H, W] in [-1, 1] → relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    /// ([N, w_b, H/2^b, W/2^b] for b = 0..4).
    /// The same VGG with its weights cast to `dtype` (bf16 under mixed precision on a GPU, as
    /// PyTorch's autocast runs it). The VGG is frozen, so no gradient flows to its weights.
    pub fn cast(self, dtype: FloatDType) -> Self {
        struct Cast(FloatDType);
        impl ModuleMapper for Cast {
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let dtype = self.0;
                p.map(|t| t.cast(dtype))
            }
        }
        Self {
            convs: self.convs.map(&mut Cast(dtype)),
            shift: self.shift.cast(dtype),
            scale: self.scale.cast(dtype),
        }
    }

    /// The dtype the VGG computes in (its weights').
    pub fn dtype(&self) -> DType {
        self.shift.dtype()
    }

    /// relu1_2 … relu5_3 of `x` [N, 3, H, W] in [-1, 1], computed in the VGG's dtype (`x` is
    /// cast to it).
    pub fn features(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let x = x.cast(self.dtype());
        let mut h = x.sub(self.shift.clone()).div(self.scale.clone());
        let mut out = Vec::with_capacity(5);
        let mut k = 0;
        for (b, n) in BLOCK_CONVS.iter().enumerate() {
            if b > 0 {
                h = max_pool2d(h, MaxPoolOptions::new([2, 2]));
            }
            for _ in 0..*n {
                h = relu(self.convs[k].forward(h));
                k += 1;
            }
            out.push(h.clone());
        }
        out
    }
}

/// IEEE half → f32 (no `half` dependency for a dozen tensors).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if frac == 0 {
            sign
        } else {
            // subnormal: value = frac · 2^-24
            let v = frac as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 31 {
        sign | 0x7f80_0000 | (frac << 13)
    } else {
        sign | (((exp - 15 + 127) as u32) << 23) | (frac << 13)
    };
    f32::from_bits(bits)
}
