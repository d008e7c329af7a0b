//! Causality (docs/architecture.md §5.12): latent k depends only on frames ≤ k·t; decoded frame f
//! only on latents ≤ ceil(f / t). Checked on the CV8x8x8 and DV4x8x8 parity models.

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_model::TokenizerConfig;
use cosmotok_model::weights::load;

fn model(name: &str) -> (cosmotok_model::Tokenizer, Tensor<5>) {
    let dev = device();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("parity/{name}.json"))).unwrap(),
    )
    .unwrap();
    let cfg = TokenizerConfig::from_official_json(&v).unwrap();
    let path = fixture(&format!("parity/{name}.safetensors"));
    let (m, _) = load(&path, Some(cfg), &dev).unwrap();
    let x: Tensor<5> = Tensors::open(&path).tensor("ref.input", &dev);
    (m, x)
}

fn frames(t: Tensor<5>, start: usize, len: usize) -> Vec<f32> {
    t.narrow(2, start, len)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn check(name: &str) {
    let (m, x) = model(name);
    let tc = m.config().temporal_compression;
    let t = x.dims()[2]; // 17
    // Encoding a prefix of 1 + t_c frames gives the leading latents of the whole clip.
    // Pre-bottleneck moments: FSQ codes of a random model are too coarse to show a change.
    let whole = m.encode_moments(x.clone());
    let prefix = m.encode_moments(x.clone().narrow(2, 0, 1 + tc));
    assert_eq!(prefix.dims()[2], 2);
    let err = max_abs_diff(&frames(whole.clone(), 0, 2), &frames(prefix, 0, 2));
    assert!(err <= 1e-6, "{name}: prefix latents differ by {err:e}");
    // Perturbing frames ≥ 1 + t_c never changes latents 0 and 1.
    let noise = x
        .clone()
        .narrow(2, 1 + tc, t - 1 - tc)
        .random_like(burn::tensor::Distribution::Uniform(-1.0, 1.0));
    let perturbed = Tensor::cat(vec![x.clone().narrow(2, 0, 1 + tc), noise], 2);
    let pl = m.encode_moments(perturbed);
    assert_eq!(
        frames(whole.clone(), 0, 2),
        frames(pl.clone(), 0, 2),
        "{name}: earlier latents changed"
    );
    assert_ne!(
        frames(whole.clone(), 2, 1),
        frames(pl, 2, 1),
        "{name}: later latents must change"
    );
    // Decoder: perturbing latents ≥ 2 leaves frames 0..=t_c unchanged.
    let whole = m.encode(x).latent;
    let d_whole = m.decode(whole.clone());
    let tl = whole.dims()[2];
    let lnoise = whole
        .clone()
        .narrow(2, 2, tl - 2)
        .random_like(burn::tensor::Distribution::Uniform(-1.0, 1.0));
    let d_pert = m.decode(Tensor::cat(vec![whole.narrow(2, 0, 2), lnoise], 2));
    assert_eq!(
        frames(d_whole.clone(), 0, 1 + tc),
        frames(d_pert.clone(), 0, 1 + tc),
        "{name}: decoded frames 0..={tc} changed"
    );
    assert_ne!(frames(d_whole, 1 + tc, 1), frames(d_pert, 1 + tc, 1));
}

#[test]
fn cv8x8x8_is_causal() {
    check("CV8x8x8");
}

#[test]
fn dv4x8x8_is_causal() {
    check("DV4x8x8");
}
