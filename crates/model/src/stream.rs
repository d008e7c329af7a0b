//! Carried temporal state for chunked (streaming) encoding and decoding of long videos.
//!
//! Every temporal operation of the video tokenizer is causal, so a clip can be processed in
//! chunks if each operation carries its left context from one chunk to the next:
//!
//! * a causal conv keeps the tail of its (padded) input that its next output window starts in;
//! * the causal temporal attention keeps the keys and values of all earlier frames;
//! * the first chunk alone gets the frame-0 replication of the patcher, the causal convs and
//!   the temporal down-sampler, and the first-frame drop of the up-samplers and unpatcher.
//!
//! Chunk lengths must keep the temporal grid aligned: the first chunk has `1 + k·t` frames
//! (or `1 + k` latents), later ones `k·t` frames (`k` latents). Then the concatenated chunk
//! outputs equal the whole-clip outputs (up to float summation order).
//!
//! Operations take their state in call order: the i-th stateful call of a chunk uses slot i,
//! the same slot as the i-th call of the previous chunk.

use burn::prelude::*;

/// The state of one streaming encode or decode.
#[derive(Debug, Default)]
pub struct Stream {
    slots: Vec<Option<Tensor<5>>>,
    cursor: usize,
    /// No chunk has been processed yet.
    first: bool,
    /// Keep state for a next chunk (false for one-shot whole-clip calls).
    keep: bool,
}

impl Stream {
    /// A stream for chunked processing.
    pub fn new() -> Stream {
        Stream {
            slots: Vec::new(),
            cursor: 0,
            first: true,
            keep: true,
        }
    }

    /// One-shot processing of a whole clip: first-chunk semantics, nothing kept.
    pub fn whole() -> Stream {
        Stream {
            keep: false,
            ..Stream::new()
        }
    }

    /// Is this the first chunk (frame-0 replication applies)?
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// Starts a chunk (resets the slot cursor).
    pub fn begin_chunk(&mut self) {
        self.cursor = 0;
    }

    /// Ends a chunk: later chunks continue the sequence.
    pub fn end_chunk(&mut self) {
        self.first = false;
    }

    /// Takes the state of the next stateful operation (None on the first chunk).
    pub fn take(&mut self) -> Option<Tensor<5>> {
        if self.slots.len() <= self.cursor {
            self.slots.resize(self.cursor + 1, None);
        }
        let v = self.slots[self.cursor].take();
        self.cursor += 1;
        v
    }

    /// Stores the state of the operation whose state was just taken.
    pub fn put(&mut self, state: Tensor<5>) {
        if self.keep {
            self.slots[self.cursor - 1] = Some(state);
        }
    }

    /// Whether state is being kept (chunked mode).
    pub fn keeps(&self) -> bool {
        self.keep
    }
}
