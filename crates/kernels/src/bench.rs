//! What the benchmark examples share: whole-number arguments and a median timer (the kernel
//! benchmarks in `crates/kernels/examples` and cosmotok-losses' `bench_vgg_cpu`).

use std::time::Instant;

use anyhow::{Context, Result};

/// The command-line arguments, each a whole number.
pub fn whole_number_args() -> Result<Vec<usize>> {
    std::env::args()
        .skip(1)
        .map(|s| {
            s.parse()
                .with_context(|| format!("`{s}` is not a whole number"))
        })
        .collect()
}

/// Median wall time of `reps` calls of `f`, after one untimed call.
pub fn median_time(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// A global allocator that counts live heap bytes and their high-water mark, for peak-memory
/// measurements on Flex (every Flex tensor is a heap allocation). Install it in a test or
/// benchmark binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`
/// and measure one thing at a time (other threads' allocations count too).
pub struct CountingAlloc {
    live: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl CountingAlloc {
    pub const fn new() -> Self {
        CountingAlloc {
            live: std::sync::atomic::AtomicUsize::new(0),
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Starts a measurement: the peak is reset to the current level, which is returned.
    pub fn start(&self) -> usize {
        let live = self.live.load(std::sync::atomic::Ordering::SeqCst);
        self.peak.store(live, std::sync::atomic::Ordering::SeqCst);
        live
    }

    /// The peak since [`start`](Self::start), above the level `start` returned.
    pub fn peak_since(&self, base: usize) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst) - base
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            let now = self.live.fetch_add(layout.size(), Relaxed) + layout.size();
            self.peak.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        self.live
            .fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
    }
}
