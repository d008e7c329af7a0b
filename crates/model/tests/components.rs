//! Haar / rearrange patchers and FSQ against the official PyTorch outputs
//! (tests/fixtures/components, from shared/fixtures/debug/components.safetensors).

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_model::PatchMethod;
use cosmotok_model::fsq::{DEFAULT_LEVELS, Fsq};
use cosmotok_model::wavelet::{patch2d, patch3d, unpatch2d, unpatch3d};

fn components() -> Tensors {
    Tensors::open(&fixture("components/components.safetensors"))
}

#[test]
fn patchers_match_official_outputs() {
    let fx = components();
    let dev = device();
    for (name, method) in [
        ("haar", PatchMethod::Haar),
        ("rearrange", PatchMethod::Rearrange),
    ] {
        for p in [1usize, 2, 4] {
            let x2: Tensor<4> = fx.tensor("patch2d.input", &dev);
            let key = format!("{name}2d.p{p}");
            assert_close(
                &format!("{key}.patched"),
                patch2d(x2, p, method),
                fx.f32(&format!("{key}.patched")),
                1e-5,
            );
            let u: Tensor<4> = fx.tensor(&format!("{key}.unpatch_in"), &dev);
            assert_close(
                &format!("{key}.unpatch_out"),
                unpatch2d(u, p, method),
                fx.f32(&format!("{key}.unpatch_out")),
                1e-5,
            );
            let x2: Tensor<4> = fx.tensor("patch2d.input", &dev);
            assert_close(
                &format!("{key}.unpatched"),
                unpatch2d(patch2d(x2, p, method), p, method),
                fx.f32(&format!("{key}.unpatched")),
                1e-5,
            );

            let x3: Tensor<5> = fx.tensor("patch3d.input", &dev);
            let key = format!("{name}3d.p{p}");
            assert_close(
                &format!("{key}.patched"),
                patch3d(x3, p, method),
                fx.f32(&format!("{key}.patched")),
                1e-5,
            );
            let u: Tensor<5> = fx.tensor(&format!("{key}.unpatch_in"), &dev);
            assert_close(
                &format!("{key}.unpatch_out"),
                unpatch3d(u, p, method),
                fx.f32(&format!("{key}.unpatch_out")),
                1e-5,
            );
            let x3: Tensor<5> = fx.tensor("patch3d.input", &dev);
            assert_close(
                &format!("{key}.unpatched"),
                unpatch3d(patch3d(x3, p, method), p, method),
                fx.f32(&format!("{key}.unpatched")),
                1e-5,
            );
        }
    }
}

#[test]
fn haar_ll_band_is_the_block_mean() {
    // Independent of the fixtures: docs/architecture.md §3.2/§3.3 say LL = mean of the block.
    let dev = device();
    let x = Tensor::<4>::random(
        [1, 1, 4, 4],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &dev,
    );
    let ll = patch2d(x.clone(), 2, PatchMethod::Haar).narrow(1, 0, 1);
    let mean = x
        .reshape([1, 1, 2, 2, 2, 2])
        .mean_dims(&[3, 5])
        .reshape([1, 1, 2, 2]);
    let err = max_abs_diff(&to_vec(ll).0, &to_vec(mean).0);
    assert!(err < 1e-6, "{err}");
}

fn check_fsq(fx: &Tensors, tag: &str) {
    let dev = device().autodiff();
    let fsq = Fsq::new(&DEFAULT_LEVELS);
    let run = |z: Tensor<5>| fsq.quantize(z);
    let (z_data, z_shape) = fx.f32(&format!("fsq.{tag}.z"));
    let (ref_idx, _) = fx.i32(&format!("fsq.{tag}.indices"));
    let (grad_out, go_shape) = fx.f32(&format!("fsq.{tag}.grad_out"));
    // Images are [B, 6, H, W]: run them as 5-D with T = 1.
    let mut shape5 = z_shape.clone();
    if shape5.len() == 4 {
        shape5.insert(2, 1);
    }
    let z = Tensor::<5>::from_data(TensorData::new(z_data, shape5.clone()), &dev).require_grad();
    let (codes, indices) = run(z.clone());
    let (ref_codes, _) = fx.f32(&format!("fsq.{tag}.codes"));
    let err = max_abs_diff(
        &codes.clone().into_data().try_to_vec::<f32>().unwrap(),
        &ref_codes,
    );
    assert_eq!(err, 0.0, "{tag}: codes differ");
    let idx: Vec<i64> = indices
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    let mismatches = idx
        .iter()
        .zip(&ref_idx)
        .filter(|(a, b)| **a != **b as i64)
        .count();
    assert_eq!(mismatches, 0, "{tag}: {mismatches} FSQ indices differ");
    assert_eq!(go_shape, z_shape);
    // Straight-through gradient of sum(codes · grad_out).
    let go = Tensor::<5>::from_data(TensorData::new(grad_out, shape5.clone()), &dev);
    let grads = codes.mul(go).sum().backward();
    let gz = z.grad(&grads).expect("grad");
    let (ref_gz, _) = fx.f32(&format!("fsq.{tag}.grad_z"));
    let gerr = max_abs_diff(&gz.into_data().try_to_vec::<f32>().unwrap(), &ref_gz);
    assert!(gerr < 1e-5, "{tag}: grad error {gerr}");
    // index → code round trip.
    let back = fsq.indices_to_codes(indices.inner());
    let (ref_back, _) = fx.f32(&format!("fsq.{tag}.codes_from_indices"));
    assert_eq!(
        max_abs_diff(&back.into_data().try_to_vec::<f32>().unwrap(), &ref_back),
        0.0
    );
}

#[test]
fn fsq_matches_official_codes_indices_and_gradients() {
    let fx = components();
    check_fsq(&fx, "img");
    check_fsq(&fx, "vid");
}

#[test]
fn fsq_codebook_matches_implicit_codebook() {
    let fx = components();
    let fsq = Fsq::new(&DEFAULT_LEVELS);
    assert_eq!(fsq.codebook_size(), 64_000);
    assert_eq!(fsq.basis(), vec![1, 8, 64, 512, 2560, 12800]);
    let dev = device();
    let n = 64_000;
    let idx = Tensor::<1, Int>::arange(0..n as i64, &dev).reshape([1, 1, n]);
    let codes: Tensor<3> = fsq.indices_to_codes(idx); // [1, 6, n]
    let codes = codes.reshape([6, n]).transpose();
    let (book, shape) = fx.f32("fsq.implicit_codebook");
    assert_eq!(shape, vec![64_000, 6]);
    assert_eq!(
        max_abs_diff(&codes.into_data().try_to_vec::<f32>().unwrap(), &book),
        0.0
    );
}
