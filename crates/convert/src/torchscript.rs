//! PyTorch zip archives — TorchScript (`torch.jit.save`: `encoder.jit`, `decoder.jit`,
//! `autoencoder.jit`) and `torch.save` state_dicts — read without running any pickle code.
//!
//! Layout: `<archive>/data.pkl` (the pickled module tree or dict), `<archive>/data/<key>` (raw
//! little-endian storages named by persistent ids), and for TorchScript `<archive>/code/**.py`
//! (class definitions whose `__parameters__` / `__buffers__` lists say which tensor attributes
//! are in `state_dict()`), `constants.pkl`, `version`, `byteorder`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::JitTensor;
use crate::error::ConvertError;
use crate::pickle::{self, PickleError, TensorRef, Value};

/// Deepest module nesting accepted (pickles can be cyclic; real models nest < 20 deep).
const MAX_DEPTH: usize = 200;

/// Parameter and buffer names of one TorchScript module class.
#[derive(Clone, Debug, Default)]
struct ClassInfo {
    parameters: Vec<String>,
    buffers: Vec<String>,
}

/// An opened archive: the zip and the name of its top-level folder.
struct Archive {
    path: PathBuf,
    zip: zip::ZipArchive<std::fs::File>,
    prefix: String,
    names: Vec<String>,
    storages: HashMap<String, Vec<u8>>,
}

