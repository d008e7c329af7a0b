//! Named access to parameters and their gradients, keyed by the official PyTorch names
//! (norm `gamma`/`beta` reported as `weight`/`bias`, enum variants left out).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::Gradients;

struct Collect<'a> {
    path: Vec<String>,
    grads: Option<&'a Gradients>,
    out: BTreeMap<String, TensorData>,
    /// Only ids and shapes are collected (no tensor data is read).
    ids_only: bool,
    ids: BTreeMap<String, (ParamId, Vec<usize>)>,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        // Enum variants (Image/Video) are not part of the official key names.
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let mut parts = self.path.clone();
        if let Some(leaf) = parts.last_mut() {
            match leaf.as_str() {
                "gamma" => *leaf = "weight".into(),
                "beta" => *leaf = "bias".into(),
                _ => {}
            }
        }
        if self.ids_only {
            self.ids
                .insert(parts.join("."), (param.id, param.val().shape().to_vec()));
            return;
        }
        let value = match self.grads {
            Some(g) => param.val().grad(g).map(|t| t.into_data()),
            None => Some(param.val().into_data()),
        };
        if let Some(v) = value {
            self.out.insert(parts.join("."), v);
        }
    }
}

/// Every float parameter, by official key.
pub fn named_params<M: Module>(module: &M) -> BTreeMap<String, TensorData> {
    let mut v = Collect {
        path: Vec::new(),
        grads: None,
        out: BTreeMap::new(),
        ids_only: false,
        ids: BTreeMap::new(),
    };
    module.visit(&mut v);
    v.out
}

/// The gradient of every float parameter that received one, by official key.
pub fn named_grads<M: Module>(module: &M, grads: &Gradients) -> BTreeMap<String, TensorData> {
    let mut v = Collect {
        path: Vec::new(),
        grads: Some(grads),
        out: BTreeMap::new(),
        ids_only: false,
        ids: BTreeMap::new(),
    };
    module.visit(&mut v);
    v.out
}

/// The [`ParamId`] of every float parameter, by official key (for freezing parameter groups and
/// optimizer bookkeeping).
pub fn param_ids<M: Module>(module: &M) -> BTreeMap<String, ParamId> {
    param_index(module)
        .into_iter()
        .map(|(k, (id, _))| (k, id))
        .collect()
}

/// The [`ParamId`] and shape of every float parameter, by official key (reads no data).
pub fn param_index<M: Module>(module: &M) -> BTreeMap<String, (ParamId, Vec<usize>)> {
    let mut v = Collect {
        path: Vec::new(),
        grads: None,
        out: BTreeMap::new(),
        ids_only: true,
        ids: BTreeMap::new(),
    };
    module.visit(&mut v);
    v.ids
}

struct Initialize;

impl ModuleVisitor for Initialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Reading a lazy parameter draws its initial value (on the device it was created for).
        let _ = param.val();
    }
}

/// Draws every lazily initialised float parameter now, on the device the module was built
/// for, and returns the module. Burn initialises parameters on first use, and `fork` /
/// `to_device` initialise an untouched one on the *destination* — with that backend's random
/// stream — so call this before copying a freshly built module to another device.
pub fn initialized<M: Module>(module: M) -> M {
    module.visit(&mut Initialize);
    module
}
