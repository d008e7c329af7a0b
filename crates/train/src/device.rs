//! Device names (`[run] device`, `[run] devices`, `--device`).
//!
//! | name                        | device                                             | build         |
//! |-----------------------------|----------------------------------------------------|---------------|
//! | `flex`, `cpu`               | Burn's Flex CPU backend (the default)              | always        |
//! | `wgpu`                      | the adapter wgpu prefers (a high-power GPU first)  | `--features wgpu` |
//! | `wgpu:N`                    | discrete GPU number N (0-based)                    | `--features wgpu` |
//! | `wgpu:integrated[:N]`       | integrated GPU number N (default 0)                | `--features wgpu` |
//! | `wgpu:cpu`                  | the software adapter (Mesa lavapipe / llvmpipe)    | `--features wgpu` |
//! | `cuda`, `cuda:N`            | CUDA device N (default 0)                          | `--features cuda` |
//!
//! [`parse_name`] only reads the name (it works in every build, so configs can be checked
//! anywhere); [`parse`] also opens it and fails with the list of what this build supports when
//! the backend was not compiled in, or with the adapters found when an index does not exist.

use std::fmt;

use anyhow::{Result, bail};
use burn::prelude::*;

/// Which wgpu adapter a `wgpu…` name selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WgpuAdapter {
    /// The adapter wgpu's heuristics pick (overridable by `CUBECL_WGPU_DEFAULT_DEVICE`).
    Default,
    /// Discrete GPU N.
    Discrete(usize),
    /// Integrated GPU N.
    Integrated(usize),
    /// The CPU (software) adapter.
    Cpu,
}

/// A parsed device name, independent of what this build can open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceName {
    Flex,
    Wgpu(WgpuAdapter),
    /// CUDA device index.
    Cuda(usize),
}

impl DeviceName {
    /// The cargo feature the device needs (`None` for Flex, which is always built).
    pub fn feature(&self) -> Option<&'static str> {
        match self {
            DeviceName::Flex => None,
            DeviceName::Wgpu(_) => Some("wgpu"),
            DeviceName::Cuda(_) => Some("cuda"),
        }
    }

    /// Whether this build was compiled with the device's backend.
    pub fn compiled(&self) -> bool {
        match self {
            DeviceName::Flex => true,
            DeviceName::Wgpu(_) => cfg!(feature = "wgpu"),
            DeviceName::Cuda(_) => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for DeviceName {
    /// The canonical spelling (`parse_name(&n.to_string()) == n`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceName::Flex => write!(f, "flex"),
            DeviceName::Wgpu(WgpuAdapter::Default) => write!(f, "wgpu"),
            DeviceName::Wgpu(WgpuAdapter::Discrete(n)) => write!(f, "wgpu:{n}"),
            DeviceName::Wgpu(WgpuAdapter::Integrated(n)) => write!(f, "wgpu:integrated:{n}"),
            DeviceName::Wgpu(WgpuAdapter::Cpu) => write!(f, "wgpu:cpu"),
            DeviceName::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The device names this build can open, for error messages.
pub fn supported() -> String {
    let mut names = vec!["flex (alias cpu)"];
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "wgpu:N", "wgpu:integrated[:N]", "wgpu:cpu"]);
    }
    if cfg!(feature = "cuda") {
        names.extend(["cuda", "cuda:N"]);
    }
    let mut s = names.join(", ");
    let missing: Vec<&str> = [DeviceName::Wgpu(WgpuAdapter::Default), DeviceName::Cuda(0)]
        .into_iter()
        .filter(|d| !d.compiled())
        .filter_map(|d| d.feature())
        .collect();
    if !missing.is_empty() {
        s.push_str(&format!(
            "; not compiled in: {} (rebuild with `--features {}`)",
            missing.join(", "),
            missing.join(",")
        ));
    }
    s
}

fn index(name: &str, text: &str) -> Result<usize> {
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "device `{name}`: `{text}` is not a device index (expected a number such as 0); \
             device names: {}",
            supported()
        )
    })
}

