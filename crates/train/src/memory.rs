//! Memory reporting for the training log: device memory on GPU backends, CUDA and wgpu alike
//! (Burn's `Device::memory_pool_usage`, which burn-cubecl answers for every runtime), the
//! process's resident set on Flex (`/proc/self/status`).
//!
//! Fields (MiB, written to `metrics.jsonl` and the progress line once per `log_every`):
//! * GPU: `gpu_mem_in_use_mib` (bytes held by live tensors), `gpu_mem_reserved_mib` (what the
//!   allocator holds from the driver, live tensors plus pages kept for reuse) and
//!   `gpu_mem_peak_mib` — the largest `reserved` seen at any sample. The allocator reserves
//!   pages for the largest working set and keeps them, so its reserve is the practical peak
//!   (Burn 0.22 keeps no high-water mark of its own).
//! * Flex (or any backend without a memory pool): `rss_mib` (`VmRSS`) and `rss_peak_mib`
//!   (`VmHWM`, the kernel's high-water mark of the resident set). Linux only; elsewhere the
//!   fields are absent.
//!
//! [`keep_freed_memory`] tunes glibc's allocator for training (the CLI calls it at start-up).

use burn::prelude::*;

const MIB: f64 = 1024.0 * 1024.0;

/// Samples the memory of one device (cheap: one allocator query or one small file read).
pub struct MemoryProbe {
    device: Device,
    peak_reserved: u64,
}

impl MemoryProbe {
    /// A probe for `device` (autodiff or not: both report the wrapped device).
    pub fn new(device: &Device) -> MemoryProbe {
        MemoryProbe {
            device: device.clone(),
            peak_reserved: 0,
        }
    }

    /// The current memory fields (see the module docs).
    pub fn sample(&mut self) -> Vec<(String, f64)> {
        if let Some(u) = self.device.memory_pool_usage() {
            self.peak_reserved = self.peak_reserved.max(u.bytes_reserved);
            return vec![
                ("gpu_mem_in_use_mib".into(), u.bytes_in_use as f64 / MIB),
                ("gpu_mem_reserved_mib".into(), u.bytes_reserved as f64 / MIB),
                ("gpu_mem_peak_mib".into(), self.peak_reserved as f64 / MIB),
            ];
        }
        process_rss()
            .map(|(rss, peak)| {
                vec![
                    ("rss_mib".into(), rss as f64 / MIB),
                    ("rss_peak_mib".into(), peak as f64 / MIB),
                ]
            })
            .unwrap_or_default()
    }
}

/// `(VmRSS, VmHWM)` of this process in bytes, from `/proc/self/status`.
pub fn process_rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&status)
}

/// `(VmRSS, VmHWM)` in bytes from the text of a `/proc/<pid>/status` file (values in kB).
pub fn parse_status(status: &str) -> Option<(u64, u64)> {
    let field = |key: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kb * 1024)
        })
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// Makes glibc's `malloc` keep freed memory for reuse instead of handing it back to the
/// kernel: blocks up to 32 MiB (the most `M_MMAP_THRESHOLD` accepts) come from the heap rather
/// than from a fresh `mmap` each, the heap is never trimmed, and every thread allocates from
/// that one heap (`M_ARENA_MAX` 1). A training step on Flex frees and reallocates the same
/// activation-sized buffers thousands of times; by default each of them is a new mapping whose
/// pages fault in on first touch. Measured on the 2-core dev machine (BENCHMARKS.md): the
/// quickstart-sized train step goes from 0.70 to 0.56 s with the first two settings, the peak
/// resident set unchanged. The third matters for work on rayon's threads: each of them would
/// otherwise get its own arena, a heap that glibc unmaps when all its blocks are free and maps
/// again on the next step (the channels-8 step with the perceptual loss: 12 000 page faults
/// and 0.1–0.2 s per step, and a peak 3–15 % higher). Call it at start-up, before other
/// threads allocate. Returns whether all settings were accepted (false on other allocators /
/// platforms, where it does nothing).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; all values are in range.
        unsafe {
            let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            let arenas = libc::mallopt(libc::M_ARENA_MAX, 1);
            mmap == 1 && trim == 1 && arenas == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tcosmotok\nVmPeak:\t 900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse_status(text), Some((1024 * 1024, 2048 * 1024)));
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn flex_reports_the_process_peak() {
        // Touch 64 MiB so the high-water mark is at least that.
        let v = std::hint::black_box(vec![1u8; 64 << 20]);
        let mut probe = MemoryProbe::new(&Device::flex());
        let fields: std::collections::BTreeMap<_, _> = probe.sample().into_iter().collect();
        assert!(fields["rss_peak_mib"] >= 64.0, "{fields:?}");
        assert!(fields["rss_peak_mib"] >= fields["rss_mib"], "{fields:?}");
        assert!(!fields.contains_key("gpu_mem_in_use_mib"));
        drop(v);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_malloc_settings() {
        // mallopt returns 0 for values out of range (e.g. an mmap threshold above 32 MiB).
        assert!(keep_freed_memory());
    }
}
