//! Running work on the threads of rayon's global pool, the pool that burn-flex, `gemm` and
//! cosmotok's own Flex kernels split their work over.

/// Runs `f` on a thread of rayon's global pool and returns its result (a panic in `f` is
/// resumed here).
///
/// Called from a thread outside the pool (a program's main thread), every parallel op hands its
/// work to the pool and sleeps until the pool is done: two thread switches per op, and a
/// tokenizer's forward pass has hundreds of ops. Inside the pool the ops start on the calling
/// worker, and with one thread (`RAYON_NUM_THREADS=1`) they run without any switch. Measured on
/// the channels-32 benchmark with one thread (BENCHMARKS.md): encode 15–25 % and a training
/// step 20 % faster. Inside the pool already, `f` runs directly.
///
/// Run one such flow per process: `cosmotok` runs its whole command this way. Two flows
/// started on the pool from different threads can deadlock when they take the same lock (burn's
/// autodiff graph state, the trainer's RNG lock): a pool thread that holds the lock and waits
/// for its parallel op may pick up the other flow, which then waits for that lock on the same
/// thread. Library code that trains several models at once (the tests) calls it outside the
/// pool, where the lock holders are never pool threads.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    rayon::scope(|_| f())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_thread_and_returns_the_result() {
        assert_eq!(rayon::current_thread_index(), None);
        let (inside, value) = in_pool(|| (rayon::current_thread_index(), in_pool(|| 41) + 1));
        assert!(inside.is_some());
        assert_eq!(value, 42);
        let caught = std::panic::catch_unwind(|| in_pool(|| panic!("boom")));
        assert!(caught.is_err());
    }
}
