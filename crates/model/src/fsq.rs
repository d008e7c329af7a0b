//! Finite scalar quantisation (docs/architecture.md §6.1). No learned parameters.
//!
//! bound(z) = tanh(z + shift)·half_l − offset, quantise = round-half-even with a straight-through
//! gradient, divided by half_width = L // 2; index = Σ digit_i·basis_i (first dim least
//! significant), digit_i = code_i·hw_i + hw_i, 0-based.

use burn::prelude::*;
use burn::tensor::DType;

/// Levels of every released discrete model: codebook 64,000.
pub const DEFAULT_LEVELS: [usize; 6] = [8, 8, 8, 5, 5, 5];

#[derive(Clone, Debug, PartialEq)]
pub struct Fsq {
    pub levels: Vec<usize>,
}

impl Fsq {
    pub fn new(levels: &[usize]) -> Self {
        Self {
            levels: levels.to_vec(),
        }
    }

    pub fn dim(&self) -> usize {
        self.levels.len()
    }

    pub fn codebook_size(&self) -> usize {
        self.levels.iter().product()
    }

    /// [1, 8, 64, 512, 2560, 12800] for the default levels.
    pub fn basis(&self) -> Vec<usize> {
        let mut acc = 1;
        self.levels
            .iter()
            .map(|&l| {
                let b = acc;
                acc *= l;
                b
            })
            .collect()
    }

    /// A per-channel constant broadcastable against [B, d, ...].
    fn channel_const<const D: usize>(
        &self,
        f: impl Fn(usize) -> f32,
        device: &Device,
    ) -> Tensor<D> {
        let mut shape = [1usize; D];
        shape[1] = self.dim();
        let v: Vec<f32> = self.levels.iter().map(|&l| f(l)).collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    /// (L − 1)·(1 + 1e-3)/2, in f32 as the official code computes it.
    fn half_l(l: usize) -> f32 {
        (l as f32 - 1.0) * (1.0f64 + 1e-3) as f32 / 2.0
    }

    fn half_width(l: usize) -> f32 {
        (l / 2) as f32
    }

    /// tanh(z + shift)·half_l − offset: maps z into (−L/2, L/2) so that rounding gives L values.
    pub fn bound<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        let device = z.device();
        let offset = |l: usize| if l.is_multiple_of(2) { 0.5f32 } else { 0.0 };
        let shift = self.channel_const::<D>(
            |l| ((offset(l) as f64) / (Self::half_l(l) as f64)).atanh() as f32,
            &device,
        );
        let half_l = self.channel_const::<D>(Self::half_l, &device);
        let off = self.channel_const::<D>(offset, &device);
        z.add(shift).tanh().mul(half_l).sub(off)
    }

    /// Quantises [B, d, ...] latents: returns (codes in [−1, 1] with straight-through gradient,
    /// integer digits per channel as floats, not differentiable).
    fn quantize_parts<const D: usize>(&self, z: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
        let device = z.device();
        let bounded = self.bound(z);
        let rounded = bounded.clone().detach().round();
        // Straight-through: value = round(b) exactly (r − b is exact), gradient = identity.
        let ste = bounded.clone().add(rounded.clone().sub(bounded.detach()));
        let hw = self.channel_const::<D>(Self::half_width, &device);
        let codes = ste.div(hw.clone());
        let digits = rounded.add(hw);
        (codes, digits)
    }

    /// Codes (B×d×…, straight-through gradient) and 0-based indices (B×1×…, Int).
    /// A bf16 `z` is quantised in f32 (the codes are cast back): rounding a bf16 tanh would
    /// move values across code boundaries.
    pub fn quantize<const D: usize>(&self, z: Tensor<D>) -> (Tensor<D>, Tensor<D, Int>) {
        let dtype = z.dtype();
        if dtype != DType::F32 {
            let (codes, indices) = self.quantize(z.cast(DType::F32));
            return (codes.cast(dtype), indices);
        }
        let device = z.device();
        let (codes, digits) = self.quantize_parts(z);
        // Levels may repeat, so the basis is laid out by position.
        let mut shape = [1usize; D];
        shape[1] = self.dim();
        let basis: Vec<f32> = self.basis().iter().map(|&x| x as f32).collect();
        let basis = Tensor::<D>::from_data(TensorData::new(basis, shape), &device);
        // Digits and basis are small integers: the f32 sum is exact below 2^24.
        let indices = digits.mul(basis).sum_dim(1).round().int();
        (codes, indices)
    }

    /// Index → code: digit_i = (index // basis_i) mod L_i; code_i = (digit_i − hw_i)/hw_i.
    /// `indices` is B×1×…; the result is B×d×….
    pub fn indices_to_codes<const D: usize>(&self, indices: Tensor<D, Int>) -> Tensor<D> {
        let per_dim: Vec<Tensor<D>> = self
            .levels
            .iter()
            .zip(self.basis())
            .map(|(&l, b)| {
                let digit = indices
                    .clone()
                    .div_scalar(b as i64)
                    .remainder_scalar(l as i64)
                    .float();
                let hw = Self::half_width(l);
                digit.sub_scalar(hw).div_scalar(hw)
            })
            .collect();
        Tensor::cat(per_dim, 1)
    }
}
