//! Named tensors in safetensors files: `input` in, `latent` / `indices` / `codes` /
//! `reconstruction` out. f32, bf16 and f16 are read as f32; i32/i64 indices as Int.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors, serialize, tensor::TensorView};

pub struct TensorFile {
    bytes: Vec<u8>,
    path: String,
}

impl TensorFile {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        SafeTensors::deserialize(&bytes)
            .with_context(|| format!("`{}` is not a safetensors file", path.display()))?;
        Ok(Self {
            bytes,
            path: path.display().to_string(),
        })
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("checked at open")
    }

    pub fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }

    pub fn names(&self) -> Vec<String> {
        self.st().names().into_iter().map(str::to_string).collect()
    }

    /// A float tensor of rank 4 or 5 as f32 values and shape.
    pub fn float(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let st = self.st();
        let t = st.tensor(name).map_err(|_| {
            anyhow::anyhow!(
                "`{}` has no tensor named `{name}` (it has: {})",
                self.path,
                self.names().join(", ")
            )
        })?;
        let d = t.data();
        let v: Vec<f32> = match t.dtype() {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => bail!(
                "`{}`: tensor `{name}` has dtype {other:?}, expected f32, bf16 or f16",
                self.path
            ),
        };
        Ok((v, t.shape().to_vec()))
    }

    /// An integer tensor (i32 or i64) as i64 values and shape.
    pub fn int(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        let st = self.st();
        let t = st
            .tensor(name)
            .map_err(|_| anyhow::anyhow!("`{}` has no tensor named `{name}`", self.path))?;
        let d = t.data();
        let v = match t.dtype() {
            Dtype::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            other => bail!(
                "`{}`: tensor `{name}` has dtype {other:?}, expected i32 or i64",
                self.path
            ),
        };
        Ok((v, t.shape().to_vec()))
    }
}

/// Outputs collected before writing.
#[derive(Default)]
pub struct Outputs {
    entries: Vec<(String, Vec<usize>, Vec<u8>, Dtype)>,
}

impl Outputs {
    pub fn float(&mut self, name: &str, values: &[f32], shape: &[usize]) {
        let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.entries
            .push((name.into(), shape.to_vec(), bytes, Dtype::F32));
    }

    pub fn int32(&mut self, name: &str, values: &[i64], shape: &[usize]) {
        let bytes = values
            .iter()
            .flat_map(|x| (*x as i32).to_le_bytes())
            .collect();
        self.entries
            .push((name.into(), shape.to_vec(), bytes, Dtype::I32));
    }

    /// Writes atomically (temp file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let views: Vec<(String, TensorView)> = self
            .entries
            .iter()
            .map(|(n, s, b, d)| Ok((n.clone(), TensorView::new(*d, s.clone(), b)?)))
            .collect::<Result<_, safetensors::SafeTensorError>>()?;
        crate::output::write(path, &serialize(views, None)?)
    }
}

pub fn to_f32<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
    let shape = t.dims().to_vec();
    (
        t.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32"),
        shape,
    )
}

pub fn to_i64<const D: usize>(t: Tensor<D, Int>) -> (Vec<i64>, Vec<usize>) {
    let shape = t.dims().to_vec();
    (
        t.into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("i64"),
        shape,
    )
}
