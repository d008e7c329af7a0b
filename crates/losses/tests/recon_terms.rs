//! Term bookkeeping of `ReconLoss` on hand-computable inputs: the pixel mask, the KL term's
//! weight, and extra terms (the optical-flow extension point) gated by their own schedule.

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_losses::{LossConfig, ReconLoss, Schedule};

#[test]
fn mask_and_kl_terms_are_weighted() {
    let dev = Device::flex();
    let cfg = LossConfig {
        perceptual_weight: Schedule::Constant(0.0),
        gram_weight: Schedule::Constant(0.0),
        pixel_weight: Schedule::Constant(2.0),
        ..LossConfig::default()
    };
    let loss = ReconLoss::new(&cfg, &dev).unwrap();
    let x = Tensor::<5>::zeros([1, 3, 2, 4, 4], &dev);
    let xh = Tensor::<5>::ones([1, 3, 2, 4, 4], &dev).mul_scalar(0.5);
    // Mask keeps the first frame only: mean(|0.5|·mask) = 0.25, times weight 2.
    let mask = Tensor::<5>::cat(
        vec![
            Tensor::<5>::ones([1, 1, 1, 4, 4], &dev),
            Tensor::<5>::zeros([1, 1, 1, 4, 4], &dev),
        ],
        2,
    );
    let kl = Tensor::<1>::from_floats([3.0], &dev);
    let t = loss.forward_with(x, xh, Some(mask), Some(kl), 0);
    let v = t.values();
    assert_eq!(v[0].0, "pixel");
    assert!((v[0].1 - 0.5).abs() < 1e-7, "{v:?}");
    assert_eq!(v[1].0, "kl");
    assert!((v[1].1 - 3e-6).abs() < 1e-12, "{v:?}");
    assert!((value(t.total) - (0.5 + 3e-6)).abs() < 1e-7);
}

/// A stand-in for the RAFT flow loss: mean |Δ_t x̂ − Δ_t x| (temporal differences).
struct TemporalDiff;

impl cosmotok_losses::ReconTerm for TemporalDiff {
    fn forward(&self, x: Tensor<5>, xhat: Tensor<5>) -> Tensor<1> {
        let t = x.dims()[2];
        let dx = x.clone().narrow(2, 1, t - 1).sub(x.narrow(2, 0, t - 1));
        let dy = xhat
            .clone()
            .narrow(2, 1, t - 1)
            .sub(xhat.narrow(2, 0, t - 1));
        dy.sub(dx).abs().mean()
    }
}

#[test]
fn extra_terms_plug_in_with_their_schedule() {
    let dev = Device::flex();
    let cfg = LossConfig {
        perceptual_weight: Schedule::Constant(0.0),
        gram_weight: Schedule::Constant(0.0),
        ..LossConfig::default()
    };
    let sched = Schedule::Piecewise {
        steps: vec![(250_000, 0.01)],
    };
    let loss = ReconLoss::new(&cfg, &dev)
        .unwrap()
        .with_term("flow", sched, Box::new(TemporalDiff));
    let x = Tensor::<5>::zeros([1, 3, 3, 4, 4], &dev);
    // x̂ frames 0, 1, 3 → temporal differences 1 and 2 → mean 1.5; L1 = mean(0, 1, 3) = 4/3.
    let xh = Tensor::cat(
        vec![
            Tensor::<5>::zeros([1, 3, 1, 4, 4], &dev),
            Tensor::<5>::ones([1, 3, 1, 4, 4], &dev),
            Tensor::<5>::ones([1, 3, 1, 4, 4], &dev).mul_scalar(3.0),
        ],
        2,
    );
    let early = loss.forward(x.clone(), xh.clone(), 249_999).values();
    assert_eq!(early.len(), 1, "{early:?}");
    let late = loss.forward(x, xh, 250_000).values();
    assert_eq!(late[1].0, "flow");
    assert!((late[0].1 - 4.0 / 3.0).abs() < 1e-6, "{late:?}");
    assert!((late[1].1 - 0.015).abs() < 1e-8, "{late:?}");
}
