//! PLACEHOLDER until the losses crate lands: L1 only, with the interface the trainer uses.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    pub pixel: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig { pixel: 1.0 }
    }
}

pub struct LossTerms {
    pub total: Tensor<1>,
    pub terms: Vec<(String, Tensor<1>)>,
}

pub struct ReconLoss {
    cfg: LossConfig,
}

impl ReconLoss {
    pub fn new(cfg: &LossConfig, _dev: &Device) -> anyhow::Result<ReconLoss> {
        Ok(ReconLoss { cfg: cfg.clone() })
    }
    pub fn forward(&self, x: Tensor<5>, xhat: Tensor<5>, _iter: u64) -> LossTerms {
        let l1 = (x - xhat).abs().mean().mul_scalar(self.cfg.pixel);
        LossTerms {
            total: l1.clone(),
            terms: vec![("l1".into(), l1)],
        }
    }
}
