//! `[run] precision`: what dtype the weights are kept in and what dtype the forward and
//! backward run in.
//!
//! | value | master weights, AdamW moments, EMA | forward / backward | loss |
//! |---|---|---|---|
//! | `f32` (default) | f32 | f32 | f32 |
//! | `bf16-mixed` | f32 | bf16 compute copy, with the norm statistics, attention softmax, FSQ rounding and KL in f32 | f32 |
//! | `bf16` | bf16 weights; AdamW moments and EMA f32 | bf16, same f32 islands | f32 |
//!
//! `bf16-mixed` is the Cosmos recipe's precision (PyTorch `torch.autocast(bfloat16)` with f32
//! parameters): each step makes a bf16 copy of the master weights with
//! [`cosmotok_model::precision::cast_module`]; the cast is part of the autodiff graph, so the
//! gradients arrive in f32 on the master parameters and clipping, AdamW, the EMA and the
//! non-finite guard work on f32 exactly as in an f32 run. Checkpoints and exports are f32.
//!
//! `bf16` keeps the weights themselves in bf16 (half their memory, and no f32 copy beside the
//! compute weights). It is less stable: each update is computed in f32 (AdamW's moments are
//! f32 — burn 0.22 restores optimizer state in f32 when a checkpoint is loaded, so bf16
//! moments could not resume) and rounded to bf16, so an update smaller than 2⁻⁹ of a weight
//! is lost: small learning rates stall and the loss curve drifts from f32's. It is meant for
//! memory experiments, not for the recipe. Its checkpoints store the weights cast to f32
//! (exact); the EMA is kept in f32.
//!
//! The discriminator of the adversarial stage stays in f32 in every mode; its input (the
//! reconstruction) is cast to f32, as is the reconstruction that enters the losses.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use cosmotok_model::Tokenizer;
use cosmotok_model::precision::cast_module;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    #[serde(rename = "f32")]
    F32,
    #[serde(rename = "bf16-mixed")]
    Bf16Mixed,
    #[serde(rename = "bf16")]
    Bf16,
}

impl Precision {
    /// The dtype of the master weights and the optimizer state.
    pub fn master_dtype(self) -> FloatDType {
        match self {
            Precision::F32 | Precision::Bf16Mixed => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// The dtype the forward and backward run in.
    pub fn compute_dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16Mixed | Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// The model the forward runs with: a bf16 cast of the master weights (attached to them by
    /// autodiff) for `bf16-mixed`, the master itself otherwise.
    pub fn compute_copy(self, master: &Tokenizer) -> Tokenizer {
        if self.compute_dtype() == self.master_dtype() {
            master.clone()
        } else {
            cast_module(master.clone(), self.compute_dtype())
        }
    }

    /// `model` (parameters on an autodiff device) with its parameters as autodiff leaves of
    /// the master dtype (a no-op for `f32` and `bf16-mixed`).
    pub fn to_master(self, model: Tokenizer) -> Tokenizer {
        match self.master_dtype() {
            FloatDType::F32 => model,
            dtype => model.map(&mut CastLeaves(dtype)),
        }
    }

    /// `model` with f32 parameters (what checkpoints, the EMA and evaluation hold).
    pub fn to_f32(model: Tokenizer) -> Tokenizer {
        cast_module(model, FloatDType::F32)
    }

    /// The AdamW update of `model` by `grads`: as is for f32 master weights; for bf16 weights
    /// on an f32 copy (f32 gradients and moments), rounded back to bf16 leaves.
    pub fn optimizer_step(
        self,
        optim: &mut ModuleOptimizer,
        lr: f64,
        model: Tokenizer,
        grads: GradientsParams,
    ) -> Tokenizer {
        if self.master_dtype() == FloatDType::F32 {
            return optim.step(lr, model, grads);
        }
        let mut grads = grads;
        model.visit(&mut GradsToF32(&mut grads));
        let updated = optim.step(lr, Self::to_f32(model), grads);
        self.to_master(updated)
    }
}

/// Casts the gradient of every parameter to f32.
struct GradsToF32<'a>(&'a mut GradientsParams);

impl ModuleVisitor for GradsToF32<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.0.remove::<D>(param.id) {
            self.0.register(param.id, g.cast(DType::F32));
        }
    }
}

/// Casts every float parameter and makes it a fresh autodiff leaf (same `ParamId`).
struct CastLeaves(FloatDType);

impl ModuleMapper for CastLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| {
            let leaf = t.cast(dtype).detach();
            if leaf.device().is_autodiff() {
                leaf.require_grad()
            } else {
                leaf
            }
        })
    }
}

/// The config spellings (`f32`, `bf16-mixed`, `bf16`), for command-line flags.
impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16-mixed" => Ok(Precision::Bf16Mixed),
            "bf16" => Ok(Precision::Bf16),
            other => Err(format!("`{other}`: expected f32, bf16-mixed or bf16")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16Mixed => "bf16-mixed",
            Precision::Bf16 => "bf16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_spellings_and_rejects_others() {
        #[derive(Deserialize)]
        struct T {
            p: Precision,
        }
        let p = |s: &str| toml::from_str::<T>(&format!("p = \"{s}\"")).map(|t| t.p);
        assert_eq!(p("f32").unwrap(), Precision::F32);
        assert_eq!(p("bf16-mixed").unwrap(), Precision::Bf16Mixed);
        assert_eq!(p("bf16").unwrap(), Precision::Bf16);
        let err = p("fp16").unwrap_err().to_string();
        assert!(err.contains("fp16") && err.contains("bf16-mixed"), "{err}");
        for v in [Precision::F32, Precision::Bf16Mixed, Precision::Bf16] {
            assert_eq!(p(&v.to_string()).unwrap(), v);
            assert_eq!(v.to_string().parse::<Precision>().unwrap(), v);
        }
        assert!(
            "fp16"
                .parse::<Precision>()
                .unwrap_err()
                .contains("bf16-mixed")
        );
    }
}
