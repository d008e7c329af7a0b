//! What the Flex kernels ([`crate::flex_conv`], [`crate::flex_haar`], [`crate::flex_norm`],
//! [`crate::flex_temporal`], [`crate::flex_winograd`] with [`crate::winograd`] and
//! [`crate::padded_nhwc`], [`crate::silu`]) share: the check that a tensor is an f32 tensor
//! on Flex, a new tensor from a host buffer, a pointer that rayon tasks writing disjoint
//! ranges can share, and a GEMM on strided views.

use burn::backend::flex::{FlexTensor, Layout};
use burn::prelude::*;
use burn::tensor::{Bytes, DType, Shape};

/// `x` lives on Flex (tracked or not) and holds f32.
/// Position runs of a small weight gradient, each summed on its own before the runs are added
/// (`flex_conv`'s spatial and `flex_temporal`'s temporal weight gradients): a fixed split, so
/// the sum does not depend on the thread count.
pub const GRAD_SPLITS: usize = 16;

pub(crate) fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.device().inner() == Device::flex() && x.dtype() == DType::F32
}

/// A contiguous f32 tensor of `shape` owning `data`.
pub(crate) fn f32_tensor(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// A raw pointer that rayon tasks writing disjoint ranges can share.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);
// SAFETY: every user has each task write a disjoint set of elements.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(crate) fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }

    /// The `len` floats from `offset`, zeroed, as a slice (for a task that fills its own block
    /// of a buffer allocated but not initialised).
    ///
    /// # Safety
    /// The block must lie inside the allocation, and nothing else may access it while the
    /// slice lives.
    pub(crate) unsafe fn zeroed<'a>(self, offset: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: the caller's; the block is initialised (zeroed) before the slice is made.
        unsafe {
            let p = self.at(offset);
            std::ptr::write_bytes(p, 0, len);
            std::slice::from_raw_parts_mut(p, len)
        }
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, every operand a strided view `(ptr, column stride,
/// row stride)`; `accumulate` adds to dst instead of overwriting it. Single-threaded: for
/// callers that run their GEMMs in parallel tasks ([`matmul_on`] takes the threads to use).
///
/// # Safety
/// Each view must lie inside its buffer, and dst must not be written by anyone else meanwhile.
pub(crate) unsafe fn matmul(
    dims: [usize; 3],
    dst: (*mut f32, usize, usize),
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
    accumulate: bool,
) {
    // SAFETY: the caller's.
    unsafe { matmul_on(gemm::Parallelism::None, dims, dst, lhs, rhs, accumulate) }
}

/// [`matmul`] with its threads given by `parallelism`.
///
/// # Safety
/// As [`matmul`].
pub(crate) unsafe fn matmul_on(
    parallelism: gemm::Parallelism,
    [m, n, k]: [usize; 3],
    dst: (*mut f32, usize, usize),
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
    accumulate: bool,
) {
    // SAFETY: the caller's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.1 as isize,
            dst.2 as isize,
            accumulate,
            lhs.0,
            lhs.1 as isize,
            lhs.2 as isize,
            rhs.0,
            rhs.1 as isize,
            rhs.2 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Deterministic test values in [−1, 1): element i of stream `seed`.
#[cfg(test)]
pub(crate) fn test_data(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.5) - 1.0)
        .collect()
}
