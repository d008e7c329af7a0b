//! Spatial tiling: tile layout, blending that is a partition of unity, scale handling, and the
//! tokenizer's tiled encode/decode (exact when one tile covers the frame).

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_model::TokenizerConfig;
use cosmotok_model::tiling::{tile_starts, tiled};

fn vec(t: Tensor<5>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn tiles_cover_the_axis_with_the_requested_overlap() {
    for (n, tile, ov) in [
        (100, 32, 8),
        (64, 32, 8),
        (33, 32, 0),
        (200, 64, 16),
        (20, 32, 8),
    ] {
        let starts = tile_starts(n, tile, ov);
        let mut covered = vec![false; n];
        for &s in &starts {
            for c in covered.iter_mut().skip(s).take(tile.min(n)) {
                *c = true;
            }
        }
        assert!(covered.iter().all(|c| *c), "{n}/{tile}/{ov}: {starts:?}");
        for w in starts.windows(2) {
            assert!(
                w[0] + tile >= w[1] + ov,
                "{n}/{tile}/{ov}: overlap too small {starts:?}"
            );
        }
        assert_eq!(*starts.last().unwrap() + tile.min(n), n);
    }
}

#[test]
fn blending_is_a_partition_of_unity_and_handles_scale() {
    let dev = device();
    dev.seed(3);
    let x = Tensor::<5>::random([1, 2, 3, 40, 72], burn::tensor::Distribution::Default, &dev);
    // Identity per tile: the blend gives back the input.
    let y = tiled(x.clone(), 16, 8, 1, 1, |t| t);
    assert!(max_abs_diff(&vec(x.clone()), &vec(y)) < 1e-6);
    // A 2× nearest upsample per tile equals the upsample of the whole.
    let up = |t: Tensor<5>| {
        let [b, c, f, h, w] = t.dims();
        t.reshape([b, c, f, h, 1, w, 1])
            .expand([b, c, f, h, 2, w, 2])
            .reshape([b, c, f, 2 * h, 2 * w])
    };
    let y = tiled(x.clone(), 16, 8, 2, 1, up);
    assert!(max_abs_diff(&vec(up(x)), &vec(y)) < 1e-6);
}

fn model(name: &str) -> cosmotok_model::Tokenizer {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("parity/{name}.json"))).unwrap(),
    )
    .unwrap();
    let cfg = TokenizerConfig::from_official_json(&v).unwrap();
    cosmotok_model::weights::load(
        &fixture(&format!("parity/{name}.safetensors")),
        Some(cfg),
        &device(),
    )
    .unwrap()
    .0
}

#[test]
fn tiled_encode_decode_shapes_and_single_tile_exactness() {
    let m = model("CV8x8x8");
    let x: Tensor<5> =
        Tensors::open(&fixture("parity/CV8x8x8.safetensors")).tensor("ref.input", &device());
    // One tile covering the frame: exactly the plain encode / decode.
    let whole = m.encode(x.clone()).latent;
    let one = m.encode_tiled(x.clone(), 80, 16, None).unwrap().latent;
    assert_eq!(vec(whole.clone()), vec(one));
    let rec = m.decode(whole.clone());
    let rec_one = m.decode_tiled(whole.clone(), 80, 16, None).unwrap();
    assert_eq!(vec(rec.clone()), vec(rec_one));
    // Overlapping 32-pixel tiles (with time chunks): same shapes, finite values.
    let tiled_lat = m.encode_tiled(x.clone(), 32, 16, Some(8)).unwrap().latent;
    assert_eq!(tiled_lat.dims(), whole.dims());
    assert!(vec(tiled_lat.clone()).iter().all(|v| v.is_finite()));
    let tiled_rec = m.decode_tiled(tiled_lat, 32, 16, Some(1)).unwrap();
    assert_eq!(tiled_rec.dims(), rec.dims());
    // Bad tile sizes are refused with the field named.
    let err = m.encode_tiled(x, 30, 8, None).unwrap_err().to_string();
    assert!(err.contains("tile") && err.contains("30"), "{err}");
}
