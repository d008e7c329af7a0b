//! Reduced precision and gradient checkpointing against the official PyTorch gradients of the
//! debug fixtures (loss = mean((recon − x)²), tests/fixtures/debug):
//! * bf16 compute copy of f32 master weights (what `[run] precision = "bf16-mixed"` trains
//!   with): the gradients arrive in f32 on the master parameters and match the f32 reference
//!   to within bf16's rounding;
//! * balanced gradient checkpointing (`[run] activation_checkpointing`): the recomputed
//!   activations give the same gradients as keeping them.

mod common;

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use common::*;
use cosmotok_model::params::named_grads;
use cosmotok_model::precision::cast_module;
use cosmotok_model::weights::load;
use cosmotok_model::{Tokenizer, TokenizerConfig};

/// The fixture's model on `dev` and its input `[B, 3, T, H, W]`.
fn fixture_model(name: &str, dev: &Device) -> (Tokenizer, Tensor<5>, Tensors) {
    let path = fixture(&format!("debug/{name}.safetensors"));
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("debug/{name}.json"))).unwrap(),
    )
    .unwrap();
    let cfg = TokenizerConfig::from_official_json(&v).unwrap();
    let (model, _) = load(&path, Some(cfg), dev).unwrap();
    let fx = Tensors::open(&path);
    let (xv, mut xs) = fx.f32("ref.input");
    if xs.len() == 4 {
        xs.insert(2, 1);
    }
    let x = Tensor::<5>::from_data(TensorData::new(xv, xs), dev);
    (model, x, fx)
}

/// Gradients of mean((recon − x)²) w.r.t. the (master) parameters, the forward in `compute`.
fn grads(model: &Tokenizer, x: Tensor<5>, compute: FloatDType) -> BTreeMap<String, TensorData> {
    let copy = if compute == FloatDType::F32 {
        model.clone()
    } else {
        cast_module(model.clone(), compute)
    };
    let (_, recon) = copy.autoencode(x.clone().cast(compute), false);
    assert_eq!(
        recon.dtype(),
        DType::from(compute),
        "the forward runs in {compute:?}"
    );
    let loss = recon.cast(DType::F32).sub(x).square().mean();
    let g = loss.backward();
    named_grads(model, &g)
}

/// ‖a − b‖ / ‖b‖ over all the gradients together, and the worst per-tensor value among
/// tensors holding at least `share` of the total norm.
fn rel_err(
    got: &BTreeMap<String, TensorData>,
    want: &BTreeMap<String, Vec<f32>>,
    share: f64,
) -> (f64, String, f64) {
    let (mut num, mut den) = (0f64, 0f64);
    let total: f64 = want
        .values()
        .map(|r| r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>())
        .sum::<f64>()
        .sqrt();
    let mut worst = (String::new(), 0f64);
    for (k, r) in want {
        let g = got.get(k).unwrap_or_else(|| panic!("no gradient for {k}"));
        assert_eq!(g.dtype(), DType::F32, "{k}: gradient dtype");
        let g = g.clone().try_to_vec::<f32>().unwrap();
        let n: f64 = g.iter().zip(r).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
        let d: f64 = r.iter().map(|b| (*b as f64).powi(2)).sum();
        num += n;
        den += d;
        if d.sqrt() >= share * total && (n / d).sqrt() > worst.1 {
            worst = (k.clone(), (n / d).sqrt());
        }
    }
    ((num / den).sqrt(), worst.0, worst.1)
}

fn reference(fx: &Tensors) -> BTreeMap<String, Vec<f32>> {
    fx.names()
        .into_iter()
        .filter_map(|k| {
            let key = k.strip_prefix("ref.grad.")?.to_string();
            Some((key, fx.f32(&k).0))
        })
        .collect()
}

