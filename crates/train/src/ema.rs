//! Exponential moving average of the weights (docs/architecture.md §9.2: beta 0.9999, kept in f32):
//! `ema ← beta · ema + (1 − beta) · θ` after every optimizer step. The EMA copy lives outside
//! the autodiff graph; evaluation and export can use it instead of the raw weights.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use cosmotok_model::Tokenizer;
use cosmotok_model::precision::cast_module;

/// Collects every float parameter, flattened to 1-D, in visiting order.
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // The EMA is f32 whatever the weights' dtype (`[run] precision = "bf16"`).
        let t = param.val().cast(DType::F32);
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// Blends the parameters of the visited module with `source` (same visiting order).
struct Blend {
    source: std::vec::IntoIter<Tensor<1>>,
    beta: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let src = self
            .source
            .next()
            .expect("EMA and model have the same parameters");
        let beta = self.beta;
        param.map(|ema| {
            let shape = ema.shape();
            let src = src.reshape(shape);
            if beta == 0.0 {
                src
            } else {
                ema.mul_scalar(beta).add(src.mul_scalar(1.0 - beta))
            }
        })
    }
}

/// The EMA copy of a tokenizer.
#[derive(Clone, Debug)]
pub struct Ema {
    pub model: Tokenizer,
    pub beta: f64,
}

impl Ema {
    /// Starts the average at the current weights (detached from autodiff).
    pub fn new(model: &Tokenizer, beta: f64) -> Ema {
        Ema {
            model: cast_module(model.valid(), FloatDType::F32),
            beta,
        }
    }

    /// `ema ← beta · ema + (1 − beta) · θ`; `beta = 0` copies the weights.
    pub fn update_with(&mut self, model: &Tokenizer, beta: f64) {
        let mut flat = Flatten(Vec::new());
        model.valid().visit(&mut flat);
        let mut blend = Blend {
            source: flat.0.into_iter(),
            beta,
        };
        self.model = self.model.clone().map(&mut blend);
        assert!(
            blend.source.next().is_none(),
            "EMA and model have the same parameters"
        );
    }

    /// The update of step `step` with the configured beta (a copy before `start`).
    pub fn update(&mut self, model: &Tokenizer, step: u64, start: u64) {
        let beta = if step < start { 0.0 } else { self.beta };
        self.update_with(model, beta);
    }
}
