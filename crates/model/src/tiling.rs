//! Spatial tiling for frames larger than memory allows: the frame is cut into overlapping
//! tiles, each tile goes through the network on its own, and the outputs are blended with
//! linear ramps across the overlaps (weights sum to one everywhere).
//!
//! Not exact: the tokenizers' mid-block spatial attention sees the whole frame, so a tile's
//! output differs from the whole-frame output, most near tile borders; the overlap and the
//! ramps hide the seams. Time is independent of tiling (combine with chunking for long videos).

use burn::prelude::*;

/// Start offsets of tiles of length `tile` with `overlap` covering `n` (the last tile is
/// flush with the end).
pub fn tile_starts(n: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if tile >= n {
        return vec![0];
    }
    let step = (tile - overlap).max(1);
    let mut v: Vec<usize> = (0..)
        .map(|i| i * step)
        .take_while(|s| s + tile < n)
        .collect();
    v.push(n - tile);
    v.dedup();
    v
}

/// Blend weight along one axis at position `i` of a tile `[start, start + len)` of an axis of
/// length `n`: ramps over `ramp` positions on each side that has a neighbouring tile.
fn axis_weight(i: usize, start: usize, len: usize, n: usize, ramp: usize) -> f32 {
    let mut w = 1.0f32;
    if start > 0 && ramp > 0 {
        w = w.min((i + 1) as f32 / (ramp + 1) as f32);
    }
    if start + len < n && ramp > 0 {
        w = w.min((len - i) as f32 / (ramp + 1) as f32);
    }
    w
}

/// Runs `f` on overlapping spatial tiles of `x` ([B, C, T, H, W]) and blends the outputs.
/// `f` maps an `h × w` tile to an `h·num/den × w·num/den` output (num/den = the network's
/// spatial scale: 1/s for an encoder, s for a decoder). `tile` and `overlap` are in input
/// pixels and must keep the output grid integral.
pub fn tiled(
    x: Tensor<5>,
    tile: usize,
    overlap: usize,
    num: usize,
    den: usize,
    f: impl Fn(Tensor<5>) -> Tensor<5>,
) -> Tensor<5> {
    let [_, _, _, h, w] = x.dims();
    let (ys, xs) = (tile_starts(h, tile, overlap), tile_starts(w, tile, overlap));
    if ys.len() == 1 && xs.len() == 1 {
        return f(x);
    }
    let scale = |v: usize| v * num / den;
    let ramp = scale(overlap);
    let device = x.device();
    let mut acc: Option<Tensor<5>> = None;
    let mut wsum: Option<Tensor<5>> = None;
    for &y0 in &ys {
        let th = tile.min(h);
        for &x0 in &xs {
            let tw = tile.min(w);
            let out = f(x.clone().narrow(3, y0, th).narrow(4, x0, tw));
            let [_, _, _, oh, ow] = out.dims();
            let [oy, ox, oh_all, ow_all] = [scale(y0), scale(x0), scale(h), scale(w)];
            let wy: Vec<f32> = (0..oh)
                .map(|i| axis_weight(i, oy, oh, oh_all, ramp))
                .collect();
            let wx: Vec<f32> = (0..ow)
                .map(|i| axis_weight(i, ox, ow, ow_all, ramp))
                .collect();
            let wmap: Vec<f32> = wy
                .iter()
                .flat_map(|a| wx.iter().map(move |b| a * b))
                .collect();
            let wt = Tensor::<5>::from_data(TensorData::new(wmap, [1, 1, 1, oh, ow]), &device);
            // Place the weighted tile into a full-size canvas by zero padding.
            let pad = |v: Tensor<5>| {
                v.pad(
                    (ox, ow_all - ox - ow, oy, oh_all - oy - oh),
                    burn::tensor::ops::PadMode::Constant(0.0),
                )
            };
            let contrib = pad(out.mul(wt.clone()));
            let wfull = pad(wt.expand([1, 1, 1, oh, ow]));
            acc = Some(match acc {
                Some(a) => a.add(contrib),
                None => contrib,
            });
            wsum = Some(match wsum {
                Some(s) => s.add(wfull),
                None => wfull,
            });
        }
    }
    acc.expect("at least one tile")
        .div(wsum.expect("at least one tile"))
}
