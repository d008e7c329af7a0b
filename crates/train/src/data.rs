//! The trainer's view of the data pipeline (cosmotok-data): the `[data]` table, the resumable
//! training loader and the fixed evaluation clips.

pub use cosmotok_data::{Batch, DataConfig, Loader, LoaderPosition, Mode};
