//! Shared test helpers: fixture paths, safetensors → tensors, relative errors.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures/losses").join(rel)
}

/// All tensors of one safetensors fixture.
pub struct Fx {
    bytes: Vec<u8>,
}

impl Fx {
    pub fn open(name: &str) -> Self {
        let p = fixture(name);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Self { bytes }
    }

    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes)
            .unwrap()
            .tensor(name)
            .is_ok()
    }

    pub fn f32(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("fixture key {name} missing"));
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (v, t.shape().to_vec())
    }

    pub fn scalar(&self, name: &str) -> f64 {
        self.f32(name).0[0] as f64
    }

    pub fn tensor<const D: usize>(&self, name: &str, dev: &Device) -> Tensor<D> {
        let (v, s) = self.f32(name);
        Tensor::from_data(TensorData::new(v, s), dev)
    }
}

pub fn value(t: Tensor<1>) -> f64 {
    t.into_scalar::<f64>()
}

pub fn vec_of<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
    let s = t.dims().to_vec();
    (
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(),
        s,
    )
}

/// |got − want| / |want|.
pub fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

/// ‖got − want‖₂ / ‖want‖₂ (host f64), after checking shapes.
pub fn rel_l2<const D: usize>(got: Tensor<D>, want: &(Vec<f32>, Vec<usize>)) -> f64 {
    let (g, s) = vec_of(got);
    assert_eq!(s, want.1, "shape");
    let num: f64 = g
        .iter()
        .zip(&want.0)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    let den: f64 = want.0.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// max |got − want| / max |want|.
pub fn rel_max<const D: usize>(got: Tensor<D>, want: &(Vec<f32>, Vec<usize>)) -> f64 {
    let (g, s) = vec_of(got);
    assert_eq!(s, want.1, "shape");
    let num = g
        .iter()
        .zip(&want.0)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max);
    let den = want.0.iter().map(|b| (*b as f64).abs()).fold(0.0, f64::max);
    num / den
}
