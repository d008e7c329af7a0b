//! `cosmotok-convert`: native import of PyTorch checkpoints — the released TorchScript
//! archives (`encoder.jit`, `decoder.jit`, `autoencoder.jit`) and `torch.save` state_dicts —
//! to safetensors, without running any pickle code (see [`pickle`] for the allow-list).
//!
//! ```no_run
//! use std::path::Path;
//! let tensors = cosmotok_convert::read_jit(Path::new("autoencoder.jit"))?;
//! cosmotok_convert::convert_to_safetensors(
//!     Path::new("autoencoder.jit"),
//!     Path::new("autoencoder.safetensors"),
//!     true, // keep bf16 (cosmotok's loader casts to f32)
//! )?;
//! # Ok::<(), cosmotok_convert::ConvertError>(())
//! ```

pub mod dtype;
pub mod error;
pub mod pickle;
pub mod torchscript;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use dtype::Dtype;
pub use error::ConvertError;

/// Metadata key of the converted file naming its source archive(s).
pub const SOURCE_METADATA_KEY: &str = "cosmotok_converted_from";

/// One tensor of a checkpoint's `state_dict()`: contiguous little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct JitTensor {
    pub key: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl JitTensor {
    /// The same values as f32 when the dtype is a float type (bit-exact for f16/bf16; f64
    /// rounds to nearest); integer and bool tensors are returned unchanged.
    pub fn to_f32(&self) -> JitTensor {
        let data: Vec<u8> = match self.dtype {
            Dtype::F32
            | Dtype::I64
            | Dtype::I32
            | Dtype::I16
            | Dtype::I8
            | Dtype::U8
            | Dtype::Bool => {
                return self.clone();
            }
            Dtype::BF16 => self
                .data
                .chunks_exact(2)
                .flat_map(|c| {
                    half::bf16::from_le_bytes([c[0], c[1]])
                        .to_f32()
                        .to_le_bytes()
                })
                .collect(),
            Dtype::F16 => self
                .data
                .chunks_exact(2)
                .flat_map(|c| {
                    half::f16::from_le_bytes([c[0], c[1]])
                        .to_f32()
                        .to_le_bytes()
                })
                .collect(),
            Dtype::F64 => self
                .data
                .chunks_exact(8)
                .flat_map(|c| {
                    (f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).to_le_bytes()
                })
                .collect(),
        };
        JitTensor {
            key: self.key.clone(),
            dtype: Dtype::F32,
            shape: self.shape.clone(),
            data,
        }
    }
}

/// Reads the `state_dict()` tensors of a TorchScript archive (or a `torch.save` zip file), in
/// `state_dict()` order. Refuses pickles that reference anything but tensors and containers.
pub fn read_jit(path: &Path) -> Result<Vec<JitTensor>, ConvertError> {
    torchscript::read_archive(path)
}

/// What a conversion wrote.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Keys written, in the order read.
    pub keys: Vec<(String, Dtype, Vec<usize>)>,
    /// Number of tensors per written dtype.
    pub dtypes: BTreeMap<Dtype, usize>,
    /// Keys present in several inputs with identical values (written once).
    pub duplicates: Vec<String>,
}

/// Converts one archive to safetensors; `keep_dtype: false` casts float tensors to f32.
pub fn convert_to_safetensors(
    jit: &Path,
    out: &Path,
    keep_dtype: bool,
) -> Result<Summary, ConvertError> {
    convert_many(&[jit.to_path_buf()], out, keep_dtype)
}

/// Converts and merges several archives (e.g. `encoder.jit` + `decoder.jit`) into one
/// safetensors file (streamed to a scratch file, then renamed). A key in two inputs must hold
/// identical values.
pub fn convert_many(
    inputs: &[PathBuf],
    out: &Path,
    keep_dtype: bool,
) -> Result<Summary, ConvertError> {
    let c = Converted::read(inputs, keep_dtype)?;
    let write_err = |reason: String| ConvertError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let tmp = out.with_extension("safetensors.partial");
    safetensors::tensor::serialize_to_file(c.views().map_err(write_err)?, Some(c.metadata()), &tmp)
        .map_err(|e| write_err(e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| write_err(e.to_string()))?;
    Ok(c.summary)
}

/// [`convert_many`] in memory: the safetensors file's bytes and what they hold.
pub fn convert_to_bytes(
    inputs: &[PathBuf],
    keep_dtype: bool,
) -> Result<(Vec<u8>, Summary), ConvertError> {
    let c = Converted::read(inputs, keep_dtype)?;
    let write_err = |reason: String| ConvertError::Write {
        path: PathBuf::from("(in memory)"),
        reason,
    };
    let bytes = safetensors::tensor::serialize(c.views().map_err(write_err)?, Some(c.metadata()))
        .map_err(|e| write_err(e.to_string()))?;
    Ok((bytes, c.summary))
}

/// The merged tensors of some archives, before they are written.
struct Converted {
    tensors: Vec<JitTensor>,
    summary: Summary,
    /// The inputs' file names, for the metadata.
    sources: String,
}

impl Converted {
    fn read(inputs: &[PathBuf], keep_dtype: bool) -> Result<Converted, ConvertError> {
        let mut tensors: Vec<JitTensor> = Vec::new();
        let mut seen: HashMap<String, (usize, PathBuf)> = HashMap::new();
        let mut summary = Summary::default();
        for input in inputs {
            for t in read_jit(input)? {
                let t = if keep_dtype { t } else { t.to_f32() };
                if let Some((i, first)) = seen.get(&t.key) {
                    if tensors[*i] != t {
                        return Err(ConvertError::Tensor {
                            path: input.clone(),
                            key: t.key,
                            reason: format!("also in `{}` with different values", first.display()),
                        });
                    }
                    summary.duplicates.push(t.key);
                    continue;
                }
                seen.insert(t.key.clone(), (tensors.len(), input.clone()));
                tensors.push(t);
            }
        }
        for t in &tensors {
            *summary.dtypes.entry(t.dtype).or_default() += 1;
            summary.keys.push((t.key.clone(), t.dtype, t.shape.clone()));
        }
        let sources = inputs
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.display().to_string())
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Converted {
            tensors,
            summary,
            sources,
        })
    }

    fn views(&self) -> Result<Vec<(String, safetensors::tensor::TensorView<'_>)>, String> {
        self.tensors
            .iter()
            .map(|t| {
                safetensors::tensor::TensorView::new(
                    t.dtype.safetensors(),
                    t.shape.clone(),
                    &t.data,
                )
                .map(|v| (t.key.clone(), v))
                .map_err(|e| format!("`{}`: {e}", t.key))
            })
            .collect()
    }

    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            (SOURCE_METADATA_KEY.to_string(), self.sources.clone()),
            ("format".to_string(), "pt".to_string()),
        ])
    }
}