/// Reads a device name (case-insensitive, surrounding spaces ignored) without opening it.
pub fn parse_name(name: &str) -> Result<DeviceName> {
    let lower = name.trim().to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(':').collect();
    Ok(match parts.as_slice() {
        ["flex"] | ["cpu"] => DeviceName::Flex,
        ["wgpu"] => DeviceName::Wgpu(WgpuAdapter::Default),
        ["wgpu", "cpu"] => DeviceName::Wgpu(WgpuAdapter::Cpu),
        ["wgpu", "integrated"] => DeviceName::Wgpu(WgpuAdapter::Integrated(0)),
        ["wgpu", "integrated", n] => DeviceName::Wgpu(WgpuAdapter::Integrated(index(name, n)?)),
        ["wgpu", n] => DeviceName::Wgpu(WgpuAdapter::Discrete(index(name, n)?)),
        ["cuda"] => DeviceName::Cuda(0),
        ["cuda", n] => DeviceName::Cuda(index(name, n)?),
        _ => bail!(
            "unknown device `{name}`; device names: flex (alias cpu), wgpu, wgpu:N, \
             wgpu:integrated[:N], wgpu:cpu, cuda, cuda:N — this build supports: {}",
            supported()
        ),
    })
}

/// Parses and opens a device name (see the module docs). Errors when the backend is not
/// compiled in, or when the machine has no such adapter / CUDA device.
pub fn parse(name: &str) -> Result<Device> {
    let parsed = parse_name(name)?;
    if !parsed.compiled() {
        let feature = parsed.feature().unwrap_or_default();
        bail!(
            "device `{name}` needs the cargo feature `{feature}`, which this build lacks \
             (rebuild with `--features {feature}`); this build supports: {}",
            supported()
        );
    }
    open(name, parsed)
}

#[cfg(feature = "wgpu")]
fn wgpu_kind(adapter: WgpuAdapter) -> burn::tensor::DeviceKind {
    use burn::tensor::DeviceKind;
    match adapter {
        WgpuAdapter::Default => DeviceKind::DefaultDevice,
        WgpuAdapter::Discrete(n) => DeviceKind::DiscreteGpu(n),
        WgpuAdapter::Integrated(n) => DeviceKind::IntegratedGpu(n),
        WgpuAdapter::Cpu => DeviceKind::Cpu,
    }
}

/// The wgpu adapters this machine offers, by their cosmotok names (with the adapter's own
/// name where it can be read).
#[cfg(feature = "wgpu")]
pub fn wgpu_adapters() -> Vec<(DeviceName, String)> {
    let found = Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec();
    let mut candidates = vec![WgpuAdapter::Cpu];
    for i in 0..16 {
        candidates.push(WgpuAdapter::Discrete(i));
        candidates.push(WgpuAdapter::Integrated(i));
    }
    candidates
        .into_iter()
        .filter_map(|a| {
            let d = Device::wgpu(wgpu_kind(a));
            found.contains(&d).then(|| {
                let label = d.identity().map(|i| i.name).unwrap_or_default();
                (DeviceName::Wgpu(a), label)
            })
        })
        .collect()
}

