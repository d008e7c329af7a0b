//! Times the causal convs' Flex kernels (`cosmotok_kernels::flex_conv`) against burn-flex's own
//! conv3d forward and weight gradient, on the layer shapes of the channels-32 CV8x8x8 training
//! benchmark (BENCHMARKS.md) and one layer of a released model's size, and prints the ratio.
//!
//!     RAYON_NUM_THREADS=2 cargo run -p cosmotok-kernels --example bench_flex_conv [REPS]

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::tensor::TensorData;
use cosmotok_kernels::flex_conv;

// The losses benchmarks' argument parser and median timer.
use cosmotok_kernels::bench as common;

fn random(shape: &[usize]) -> FlexTensor {
    let len: usize = shape.iter().product();
    let data: Vec<f32> = (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    FlexTensor::from_data(TensorData::new(data, shape.to_vec()))
}

/// (x shape, weight shape, stride, padding).
type Case = ([usize; 5], [usize; 5], [usize; 3], [usize; 3]);

fn main() -> anyhow::Result<()> {
    let reps = common::whole_number_args()?.first().copied().unwrap_or(7);
    let cases: [Case; 7] = [
        ([1, 32, 5, 64, 64], [32, 32, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 32, 7, 64, 64], [32, 32, 3, 1, 1], [1, 1, 1], [0, 0, 0]),
        (
            [1, 128, 4, 16, 16],
            [128, 128, 3, 1, 1],
            [1, 1, 1],
            [0, 0, 0],
        ),
        ([1, 64, 3, 32, 32], [64, 64, 1, 3, 3], [1, 1, 1], [0, 1, 1]),
        (
            [1, 128, 2, 16, 16],
            [128, 128, 1, 3, 3],
            [1, 1, 1],
            [0, 1, 1],
        ),
        ([1, 32, 5, 65, 65], [32, 32, 1, 3, 3], [1, 2, 2], [0, 0, 0]),
        // A released CV8x8x8's first level (128 channels) on a 17-frame 256×256 clip: the
        // Winograd path (flex_winograd).
        (
            [1, 128, 5, 64, 64],
            [128, 128, 1, 3, 3],
            [1, 1, 1],
            [0, 1, 1],
        ),
    ];
    println!(
        "| x | weight | stride | forward burn / ours ms | weight grad burn / ours ms | \
         input grad burn / ours ms |"
    );
    println!("|---|---|---|---|---|---|");
    for (xs, ws, stride, pad) in cases {
        let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
        let (x, w, b) = (random(&xs), random(&ws), random(&[ws[0]]));
        let y = Flex::conv3d(x.clone(), w.clone(), Some(b.clone()), options.clone());
        let dy = random(y.layout().shape());
        let fb = common::median_time(
            || {
                Flex::conv3d(x.clone(), w.clone(), Some(b.clone()), options.clone());
            },
            reps,
        );
        let fo = common::median_time(
            || {
                flex_conv::forward(x.clone(), w.clone(), b.clone(), &options);
            },
            reps,
        );
        let gb = common::median_time(
            || {
                Flex::conv3d_weight_backward(x.clone(), w.clone(), dy.clone(), options.clone());
            },
            reps,
        );
        let go = common::median_time(
            || {
                flex_conv::weight_grad(x.clone(), &ws, dy.clone(), &options).unwrap();
            },
            reps,
        );
        let ib = common::median_time(
            || {
                Flex::conv3d_x_backward(x.clone(), w.clone(), dy.clone(), options.clone());
            },
            reps,
        );
        // Strided convs keep burn's transposed conv.
        let io = common::median_time(
            || {
                if flex_conv::input_grad(&xs, w.clone(), dy.clone(), &options).is_none() {
                    Flex::conv3d_x_backward(x.clone(), w.clone(), dy.clone(), options.clone());
                }
            },
            reps,
        );
        println!(
            "| {xs:?} | {ws:?} | {stride:?} | {:.2} / {:.2} ({:.2}×) | {:.2} / {:.2} ({:.2}×) \
             | {:.2} / {:.2} ({:.2}×) |",
            fb * 1e3,
            fo * 1e3,
            fo / fb,
            gb * 1e3,
            go * 1e3,
            go / gb,
            ib * 1e3,
            io * 1e3,
            io / ib
        );
    }
    Ok(())
}
