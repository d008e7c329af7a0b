//! Converted TorchScript archives of the CV8x8x8 parity model load into cosmotok and reproduce
//! the official PyTorch outputs stored in tests/fixtures/parity/CV8x8x8.safetensors.
//!
//! * `CV8x8x8_encoder_f32.jit` + `CV8x8x8_decoder_f32.jit` (the release layout: `encoder.jit`,
//!   `decoder.jit`) merged into one file: every tensor bit-identical to the fixture's, latent
//!   and reconstruction within 1e-4.
//! * `CV8x8x8_autoencoder_bf16.jit` (bf16 like the releases): loads (cast to f32) and
//!   reconstructs within bf16 tolerance of the f32 reference.

use std::path::PathBuf;

use burn::prelude::*;
use cosmotok_convert::{convert_many, convert_to_safetensors};
use cosmotok_model::TokenizerConfig;
use cosmotok_model::weights::load;
use safetensors::SafeTensors;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cosmotok-convert-parity-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn config() -> TokenizerConfig {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("parity/CV8x8x8.json")).unwrap())
            .unwrap();
    TokenizerConfig::from_official_json(&v).unwrap()
}

fn f32s(st: &SafeTensors, key: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(key).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
    (
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        t.shape().to_vec(),
    )
}

/// Max |a − b| and relative RMS error ‖a − b‖ / ‖b‖ (in f64).
fn errors(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let (mut max, mut num, mut den) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let d = (x as f64 - y as f64).abs();
        max = max.max(d);
        num += d * d;
        den += (y as f64) * (y as f64);
    }
    (max, (num / den).sqrt())
}

/// (latent, reconstruction) of `ref.input` through the converted weights.
fn run(weights: &std::path::Path) -> (Vec<f32>, Vec<f32>, cosmotok_model::weights::LoadReport) {
    let dev = Device::flex();
    let (model, report) = load(weights, Some(config()), &dev).unwrap();
    let fx = std::fs::read(root().join("parity/CV8x8x8.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&fx).unwrap();
    let (x, shape) = f32s(&st, "ref.input");
    let x: Tensor<5> = Tensor::from_data(TensorData::new(x, shape), &dev);
    let enc = model.encode(x);
    let latent = enc.latent.clone().into_data().try_to_vec::<f32>().unwrap();
    let recon = model
        .decode(enc.latent)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    (latent, recon, report)
}

fn reference(key: &str) -> Vec<f32> {
    let fx = std::fs::read(root().join("parity/CV8x8x8.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&fx).unwrap();
    f32s(&st, key).0
}

#[test]
fn encoder_and_decoder_f32_jits_are_bit_identical_and_reproduce_outputs() {
    let out = tmp("cv8x8x8_f32.safetensors");
    let summary = convert_many(
        &[
            root().join("jit/CV8x8x8_encoder_f32.jit"),
            root().join("jit/CV8x8x8_decoder_f32.jit"),
        ],
        &out,
        true,
    )
    .unwrap();
    // 322 learned tensors + 5 Haar buffers.
    assert_eq!(summary.keys.len(), 327);
    let fx = std::fs::read(root().join("parity/CV8x8x8.safetensors")).unwrap();
    let fx = SafeTensors::deserialize(&fx).unwrap();
    let conv = std::fs::read(&out).unwrap();
    let conv = SafeTensors::deserialize(&conv).unwrap();
    let mut compared = 0;
    for (key, view) in fx.tensors() {
        if key.starts_with("ref.") {
            continue;
        }
        let c = conv
            .tensor(&key)
            .unwrap_or_else(|_| panic!("{key} missing"));
        assert_eq!(c.dtype(), view.dtype(), "{key}");
        assert_eq!(c.shape(), view.shape(), "{key}");
        assert!(c.data() == view.data(), "{key}: bytes differ");
        compared += 1;
    }
    assert_eq!(compared, 322);
    let (latent, recon, report) = run(&out);
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    assert_eq!(report.ignored_buffers, 5);
    let (el, _) = errors(&latent, &reference("ref.latent"));
    let (er, _) = errors(&recon, &reference("ref.reconstruction"));
    eprintln!("f32 jits: latent max err {el:.2e}, reconstruction max err {er:.2e}");
    assert!(el <= 1e-4, "latent err {el}");
    assert!(er <= 1e-4, "reconstruction err {er}");
}

#[test]
fn autoencoder_bf16_jit_reproduces_outputs_within_bf16_tolerance() {
    let out = tmp("cv8x8x8_bf16.safetensors");
    let summary =
        convert_to_safetensors(&root().join("jit/CV8x8x8_autoencoder_bf16.jit"), &out, true)
            .unwrap();
    assert_eq!(summary.keys.len(), 327);
    let (latent, recon, report) = run(&out);
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    assert!(
        report
            .dtypes
            .iter()
            .any(|d| d.contains("BF16") || d.contains("bf16")),
        "{:?}",
        report.dtypes
    );
    let (el, rl) = errors(&latent, &reference("ref.latent"));
    let (er, rr) = errors(&recon, &reference("ref.reconstruction"));
    eprintln!(
        "bf16 jit: latent max {el:.2e} (rel rms {rl:.2e}), reconstruction max {er:.2e} (rel rms {rr:.2e})"
    );
    // bf16 weights (8-bit mantissa, relative rounding 2^-9) vs the f32 reference.
    assert!(rl <= 2e-2 && rr <= 2e-2, "relative rms {rl} / {rr}");
    assert!(el <= 1e-2 && er <= 0.1, "max err {el} / {er}");
    // And not trivially: the bf16 result differs from the f32 one.
    assert!(er > 1e-5);
}
