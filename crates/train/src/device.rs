//! Device names (`[run] device`, `--device`): flex (CPU, default), wgpu (feature `wgpu`), cuda (feature `cuda`).

use anyhow::{Result, bail};
use burn::prelude::*;

pub fn parse(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        other => {
            let mut known = vec!["flex"];
            if cfg!(feature = "wgpu") {
                known.push("wgpu");
            }
            if cfg!(feature = "cuda") {
                known.push("cuda");
            }
            bail!(
                "device `{other}` is not available in this build (available: {}; GPU devices need \
                 the cargo feature of the same name)",
                known.join(", ")
            )
        }
    }
}
