//! Whole-model parity with the official PyTorch code on every fixture of
//! tests/fixtures/parity (copied from shared/fixtures/parity): weights load by their official
//! names, architecture from the fixture's official config JSON, and latents / FSQ indices /
//! codes / reconstructions / loss agree.

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_model::weights::{Header, load};
use cosmotok_model::{Tokenizer, TokenizerConfig};

const TOL: f32 = 1e-4;

fn config_of(json: &std::path::Path) -> TokenizerConfig {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    TokenizerConfig::from_official_json(&v).unwrap()
}

/// Input as 5-D (images get T = 1).
fn input5(fx: &Tensors, dev: &Device) -> Tensor<5> {
    let (v, mut shape) = fx.f32("ref.input");
    if shape.len() == 4 {
        shape.insert(2, 1);
    }
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn squeeze_t(t: Tensor<5>, image: bool) -> Vec<f32> {
    let _ = image;
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn check_fixture(name: &str) {
    let dev = device();
    let path = fixture(&format!("parity/{name}.safetensors"));
    let cfg = config_of(&fixture(&format!("parity/{name}.json")));
    let (model, report) = load(&path, Some(cfg.clone()), &dev).unwrap();
    assert!(
        report.unexpected.is_empty(),
        "{name}: unexpected keys {:?}",
        report.unexpected
    );
    let fx = Tensors::open(&path);
    let image = !cfg.is_video();
    let x = input5(&fx, &dev);
    let enc = model.encode(x.clone());
    let mut errs = Vec::new();
    if cfg.is_discrete() {
        let (ref_idx, _) = fx.i32("ref.indices");
        let idx: Vec<i64> = enc
            .indices
            .clone()
            .unwrap()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(idx.len(), ref_idx.len());
        let bad = idx
            .iter()
            .zip(&ref_idx)
            .filter(|(a, b)| **a != **b as i64)
            .count();
        assert_eq!(bad, 0, "{name}: {bad} FSQ indices differ");
        let (want, _) = fx.f32("ref.codes");
        let e = max_abs_diff(&squeeze_t(enc.latent.clone(), image), &want);
        assert!(e <= TOL, "{name}: codes err {e}");
        errs.push(("codes", e));
    } else {
        let (want, _) = fx.f32("ref.latent");
        let e = max_abs_diff(&squeeze_t(enc.latent.clone(), image), &want);
        assert!(e <= TOL, "{name}: latent err {e}");
        errs.push(("latent", e));
    }
    let recon = model.decode(enc.latent.clone());
    let (want, _) = fx.f32("ref.reconstruction");
    let e = max_abs_diff(&squeeze_t(recon.clone(), image), &want);
    assert!(e <= TOL, "{name}: reconstruction err {e}");
    errs.push(("reconstruction", e));
    let loss: f32 = recon.sub(x).square().mean().into_scalar();
    let (want, _) = fx.f32("ref.loss");
    assert!(
        (loss - want[0]).abs() <= 1e-4 * want[0].abs().max(1.0),
        "{name}: loss {loss} vs {}",
        want[0]
    );
    if let Some(idx) = enc.indices {
        // Decoding from indices equals decoding from codes.
        let from_idx = model.decode_indices(idx).unwrap();
        let e = max_abs_diff(&squeeze_t(from_idx, image), &want_recon(&fx));
        assert!(e <= TOL, "{name}: decode(indices) err {e}");
    }
    eprintln!("{name}: {errs:?}");
}

fn want_recon(fx: &Tensors) -> Vec<f32> {
    fx.f32("ref.reconstruction").0
}

#[test]
fn parity_ci8x8() {
    check_fixture("CI8x8");
}

#[test]
fn parity_di8x8() {
    check_fixture("DI8x8");
}

#[test]
fn parity_cv4x8x8() {
    check_fixture("CV4x8x8");
}

#[test]
fn parity_cv8x8x8() {
    check_fixture("CV8x8x8");
}

#[test]
fn parity_dv4x8x8() {
    check_fixture("DV4x8x8");
}

#[test]
fn parity_dv8x16x16() {
    check_fixture("DV8x16x16");
}

#[test]
fn every_parity_fixture_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(fixture("parity"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".safetensors").map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "CI8x8",
            "CV4x8x8",
            "CV8x8x8",
            "DI8x8",
            "DV4x8x8",
            "DV8x16x16"
        ]
    );
}

#[test]
fn header_lists_fixture_keys() {
    let h = Header::read(&fixture("parity/CV8x8x8.safetensors")).unwrap();
    assert!(h.tensors.contains_key("encoder.conv_in.0.conv3d.weight"));
    let _ = Tokenizer::new;
}
