//! Safetensors weights with the official PyTorch key names (docs/architecture.md §7–§8): read the
//! header, resolve the architecture (given, stored by cosmotok, or inferred from the keys), load
//! through burn-store with the PyTorch adapter (bf16/f16 cast to f32), report missing and
//! unexpected keys, and save with the same key names (atomically, by burn-store).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter,
    SafetensorsStore,
};
use burn::tensor::DType;

use crate::config::{SamplerConvs, TokenizerConfig};
use crate::infer::{InferError, Shapes, infer_config, stores_unused_sampler_convs};
use crate::tokenizer::Tokenizer;

/// Metadata key under which cosmotok stores the resolved config JSON.
pub const CONFIG_METADATA_KEY: &str = "cosmotok_config";

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a safetensors file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("`{path}`: {source}")]
    Infer {
        path: PathBuf,
        #[source]
        source: InferError,
    },
    #[error("`{path}`: invalid config: {source}")]
    Config {
        path: PathBuf,
        source: crate::config::ConfigError,
    },
    #[error(
        "`{path}` does not fit the architecture {arch}: {} missing key(s), e.g. {}{}",
        missing.len(), missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
        if *unexpected > 0 { format!(" ({unexpected} key(s) of the file were not used — is the config right?)") } else { String::new() }
    )]
    Missing {
        path: PathBuf,
        arch: String,
        missing: Vec<String>,
        unexpected: usize,
    },
    #[error("`{path}`: {}", errors.join("; "))]
    Apply { path: PathBuf, errors: Vec<String> },
    #[error("cannot write `{path}`: {reason}")]
    Save { path: PathBuf, reason: String },
}

/// One tensor entry of a safetensors header.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub offsets: (usize, usize),
}

/// The parsed header of a safetensors file.
#[derive(Clone, Debug)]
pub struct Header {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Byte offset of the data section.
    pub data_start: usize,
}

