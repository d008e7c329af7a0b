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
