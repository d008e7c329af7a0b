//! Shared test helpers: fixture paths and safetensors → burn tensors.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

pub fn device() -> Device {
    Device::flex()
}

/// All tensors of one safetensors file, owned.
pub struct Tensors {
    pub bytes: Vec<u8>,
}

impl Tensors {
    pub fn open(path: &PathBuf) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { bytes }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("safetensors")
    }

    pub fn names(&self) -> Vec<String> {
        self.st()
            .names()
            .into_iter()
            .map(|s| s.to_string())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.st()
            .tensor(name)
            .unwrap_or_else(|_| panic!("missing {name}"))
            .shape()
            .to_vec()
    }

    pub fn f32(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let t = self
            .st()
            .tensor(name)
            .unwrap_or_else(|_| panic!("missing {name}"));
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (v, t.shape().to_vec())
    }

    pub fn i32(&self, name: &str) -> (Vec<i32>, Vec<usize>) {
        let t = self
            .st()
            .tensor(name)
            .unwrap_or_else(|_| panic!("missing {name}"));
        assert_eq!(t.dtype(), Dtype::I32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (v, t.shape().to_vec())
    }

    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (v, shape) = self.f32(name);
        Tensor::from_data(TensorData::new(v, shape), device)
    }
}

/// Max |a − b| (shapes must agree).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
    let shape = t.dims().to_vec();
    (t.into_data().try_to_vec::<f32>().expect("f32"), shape)
}

/// Asserts shape equality and max abs error ≤ tol; returns the error.
pub fn assert_close<const D: usize>(
    what: &str,
    got: Tensor<D>,
    want: (Vec<f32>, Vec<usize>),
    tol: f32,
) -> f32 {
    let (g, gs) = to_vec(got);
    assert_eq!(gs, want.1, "{what}: shape");
    let err = max_abs_diff(&g, &want.0);
    assert!(err <= tol, "{what}: max abs error {err:e} > {tol:e}");
    err
}
