//! Times `CpuVgg::loss` (perceptual + its input gradient, full VGG-16 widths, random weights)
//! on a clip: `cargo run -p cosmotok-losses --example bench_vgg_cpu -- B T H W REPS [MIN TILE]`
//! (MIN, TILE: Winograd F(TILE, 3) for convs of ≥ MIN channels; default: `CpuVgg::new`'s).
//! Prints one JSON object with the median seconds.

use cosmotok_kernels::bench as common;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::Distribution;
use cosmotok_losses::config::GramMode;
use cosmotok_losses::vgg::VGG16_WIDTHS;
use cosmotok_losses::vgg_cpu::{WINOGRAD_MIN_CHANNELS, WINOGRAD_TILE};
use cosmotok_losses::{CpuVgg, Vgg16};

fn main() -> Result<()> {
    let args = common::whole_number_args()?;
    let (b, t, h, w, reps, min, tile) = match args[..] {
        [b, t, h, w, reps] => (b, t, h, w, reps, WINOGRAD_MIN_CHANNELS, WINOGRAD_TILE),
        [b, t, h, w, reps, min, tile] => (b, t, h, w, reps, min, tile),
        _ => bail!("usage: bench_vgg_cpu B T H W REPS [MIN TILE] (got {args:?})"),
    };
    let dev = Device::flex();
    let vgg = CpuVgg::with_winograd(&Vgg16::new(VGG16_WIDTHS, &dev), min, tile);
    let dims = [b, 3, t, h, w];
    let x = Tensor::<5>::random(dims, Distribution::Uniform(-1.0, 1.0), &dev);
    let xh = Tensor::<5>::random(dims, Distribution::Uniform(-1.0, 1.0), &dev);
    let x = x.into_data().try_into_vec::<f32>().expect("f32");
    let xh = xh.into_data().try_into_vec::<f32>().expect("f32");
    let time = common::median_time(
        || {
            let out = vgg.loss(&x, &xh, dims, 0.1, 0.0, GramMode::Clip);
            std::hint::black_box(out);
        },
        reps,
    );
    println!(
        "{{\"impl\":\"cosmotok CpuVgg\",\"input\":{dims:?},\"winograd_min\":{min},\"tile\":{tile},\"loss_and_grad_s\":{time:.4}}}"
    );
    Ok(())
}
