//! Pixel reconstruction loss (L1 / L2) with an optional per-pixel mask.

use burn::prelude::*;

use crate::config::PixelKind;

/// mean(|x − x̂| · mask) or mean((x − x̂)² · mask) over all B·C·T·H·W elements (Cosmos: the
/// mask multiplies the per-pixel map, the mean is not renormalised by the mask's sum).
/// `mask` broadcasts against [B, C, T, H, W] (e.g. `[B, 1, T, H, W]`). Returns shape `[1]`.
pub fn pixel_loss(
    kind: PixelKind,
    x: Tensor<5>,
    xhat: Tensor<5>,
    mask: Option<Tensor<5>>,
) -> Tensor<1> {
    let d = xhat.sub(x);
    let map = match kind {
        PixelKind::L1 => d.abs(),
        PixelKind::L2 => d.square(),
    };
    let map = match mask {
        Some(m) => map.mul(m),
        None => map,
    };
    map.mean()
}