#[allow(unreachable_code, unused_variables)]
fn open(name: &str, parsed: DeviceName) -> Result<Device> {
    match parsed {
        DeviceName::Flex => Ok(Device::flex()),
        DeviceName::Wgpu(adapter) => {
            #[cfg(feature = "wgpu")]
            {
                const NO_ADAPTER: &str = "wgpu finds no adapter at all: is a Vulkan driver \
                    installed? Without a GPU, Mesa's software adapter (package \
                    mesa-vulkan-drivers) works; set VK_ICD_FILENAMES to its lvp_icd json under \
                    /usr/share/vulkan/icd.d if it is not found";
                if adapter == WgpuAdapter::Default {
                    if Device::enumerate(burn::tensor::DeviceType::Wgpu).is_empty() {
                        bail!("device `{name}`: {NO_ADAPTER}");
                    }
                    return Ok(Device::wgpu(wgpu_kind(adapter)));
                }
                let adapters = wgpu_adapters();
                if adapters.is_empty() {
                    bail!("device `{name}`: {NO_ADAPTER}");
                }
                if !adapters.iter().any(|(n, _)| *n == parsed) {
                    let list: Vec<String> = adapters
                        .iter()
                        .map(|(n, label)| format!("{n} ({label})"))
                        .collect();
                    bail!(
                        "device `{name}`: this machine has no such wgpu adapter; found: {}",
                        list.join(", ")
                    );
                }
                return Ok(Device::wgpu(wgpu_kind(adapter)));
            }
            unreachable!("checked by DeviceName::compiled")
        }
        DeviceName::Cuda(index) => {
            #[cfg(feature = "cuda")]
            {
                let count = Device::enumerate(burn::tensor::DeviceType::Cuda).len();
                if count == 0 {
                    bail!(
                        "device `{name}`: no CUDA device found (is the NVIDIA driver loaded? \
                         `nvidia-smi` lists the GPUs)"
                    );
                }
                if index >= count {
                    bail!(
                        "device `{name}`: CUDA device {index} does not exist; this machine has \
                         {count} CUDA device(s) (cuda:0 … cuda:{})",
                        count - 1
                    );
                }
                return Ok(Device::cuda(index));
            }
            unreachable!("checked by DeviceName::compiled")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_names() {
        for n in ["flex", "cpu", " FLEX ", "Cpu"] {
            assert_eq!(parse_name(n).unwrap(), DeviceName::Flex, "{n}");
            assert!(parse(n).unwrap() == Device::flex());
        }
    }

    #[test]
    fn gpu_names_parse_in_every_build() {
        let cases = [
            ("wgpu", DeviceName::Wgpu(WgpuAdapter::Default)),
            ("wgpu:0", DeviceName::Wgpu(WgpuAdapter::Discrete(0))),
            ("wgpu:2", DeviceName::Wgpu(WgpuAdapter::Discrete(2))),
            (
                "wgpu:integrated",
                DeviceName::Wgpu(WgpuAdapter::Integrated(0)),
            ),
            (
                "wgpu:integrated:1",
                DeviceName::Wgpu(WgpuAdapter::Integrated(1)),
            ),
            ("WGPU:CPU", DeviceName::Wgpu(WgpuAdapter::Cpu)),
            ("cuda", DeviceName::Cuda(0)),
            ("cuda:3", DeviceName::Cuda(3)),
        ];
        for (text, want) in cases {
            let got = parse_name(text).unwrap();
            assert_eq!(got, want, "{text}");
            // The canonical spelling reads back to the same name.
            assert_eq!(parse_name(&got.to_string()).unwrap(), got);
        }
    }

    #[test]
    fn unknown_names_list_the_supported_ones() {
        for bad in [
            "gpu",
            "wgpu:x",
            "cuda:-1",
            "flex:0",
            "wgpu:integrated:a:b",
            "",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains("flex (alias cpu)"), "{e}");
        }
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_without_the_feature_names_the_feature() {
        let e = parse("wgpu:0").unwrap_err().to_string();
        assert!(e.contains("--features wgpu"), "{e}");
        assert!(e.contains("flex"), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_names_the_feature() {
        let e = parse("cuda:1").unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }

    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_names_open_or_explain() {
        // Whatever adapters this machine has: each listed one opens, and a discrete index past
        // the listed ones fails naming what was found.
        let adapters = wgpu_adapters();
        for (n, _) in &adapters {
            let d = parse(&n.to_string()).unwrap();
            assert!(d != Device::flex());
        }
        let e = parse("wgpu:15").unwrap_err().to_string();
        assert!(e.contains("no such wgpu adapter"), "{e}");
        assert!(parse("wgpu").is_ok());
    }
}