/// bf16 has an 8-bit significand: each rounding is off by up to 2⁻⁹ ≈ 2e-3 relative, and the
/// convs, norms and attention products between input and loss add such errors up over the
/// depth of the model. Measured here: the reconstruction of the bf16 forward is 1.1 % (video
/// fixtures) and 3.9 % (CI8x8, the deepest 2-D stack) from f32's, and the gradients 0.7 %,
/// 1.8 % and 7.8 % from PyTorch's f32 gradients (the worst single large tensor 1.3 %, 2.9 %,
/// 8.5 %). The bounds (12 % overall, 15 % for any tensor carrying ≥ 5 % of the gradient norm)
/// leave headroom for other CPUs' summation orders; a gradient that does not reach the master
/// weights is missing (asserted below), one with a wrong scale or sign is ≥ 100 % off.
fn bf16_mixed_matches_reference(name: &str) {
    let dev = device().autodiff();
    let (model, x, fx) = fixture_model(name, &dev);
    let want = reference(&fx);
    let g32 = grads(&model, x.clone(), FloatDType::F32);
    let g16 = grads(&model, x, FloatDType::BF16);
    let (e32, _, _) = rel_err(&g32, &want, 0.0);
    let (e16, worst_key, worst) = rel_err(&g16, &want, 0.05);
    eprintln!(
        "{name}: gradient vs PyTorch f32: f32 {e32:.2e}, bf16-mixed {e16:.2e} (worst large \
         tensor {worst_key} {worst:.2e})"
    );
    assert!(
        e32 <= 1e-4,
        "{name}: f32 gradients {e32:e} from the reference"
    );
    assert!(
        e16 <= 0.12,
        "{name}: bf16-mixed gradients {e16:e} from the f32 reference (measured 0.7–7.8 %)"
    );
    assert!(
        worst <= 0.15,
        "{name}: bf16-mixed gradient of {worst_key} {worst:e} from the reference"
    );
    // Not the same numbers as f32 (the forward really ran in bf16).
    assert!(
        e16 > 10.0 * e32.max(1e-7),
        "{name}: bf16 gradients equal f32's"
    );
}

#[test]
fn bf16_mixed_gradients_cv8x8x8() {
    bf16_mixed_matches_reference("CV8x8x8");
}

#[test]
fn bf16_mixed_gradients_dv4x8x8() {
    bf16_mixed_matches_reference("DV4x8x8");
}

#[test]
fn bf16_mixed_gradients_ci8x8() {
    bf16_mixed_matches_reference("CI8x8");
}

/// Gradients with balanced checkpointing (SiLU and norm outputs recomputed in the backward
/// pass) equal those without, to 1e-5 relative per tensor, and both match PyTorch.
fn checkpointing_keeps_gradients(name: &str) {
    let plain = device().autodiff();
    let ckpt = device().autodiff().gradient_checkpointing();
    assert!(ckpt.gradient_checkpointing_strategy().is_some());
    let (m1, x1, fx) = fixture_model(name, &plain);
    let (m2, x2, _) = fixture_model(name, &ckpt);
    let g1 = grads(&m1, x1, FloatDType::F32);
    let g2 = grads(&m2, x2, FloatDType::F32);
    assert_eq!(g1.len(), g2.len());
    let mut worst = (String::new(), 0f64);
    for (k, a) in &g1 {
        let a = a.clone().try_to_vec::<f32>().unwrap();
        let b = g2[k].clone().try_to_vec::<f32>().unwrap();
        let n: f64 = a
            .iter()
            .zip(&b)
            .map(|(p, q)| ((p - q) as f64).powi(2))
            .sum();
        let d: f64 = a.iter().map(|p| (*p as f64).powi(2)).sum();
        let rel = if d > 1e-24 { (n / d).sqrt() } else { n.sqrt() };
        if rel > worst.1 {
            worst = (k.clone(), rel);
        }
    }
    eprintln!(
        "{name}: checkpointed vs kept: worst {:e} ({})",
        worst.1, worst.0
    );
    assert!(
        worst.1 <= 1e-5,
        "{name}: gradient of {} differs by {:e}",
        worst.0,
        worst.1
    );
    let (e, _, _) = rel_err(&g2, &reference(&fx), 0.0);
    assert!(
        e <= 1e-4,
        "{name}: checkpointed gradients {e:e} from PyTorch's"
    );
}

#[test]
fn checkpointing_keeps_gradients_cv8x8x8() {
    checkpointing_keeps_gradients("CV8x8x8");
}

#[test]
fn checkpointing_keeps_gradients_dv4x8x8() {
    checkpointing_keeps_gradients("DV4x8x8");
}
