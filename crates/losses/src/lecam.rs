//! LeCam regularisation (Tseng et al. 2021):
//! reg = mean(relu(D(x) − ema_fake)²) + mean(relu(ema_real − D(x̂))²), with EMAs of the mean
//! discriminator outputs on real and fake samples.

use burn::prelude::*;
use burn::tensor::activation::relu;

/// EMA state of the LeCam regulariser (starts at 0, as in the reference implementation).
#[derive(Clone, Debug, PartialEq)]
pub struct LeCam {
    pub ema_real: f64,
    pub ema_fake: f64,
    pub decay: f64,
}

impl LeCam {
    pub fn new(decay: f64) -> Self {
        Self {
            ema_real: 0.0,
            ema_fake: 0.0,
            decay,
        }
    }

    /// ema ← decay·ema + (1 − decay)·mean(logits) for both (reads the logits' values).
    pub fn update<const D: usize>(&mut self, real: Tensor<D>, fake: Tensor<D>) {
        let mr = real.detach().mean().into_scalar::<f64>();
        let mf = fake.detach().mean().into_scalar::<f64>();
        self.ema_real = self.decay * self.ema_real + (1.0 - self.decay) * mr;
        self.ema_fake = self.decay * self.ema_fake + (1.0 - self.decay) * mf;
    }

    /// The regulariser with the current EMAs, shape `[1]` (differentiable in the logits).
    pub fn penalty<const D: usize>(&self, real: Tensor<D>, fake: Tensor<D>) -> Tensor<1> {
        let a = relu(real.sub_scalar(self.ema_fake)).square().mean();
        let b = relu(fake.neg().add_scalar(self.ema_real)).square().mean();
        a.add(b)
    }
}
