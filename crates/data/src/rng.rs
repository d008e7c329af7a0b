//! Counter-based randomness: every random choice of the pipeline comes from a ChaCha8 stream
//! seeded by `(seed, tag, a, b, c)`, so a choice depends only on *where* it is made (epoch,
//! batch, slot), never on what ran before. This is what makes worker threads, prefetching and
//! resuming from a saved position reproduce the exact same batches.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// What a stream is used for (keeps streams of different purposes independent).
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Tag {
    /// Shuffle of one group's clips in an epoch.
    GroupShuffle = 1,
    /// Order of an epoch's batches.
    BatchOrder = 2,
    /// Image-or-video choice of a batch slot.
    Mix = 3,
    /// Clip start and augmentation of one sample.
    Sample = 4,
}

/// A deterministic random stream.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The stream for `(seed, tag, a, b, c)`.
    pub fn new(seed: u64, tag: Tag, a: u64, b: u64, c: u64) -> SeededRng {
        let mut key = [0u8; 32];
        for (i, w) in [seed, tag as u64, a, b].into_iter().enumerate() {
            key[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(c);
        SeededRng(rng)
    }

    /// Uniform in `[0, 1)` (53 bits).
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n - 1)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}