impl Archive {
    fn open(path: &Path) -> Result<Self, ConvertError> {
        let file = std::fs::File::open(path).map_err(|source| ConvertError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let zip = zip::ZipArchive::new(file).map_err(|e| ConvertError::NotZip {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        let prefix = names
            .iter()
            .filter_map(|n| n.strip_suffix("data.pkl"))
            .filter(|p| p.matches('/').count() == 1 && p.ends_with('/'))
            .min_by_key(|p| p.len())
            .map(str::to_string)
            .ok_or_else(|| ConvertError::NoDataPkl {
                path: path.to_path_buf(),
                entries: if names.len() > 12 {
                    format!("{}, ... ({} in all)", names[..12].join(", "), names.len())
                } else {
                    names.join(", ")
                },
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            zip,
            prefix,
            names,
            storages: HashMap::new(),
        })
    }

    fn entry_error(&self, entry: &str, reason: impl Into<String>) -> ConvertError {
        ConvertError::Entry {
            path: self.path.clone(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// The bytes of one entry (path relative to the archive folder), or `None` when absent.
    fn read(&mut self, rel: &str) -> Result<Option<Vec<u8>>, ConvertError> {
        let name = format!("{}{rel}", self.prefix);
        let mut buf = Vec::new();
        let result = match self.zip.by_name(&name) {
            Ok(mut f) => f
                .read_to_end(&mut buf)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => Err(e.to_string()),
        };
        result.map_err(|reason| self.entry_error(&name, reason))?;
        Ok(Some(buf))
    }

    /// TorchScript module classes declared under `code/` (empty for `torch.save` files).
    fn classes(&mut self) -> Result<HashMap<String, ClassInfo>, ConvertError> {
        let code = format!("{}code/", self.prefix);
        let files: Vec<String> = self
            .names
            .iter()
            .filter(|n| n.starts_with(&code) && n.ends_with(".py"))
            .cloned()
            .collect();
        let mut classes = HashMap::new();
        for name in files {
            let rel = &name[self.prefix.len()..];
            let text = self.read(rel)?.unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            // code/__torch__/a/b.py → __torch__.a.b
            let module = name[code.len()..name.len() - 3].replace('/', ".");
            parse_classes(&module, &text, &mut classes);
        }
        Ok(classes)
    }

    /// The raw bytes of storage `key` (cached: several tensors may share one storage).
    fn storage(&mut self, key: &str) -> Result<&[u8], ConvertError> {
        if !self.storages.contains_key(key) {
            let rel = format!("data/{key}");
            let bytes = self.read(&rel)?.ok_or_else(|| {
                self.entry_error(
                    &format!("{}{rel}", self.prefix),
                    "missing: the pickle names this storage but the archive lacks it",
                )
            })?;
            self.storages.insert(key.to_string(), bytes);
        }
        Ok(&self.storages[key])
    }
}

/// Collects `class X(Module):` blocks with their `__parameters__` / `__buffers__` lists.
fn parse_classes(module: &str, text: &str, out: &mut HashMap<String, ClassInfo>) {
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("class ") {
            current = rest
                .split_once('(')
                .filter(|(_, base)| base.starts_with("Module)"))
                .map(|(name, _)| format!("{module}.{}", name.trim()));
            if let Some(c) = &current {
                out.insert(c.clone(), ClassInfo::default());
            }
            continue;
        }
        let Some(class) = &current else { continue };
        let list = |prefix: &str| -> Option<Vec<String>> {
            let rest = line.trim().strip_prefix(prefix)?.trim().strip_prefix('=')?;
            let inner = rest.trim().strip_prefix('[')?.strip_suffix(']')?;
            Some(
                inner
                    .split(',')
                    .map(|s| s.trim().trim_matches('"').to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        };
        let info = out.get_mut(class).expect("inserted above");
        if let Some(p) = list("__parameters__") {
            info.parameters = p;
        } else if let Some(b) = list("__buffers__") {
            info.buffers = b;
        }
    }
}

/// Reads every tensor of `state_dict()` from a TorchScript or `torch.save` zip archive.
pub fn read_archive(path: &Path) -> Result<Vec<JitTensor>, ConvertError> {
    let mut ar = Archive::open(path)?;
    if let Some(order) = ar.read("byteorder")?
        && order.trim_ascii() != b"little"
    {
        return Err(ConvertError::Layout {
            path: path.to_path_buf(),
            reason: format!(
                "byte order `{}` (only little-endian archives are supported)",
                String::from_utf8_lossy(&order).trim()
            ),
        });
    }
    let entry = format!("{}data.pkl", ar.prefix);
    let pkl = ar.read("data.pkl")?.expect("found when opening");
    let root = pickle::unpickle(&pkl).map_err(|e| match e {
        PickleError::Refused(global) => ConvertError::Refused {
            path: path.to_path_buf(),
            global,
        },
        source => ConvertError::Pickle {
            path: path.to_path_buf(),
            entry: entry.clone(),
            source,
        },
    })?;
    let classes = ar.classes()?;
    let mut refs: Vec<(String, TensorRef)> = Vec::new();
    match &root {
        Value::Object(_) => walk_module(&root, "", &classes, &mut refs, 0, path)?,
        Value::Dict(_) => walk_dict(&root, "", &mut refs, 0, path)?,
        other => {
            return Err(ConvertError::Layout {
                path: path.to_path_buf(),
                reason: format!(
                    "`{entry}` holds {}; expected a TorchScript module or a state_dict",
                    other.kind()
                ),
            });
        }
    }
    refs.into_iter()
        .map(|(key, t)| materialise(&mut ar, key, &t))
        .collect()
}

fn too_deep(path: &Path, prefix: &str) -> ConvertError {
    ConvertError::Layout {
        path: path.to_path_buf(),
        reason: format!("module tree deeper than {MAX_DEPTH} levels at `{prefix}` (cyclic?)"),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `state_dict()` order of a TorchScript module: its parameters, its buffers, then each
/// sub-module in attribute order.
fn walk_module(
    node: &Value,
    prefix: &str,
    classes: &HashMap<String, ClassInfo>,
    out: &mut Vec<(String, TensorRef)>,
    depth: usize,
    path: &Path,
) -> Result<(), ConvertError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(path, prefix));
    }
    let Value::Object(obj) = node else {
        return Ok(());
    };
    let obj = obj.borrow();
    let attrs: Vec<(String, Value)> = match &obj.state {
        Value::Dict(d) => d
            .borrow()
            .iter()
            .filter_map(|(k, v)| match k {
                Value::Str(k) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let tensor = |name: &str| {
        attrs.iter().find_map(|(k, v)| match v {
            Value::Tensor(t) if k == name => Some(t.clone()),
            _ => None,
        })
    };
    match classes.get(&obj.class) {
        Some(info) => {
            for name in info.parameters.iter().chain(&info.buffers) {
                // `None` parameters (e.g. bias=False) are not in state_dict().
                if let Some(t) = tensor(name) {
                    out.push((join(prefix, name), t));
                }
            }
        }
        None => {
            for (k, v) in &attrs {
                if let Value::Tensor(t) = v {
                    out.push((join(prefix, k), t.clone()));
                }
            }
        }
    }
    for (k, v) in &attrs {
        if matches!(v, Value::Object(_)) {
            walk_module(v, &join(prefix, k), classes, out, depth + 1, path)?;
        }
    }
    Ok(())
}

/// A `torch.save`d dict: tensors under their (dotted) string keys; nested dicts flattened.
fn walk_dict(
    node: &Value,
    prefix: &str,
    out: &mut Vec<(String, TensorRef)>,
    depth: usize,
    path: &Path,
) -> Result<(), ConvertError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(path, prefix));
    }
    let Value::Dict(d) = node else { return Ok(()) };
    for (k, v) in d.borrow().iter() {
        let key = match k {
            Value::Str(s) => join(prefix, s),
            Value::Int(i) => join(prefix, &i.to_string()),
            _ => continue,
        };
        match v {
            Value::Tensor(t) => out.push((key, t.clone())),
            Value::Dict(_) => walk_dict(v, &key, out, depth + 1, path)?,
            _ => {}
        }
    }
    Ok(())
}

/// Copies a (possibly strided, offset, shared-storage) tensor view into contiguous bytes.
fn materialise(ar: &mut Archive, key: String, t: &TensorRef) -> Result<JitTensor, ConvertError> {
    let path = ar.path.clone();
    let bad = |reason: String| ConvertError::Tensor {
        path: path.clone(),
        key: key.clone(),
        reason,
    };
    let es = t.storage.dtype.size();
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {:?} overflows", t.shape)))?;
    let entry = format!("{}data/{}", ar.prefix, t.storage.key);
    let storage = ar.storage(&t.storage.key)?;
    let available = storage.len() / es;
    if storage.len() % es != 0 || available < t.storage.numel {
        return Err(bad(format!(
            "storage `{entry}` has {} bytes; the pickle declares {} {} elements ({} bytes)",
            storage.len(),
            t.storage.numel,
            t.storage.dtype,
            t.storage.numel * es
        )));
    }
    if numel == 0 {
        return Ok(JitTensor {
            key,
            dtype: t.storage.dtype,
            shape: t.shape.clone(),
            data: Vec::new(),
        });
    }
    // Largest element index touched by the view.
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |a, (&d, &s)| {
            a.checked_add((d - 1).checked_mul(s)?)
        })
        .ok_or_else(|| bad("offset/stride overflow".into()))?;
    if last >= t.storage.numel {
        return Err(bad(format!(
            "view (offset {}, shape {:?}, stride {:?}) reaches element {last} of storage `{entry}` with {} elements",
            t.offset, t.shape, t.stride, t.storage.numel
        )));
    }
    let mut contiguous = true;
    let mut expect = 1usize;
    for (&d, &s) in t.shape.iter().zip(&t.stride).rev() {
        if d != 1 && s != expect {
            contiguous = false;
        }
        expect *= d;
    }
    let data = if contiguous {
        storage[t.offset * es..(t.offset + numel) * es].to_vec()
    } else {
        let mut data = Vec::with_capacity(numel * es);
        let mut idx = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let e = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
            data.extend_from_slice(&storage[e * es..(e + 1) * es]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        data
    };
    Ok(JitTensor {
        key,
        dtype: t.storage.dtype,
        shape: t.shape.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_definitions() {
        let code = "class M(Module):\n  __parameters__ = [\"tied\", ]\n  __buffers__ = [\"np\", \"w\", ]\n  tied : Tensor\n  def forward(self: __torch__.M) -> Tensor:\n    return x\nclass Helper(object):\n  __parameters__ = [\"x\", ]\n";
        let mut out = HashMap::new();
        parse_classes("__torch__", code, &mut out);
        assert_eq!(out.len(), 1);
        let m = &out["__torch__.M"];
        assert_eq!(m.parameters, vec!["tied"]);
        assert_eq!(m.buffers, vec!["np", "w"]);
    }
}
