//! The trainer's view of the data pipeline (cosmotok-data): the `[data]` table, the resumable
//! training loader and the fixed evaluation clips.

use burn::prelude::*;
pub use cosmotok_data::{Batch, DataConfig, Loader, LoaderPosition, Mode};

/// The batch as a `[B, 3, T, H, W]` tensor on `device`.
pub fn batch_tensor(batch: &Batch, device: &Device) -> Tensor<5> {
    Tensor::from_data(
        TensorData::new(batch.data.clone(), batch.shape.to_vec()),
        device,
    )
}
