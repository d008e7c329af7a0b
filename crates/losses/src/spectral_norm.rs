//! Spectral normalisation of a conv weight (Miyato et al. 2018), matching
//! `torch.nn.utils.spectral_norm` in train mode with one power iteration:
//!
//! ```text
//! W = weight.reshape(out, -1);  v = normalize(Wᵀ u);  u' = normalize(W v)   (no gradient)
//! σ = u'·(W v);  weight_sn = weight / σ                                   (gradient via W)
//! ```
//!
//! The `u` vector is state: [`SpectralState`] holds it as a non-trainable parameter. A forward
//! computes u' but cannot store it (`&self`); call
//! [`Discriminator::power_iteration`](crate::Discriminator::power_iteration) after each
//! discriminator step in training, as torch does implicitly in train mode.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

/// torch's `normalize` eps.
const EPS: f64 = 1e-12;

/// The power-iteration vector `u` (`[out]`) of one spectrally normalised weight.
#[derive(Module, Debug)]
pub struct SpectralState {
    pub u: Param<Tensor<1>>,
}

impl SpectralState {
    /// Random unit `u` (as torch initialises it).
    pub fn new(out: usize, device: &Device) -> Self {
        let u = Tensor::<1>::random([out], Distribution::Normal(0.0, 1.0), device);
        Self::from_u(normalize(u))
    }

    pub fn from_u(u: Tensor<1>) -> Self {
        Self {
            u: Param::from_tensor(u.detach()).set_require_grad(false),
        }
    }

    /// (weight / σ, u') for a weight of any rank D ≥ 2 (dimension 0 = output channels).
    pub fn normalize_weight<const D: usize>(&self, weight: Tensor<D>) -> (Tensor<D>, Tensor<1>) {
        let dims = weight.dims();
        let out = dims[0];
        let rest: usize = dims[1..].iter().product();
        let w = weight.clone().reshape([out, rest]); // [out, in·k…]
        let wd = w.clone().detach();
        let u = self.u.val().detach().reshape([out, 1]);
        let v = normalize(wd.clone().transpose().matmul(u).reshape([rest])); // [rest]
        let u_next = normalize(wd.matmul(v.clone().reshape([rest, 1])).reshape([out])); // [out]
        // σ = u'ᵀ W v, differentiable in W only.
        let wv = w.matmul(v.reshape([rest, 1])).reshape([out]);
        let sigma = wv.mul(u_next.clone()).sum(); // [1]
        let shape: [usize; D] = std::array::from_fn(|_| 1);
        (weight.div(sigma.reshape(shape)), u_next)
    }
}

/// x / max(‖x‖, eps).
fn normalize(x: Tensor<1>) -> Tensor<1> {
    let n = x.clone().square().sum().sqrt().clamp_min(EPS);
    x.div(n)
}