/// Buffers of the official modules that carry no learned information (docs/architecture.md §3.3,
/// §6.1).
pub fn is_ignored_buffer(key: &str) -> bool {
    const SUFFIXES: [&str; 6] = [
        ".wavelets",
        "._arange",
        ".patch_size_buffer",
        "._levels",
        "._basis",
        ".implicit_codebook",
    ];
    SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// Reference tensors stored beside the weights in the fixtures (`ref.input`, ...).
pub fn is_reference(key: &str) -> bool {
    key.starts_with("ref.")
}

impl Header {
    pub fn read(path: &Path) -> Result<Self, WeightsError> {
        let io = |source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let fmt = |reason: String| WeightsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let file_len = f.metadata().map_err(io)?.len() as usize;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).map_err(|_| {
            fmt(format!(
                "{file_len} bytes, shorter than the 8-byte header length"
            ))
        })?;
        let n = u64::from_le_bytes(len) as usize;
        if n > 100 << 20 || 8 + n > file_len {
            return Err(fmt(format!(
                "header length {n} does not fit the file size {file_len}"
            )));
        }
        let mut buf = vec![0u8; n];
        f.read_exact(&mut buf).map_err(io)?;
        let json: serde_json::Value =
            serde_json::from_slice(&buf).map_err(|e| fmt(format!("header is not JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| fmt("header is not a JSON object".into()))?;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (k, v) in obj {
            if k == "__metadata__" {
                if let Some(m) = v.as_object() {
                    for (mk, mv) in m {
                        metadata.insert(mk.clone(), mv.as_str().unwrap_or_default().to_string());
                    }
                }
                continue;
            }
            let bad = || fmt(format!("entry `{k}` lacks dtype/shape/data_offsets"));
            let dtype = v
                .get("dtype")
                .and_then(|d| d.as_str())
                .ok_or_else(bad)?
                .to_string();
            let shape = v
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect())
                .ok_or_else(bad)?;
            let offs: Vec<usize> = v
                .get("data_offsets")
                .and_then(|s| s.as_array())
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect())
                .ok_or_else(bad)?;
            if offs.len() != 2 || offs[0] > offs[1] || 8 + n + offs[1] > file_len {
                return Err(fmt(format!(
                    "entry `{k}` has data offsets {offs:?} outside the file"
                )));
            }
            tensors.insert(
                k.clone(),
                TensorInfo {
                    dtype,
                    shape,
                    offsets: (offs[0], offs[1]),
                },
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata,
            data_start: 8 + n,
        })
    }

    /// Key → shape of the learned tensors (buffers and fixture references left out).
    pub fn shapes(&self) -> Shapes {
        self.tensors
            .iter()
            .filter(|(k, _)| !is_reference(k) && !is_ignored_buffer(k))
            .map(|(k, v)| (k.clone(), v.shape.clone()))
            .collect()
    }

    /// Raw little-endian bytes of one tensor.
    pub fn read_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, WeightsError> {
        let Some(info) = self.tensors.get(key) else {
            return Ok(None);
        };
        let io = |source| WeightsError::Io {
            path: self.path.clone(),
            source,
        };
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::open(&self.path).map_err(io)?;
        f.seek(SeekFrom::Start((self.data_start + info.offsets.0) as u64))
            .map_err(io)?;
        let mut buf = vec![0u8; info.offsets.1 - info.offsets.0];
        f.read_exact(&mut buf).map_err(io)?;
        Ok(Some(buf))
    }

    /// FSQ levels from an int32/int64 `quantizer._levels` buffer, if stored.
    pub fn fsq_levels(&self) -> Result<Option<Vec<usize>>, WeightsError> {
        for key in ["quantizer._levels", "inv_quant.quantizer._levels"] {
            let Some(info) = self.tensors.get(key) else {
                continue;
            };
            let Some(bytes) = self.read_bytes(key)? else {
                continue;
            };
            let levels = match info.dtype.as_str() {
                "I32" => bytes
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as usize)
                    .collect(),
                "I64" => bytes
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
                    .collect(),
                _ => continue,
            };
            return Ok(Some(levels));
        }
        Ok(None)
    }

    /// The config cosmotok stored in the file's metadata, if any.
    pub fn stored_config(&self) -> Option<TokenizerConfig> {
        let s = self.metadata.get(CONFIG_METADATA_KEY)?;
        serde_json::from_str(s).ok()
    }

    /// Resolves the architecture: `given`, else the stored cosmotok config, else inferred
    /// from keys and shapes. The sampler-conv structure always follows the file.
    pub fn resolve_config(
        &self,
        given: Option<TokenizerConfig>,
    ) -> Result<TokenizerConfig, WeightsError> {
        let shapes = self.shapes();
        let mut cfg = match given.or_else(|| self.stored_config()) {
            Some(c) => c,
            None => {
                infer_config(&shapes, self.fsq_levels()?).map_err(|source| WeightsError::Infer {
                    path: self.path.clone(),
                    source,
                })?
            }
        };
        if cfg.is_video() {
            cfg.sampler_convs = if stores_unused_sampler_convs(&shapes, &cfg) {
                SamplerConvs::All
            } else {
                SamplerConvs::Used
            };
        }
        cfg.validate().map_err(|source| WeightsError::Config {
            path: self.path.clone(),
            source,
        })?;
        Ok(cfg)
    }
}

/// What loading did, beyond the weights themselves.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub applied: usize,
    /// Non-learned buffers of the official modules, ignored.
    pub ignored_buffers: usize,
    /// Fixture reference tensors (`ref.*`), ignored.
    pub ignored_references: usize,
    /// Keys of the file the architecture has no place for (not buffers, not references).
    pub unexpected: Vec<String>,
    /// Source dtypes seen (e.g. BF16 for released JITs), all loaded as f32.
    pub dtypes: Vec<String>,
}

/// Loads a tokenizer from a safetensors state_dict with the official key names.
pub fn load(
    path: &Path,
    config: Option<TokenizerConfig>,
    device: &Device,
) -> Result<(Tokenizer, LoadReport), WeightsError> {
    let header = Header::read(path)?;
    let cfg = header.resolve_config(config)?;
    let mut model = Tokenizer::new(&cfg, device).map_err(|source| WeightsError::Config {
        path: path.to_path_buf(),
        source,
    })?;
    let report = load_into(&mut model, &header)?;
    Ok((model, report))
}

/// A store reading official PyTorch key names into the tokenizer: norm weight/bias → gamma/beta,
/// any float dtype cast to f32, enum variants (Image/Video) left out of the paths.
fn official_keys(store: SafetensorsStore) -> SafetensorsStore {
    store
        .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
        .skip_enum_variants(true)
        .allow_partial(true)
        .validate(true)
}

