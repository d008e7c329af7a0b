//! Named access to parameters and their gradients, keyed by the official PyTorch names
//! (norm `gamma`/`beta` reported as `weight`/`bias`, enum variants left out).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

struct Collect<'a> {
    path: Vec<String>,
    grads: Option<&'a Gradients>,
    out: BTreeMap<String, TensorData>,
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
    };
    module.visit(&mut v);
    v.out
}
