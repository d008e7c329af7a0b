//! Long video at constant activation memory: chunked encode/decode with a carried temporal
//! cache equals whole-clip encode/decode, for every video family (parity fixture models with
//! the official PyTorch weights layout).

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_model::TokenizerConfig;
use cosmotok_model::weights::load;

fn model(name: &str) -> cosmotok_model::Tokenizer {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("parity/{name}.json"))).unwrap(),
    )
    .unwrap();
    let cfg = TokenizerConfig::from_official_json(&v).unwrap();
    load(
        &fixture(&format!("parity/{name}.safetensors")),
        Some(cfg),
        &device(),
    )
    .unwrap()
    .0
}

fn vec(t: Tensor<5>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// A clip of 1 + 3·chunk frames, encoded in chunks of `chunk` frames and whole.
fn check(name: &str, chunk_mult: usize) {
    let m = model(name);
    let tc = m.config().temporal_compression;
    let chunk = chunk_mult * tc;
    let frames = 1 + 3 * chunk;
    let dev = device();
    dev.seed(5);
    let x = Tensor::<5>::random(
        [1, 3, frames, 48, 80],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &dev,
    );
    let whole = m.encode_moments(x.clone());
    let chunked = m.encode_moments_chunked(x.clone(), chunk).unwrap();
    assert_eq!(whole.dims(), chunked.dims(), "{name}");
    let err = max_abs_diff(&vec(whole.clone()), &vec(chunked));
    assert!(err <= 1e-5, "{name}: chunked encode differs by {err:e}");
    let enc = m.encode(x.clone());
    let enc_c = m.encode_chunked(x, chunk).unwrap();
    if let (Some(a), Some(b)) = (enc.indices.clone(), enc_c.indices) {
        let a = a.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let b = b.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let diff = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        assert_eq!(diff, 0, "{name}: {diff} FSQ indices differ");
    }
    // Decode: latents in chunks of chunk_mult latent frames.
    let latent = enc.latent;
    let whole = m.decode(latent.clone());
    let chunked = m.decode_chunked(latent, chunk_mult).unwrap();
    assert_eq!(whole.dims(), chunked.dims(), "{name}");
    assert_eq!(whole.dims()[2], frames);
    let err = max_abs_diff(&vec(whole), &vec(chunked));
    assert!(err <= 1e-5, "{name}: chunked decode differs by {err:e}");
}

#[test]
fn chunked_cv8x8x8_equals_whole() {
    check("CV8x8x8", 1);
}

#[test]
fn chunked_cv4x8x8_equals_whole() {
    check("CV4x8x8", 2);
}

#[test]
fn chunked_dv4x8x8_equals_whole() {
    check("DV4x8x8", 1);
}

#[test]
fn chunked_dv8x16x16_equals_whole() {
    check("DV8x16x16", 1);
}

#[test]
fn chunk_length_must_fit_the_temporal_grid() {
    let m = model("CV8x8x8");
    let x = Tensor::<5>::zeros([1, 3, 17, 48, 80], &device());
    let err = m.encode_chunked(x, 12).unwrap_err().to_string();
    assert!(err.contains("chunk_frames") && err.contains("12"), "{err}");
}