/// Loads the file's tensors into an existing tokenizer of the right architecture.
pub fn load_into(model: &mut Tokenizer, header: &Header) -> Result<LoadReport, WeightsError> {
    let path = header.path.clone();
    let mut store = official_keys(SafetensorsStore::from_file(&path));
    let result = model
        .load_from(&mut store)
        .map_err(|e| WeightsError::Format {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if !result.errors.is_empty() {
        return Err(WeightsError::Apply {
            path,
            errors: result.errors.iter().map(|e| e.to_string()).collect(),
        });
    }
    let unexpected: Vec<String> = result
        .unused
        .iter()
        .filter(|k| !is_ignored_buffer(k) && !is_reference(k))
        .cloned()
        .collect();
    if !result.missing.is_empty() {
        return Err(WeightsError::Missing {
            path,
            arch: crate::presets::short_name(model.config()),
            missing: result.missing.iter().map(|(k, _)| k.clone()).collect(),
            unexpected: unexpected.len(),
        });
    }
    let mut dtypes: Vec<String> = header.tensors.values().map(|t| t.dtype.clone()).collect();
    dtypes.sort();
    dtypes.dedup();
    Ok(LoadReport {
        applied: result.applied.len(),
        ignored_buffers: header
            .tensors
            .keys()
            .filter(|k| is_ignored_buffer(k))
            .count(),
        ignored_references: header.tensors.keys().filter(|k| is_reference(k)).count(),
        unexpected,
        dtypes,
    })
}

/// Saves the tokenizer's weights as f32 safetensors with the official key names, plus the
/// resolved config in the metadata: [`canonical_safetensors`] bytes (the same weights give the
/// same file), written by [`write_file_atomic`] (readable by others as the umask allows).
pub fn save(model: &Tokenizer, path: &Path) -> Result<(), WeightsError> {
    let err = |reason: String| WeightsError::Save {
        path: path.to_path_buf(),
        reason,
    };
    let config_json = serde_json::to_string(model.config()).expect("config serialises");
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata(CONFIG_METADATA_KEY, config_json);
    model
        .save_into(&mut store)
        .map_err(|e| err(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| err(e.to_string()))?;
    let bytes = canonical_safetensors(&bytes, None).map_err(err)?;
    write_file_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}

/// A safetensors file rewritten in one canonical form: tensors in key order with contiguous
/// offsets, the header's JSON with sorted keys and `__metadata__` (sorted) first, padded with
/// spaces to a multiple of 8 bytes as the reference writer does. `keep` selects the tensors
/// (by key; `None`: all). The same tensors and metadata always give the same bytes, which
/// the reference `safetensors` writer does not promise: it stores the metadata from a
/// `HashMap`, whose order changes from run to run.
pub fn canonical_safetensors(
    bytes: &[u8],
    keep: Option<&dyn Fn(&str) -> bool>,
) -> Result<Vec<u8>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let metadata: BTreeMap<String, String> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(k, _)| keep.is_none_or(|f| f(k)))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // Header entries, written in key order (`__metadata__` sorts first: `_` < `a`..`z`).
    let mut header = String::from("{");
    let mut parts = Vec::new();
    if !metadata.is_empty() {
        parts.push(format!(
            "\"__metadata__\":{}",
            serde_json::to_string(&metadata).expect("strings serialise")
        ));
    }
    let mut offset = 0usize;
    for (k, v) in &tensors {
        let n = v.data().len();
        parts.push(format!(
            "{}:{{\"dtype\":\"{:?}\",\"shape\":{},\"data_offsets\":[{offset},{}]}}",
            serde_json::to_string(k).expect("strings serialise"),
            v.dtype(),
            serde_json::to_string(v.shape()).expect("shapes serialise"),
            offset + n
        ));
        offset += n;
    }
    header.push_str(&parts.join(","));
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, v) in &tensors {
        out.extend_from_slice(v.data());
    }
    Ok(out)
}

/// Writes `bytes` to `path` atomically and durably: a scratch file beside it (created like any
/// new file: mode 0666 less the umask, so 0644 usually), synced, renamed over `path`, then the
/// directory synced (best effort) so that the rename survives a crash. A failed write removes
/// the scratch file and leaves `path` as it was. cosmotok's one writer of outputs (exports,
/// checkpoints, tensors written by the CLI).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir);
    }
    result
}

/// fsync of a directory (makes the renames in it durable); best effort on platforms that refuse
/// it.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// What [`load_matching`] did.
#[derive(Clone, Debug, Default)]
pub struct MatchReport {
    /// Keys loaded from the file.
    pub loaded: Vec<String>,
    /// Keys of the model whose shape differs in the file: `(key, file shape, model shape)`.
    /// They keep their fresh initialisation.
    pub reinitialized: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Keys of the model absent from the file (fresh initialisation).
    pub missing: Vec<String>,
    /// Learned keys of the file the model does not have.
    pub unused: Vec<String>,
}

