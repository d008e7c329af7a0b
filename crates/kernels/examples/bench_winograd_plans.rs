//! Times `Winograd::conv` (F(4×4, 3×3)) under both plans, `Chunks` and `WholeLayer`, and what
//! `Auto` picks, on the VGG-16 layer shapes of a 17-frame 64×64 clip (the perceptual loss of the
//! channels-8 training benchmark) and on a released tokenizer's 128-channel 64×64 layer.
//!
//!     RAYON_NUM_THREADS=2 cargo run -p cosmotok-kernels --example bench_winograd_plans [REPS]

use cosmotok_kernels::padded_nhwc::PaddedNhwc;
use cosmotok_kernels::winograd::{Plan, Winograd};

// The losses benchmarks' argument parser and median timer.
use cosmotok_kernels::bench as common;

fn main() -> anyhow::Result<()> {
    let reps = common::whole_number_args()?.first().copied().unwrap_or(5);
    // (images, height = width, C_in, C_out)
    let layers = [
        (17, 64, 64, 64),
        (17, 32, 64, 128),
        (17, 32, 128, 128),
        (17, 16, 128, 256),
        (17, 16, 256, 256),
        (17, 8, 256, 512),
        (17, 8, 512, 512),
        (17, 4, 512, 512),
        (5, 64, 128, 128),
    ];
    println!("| images × H × W | C_in → C_out | tiles | chunks ms | whole layer ms | auto |");
    println!("|---|---|---|---|---|---|");
    for (n, hw, ci, co) in layers {
        let wino = Winograd::new(4, ci, co, |a, b, c, d| {
            ((a * 31 + b * 17 + c * 3 + d) % 13) as f32 / 13.0 - 0.5
        });
        let x = PaddedNhwc::from_rows(n, hw, hw, ci, |r, row| {
            for (i, v) in row.iter_mut().enumerate() {
                *v = ((r * 7 + i) % 11) as f32 / 11.0;
            }
        });
        let time = |plan| {
            let w = wino.clone().with_plan(plan);
            common::median_time(|| drop(std::hint::black_box(w.conv(&x))), reps) * 1e3
        };
        let (chunks, whole) = (time(Plan::Chunks), time(Plan::WholeLayer));
        let auto = if wino.whole_layer(&x) {
            "whole layer"
        } else {
            "chunks"
        };
        let tiles = n * hw.div_ceil(4) * hw.div_ceil(4);
        println!("| {n}×{hw}×{hw} | {ci} → {co} | {tiles} | {chunks:.2} | {whole:.2} | {auto} |");
    }
    Ok(())
}