/// Loads every tensor of `path` whose key and shape match a parameter of `model`, leaving
/// the others at their initialisation — fine-tuning into a new compression ratio or width.
pub fn load_matching(model: &mut Tokenizer, path: &Path) -> Result<MatchReport, WeightsError> {
    let header = Header::read(path)?;
    let fmt = |reason: String| WeightsError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let index = crate::params::param_index(model);
    let mut report = MatchReport::default();
    let mut chosen: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (key, (_, shape)) in &index {
        match header.tensors.get(key) {
            None => report.missing.push(key.clone()),
            Some(info) if info.shape != *shape => {
                report
                    .reinitialized
                    .push((key.clone(), info.shape.clone(), shape.clone()))
            }
            Some(info) => {
                let dtype = match info.dtype.as_str() {
                    "F32" => safetensors::Dtype::F32,
                    "F16" => safetensors::Dtype::F16,
                    "BF16" => safetensors::Dtype::BF16,
                    "F64" => safetensors::Dtype::F64,
                    other => {
                        return Err(fmt(format!(
                            "`{key}` has dtype {other}; expected F32, F16, BF16 or F64"
                        )));
                    }
                };
                let bytes = header.read_bytes(key)?.expect("key is in the header");
                chosen.push((key.clone(), dtype, info.shape.clone(), bytes));
                report.loaded.push(key.clone());
            }
        }
    }
    report.unused = header
        .shapes()
        .keys()
        .filter(|k| !index.contains_key(*k))
        .cloned()
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = chosen
        .iter()
        .map(|(k, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| fmt(format!("`{k}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let bytes = safetensors::tensor::serialize(views, None).map_err(|e| fmt(e.to_string()))?;
    let mut store = official_keys(SafetensorsStore::from_bytes(Some(bytes)));
    let result = model
        .load_from(&mut store)
        .map_err(|e| fmt(e.to_string()))?;
    if !result.errors.is_empty() {
        return Err(WeightsError::Apply {
            path: path.to_path_buf(),
            errors: result.errors.iter().map(|e| e.to_string()).collect(),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod canonical_tests {
    use super::*;

    /// Two files with the same tensors and metadata, written by the reference writer from maps
    /// in different orders, become the same canonical bytes, which read back to the same
    /// tensors and metadata.
    #[test]
    fn canonical_bytes_are_unique_and_readable() {
        use safetensors::tensor::TensorView;
        let a: Vec<u8> = (0..24u8).collect();
        let b: Vec<u8> = (100..108u8).collect();
        let views = |order: bool| {
            let mut v = vec![
                (
                    "z.weight",
                    TensorView::new(safetensors::Dtype::F32, vec![2, 3], &a).unwrap(),
                ),
                (
                    "a.bias",
                    TensorView::new(safetensors::Dtype::BF16, vec![4], &b).unwrap(),
                ),
            ];
            if order {
                v.reverse();
            }
            v
        };
        let meta = |order: bool| {
            let mut m = std::collections::HashMap::new();
            let kv = [("x", "1"), ("config", "{\"a\":1}"), ("format", "pt")];
            for (k, v) in if order {
                kv.to_vec()
            } else {
                kv.iter().rev().cloned().collect()
            } {
                m.insert(k.to_string(), v.to_string());
            }
            Some(m)
        };
        let one = safetensors::serialize(views(false), meta(false)).unwrap();
        let two = safetensors::serialize(views(true), meta(true)).unwrap();
        let (c1, c2) = (
            canonical_safetensors(&one, None).unwrap(),
            canonical_safetensors(&two, None).unwrap(),
        );
        assert_eq!(c1, c2);
        assert_eq!(
            canonical_safetensors(&c1, None).unwrap(),
            c1,
            "a fixed point"
        );
        let st = safetensors::SafeTensors::deserialize(&c1).unwrap();
        assert_eq!(st.tensor("z.weight").unwrap().data(), &a[..]);
        assert_eq!(st.tensor("a.bias").unwrap().shape(), &[4]);
        assert_eq!(
            st.tensor("a.bias").unwrap().dtype(),
            safetensors::Dtype::BF16
        );
        let (n, m) = safetensors::SafeTensors::read_metadata(&c1).unwrap();
        assert_eq!(n % 8, 0);
        assert_eq!(m.metadata().as_ref().unwrap()["config"], "{\"a\":1}");
        let keep = |k: &str| k.starts_with("a.");
        let part = canonical_safetensors(&c1, Some(&keep)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&part).unwrap();
        assert_eq!(st.names(), ["a.bias"]);
    }
}
