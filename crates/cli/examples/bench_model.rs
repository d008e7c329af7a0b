//! Times encode+decode and one forward+backward of a small CV config on Flex (CPU).
//!
//!     cargo run -p cosmotok-cli --example bench_model -- [--threads N]
//!
//! Config: CV8x8x8 structure, channels 8 ([2,4,4]), input 1×3×17×64×96 (the debug fixture's
//! shape); and CV4x8x8-360p structure, channels 16, same input. Prints median of 5.

use std::time::Instant;

use burn::prelude::*;
use cosmotok_model::{Tokenizer, presets};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(label: &str, preset: &str, channels: usize, shape: [usize; 5]) {
    let mut cfg = presets::by_name(preset).unwrap();
    cfg.channels = channels;
    let dev = Device::flex();
    let model = Tokenizer::new(&cfg, &dev).unwrap();
    let x = Tensor::<5>::random(shape, burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
    let mut fwd = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (_, r) = model.autoencode(x.clone(), false);
        let _ = r.into_data();
        fwd.push(t.elapsed().as_secs_f64());
    }
    let ad = dev.autodiff();
    let model = Tokenizer::new(&cfg, &ad).unwrap();
    let xa = Tensor::<5>::random(shape, burn::tensor::Distribution::Uniform(-1.0, 1.0), &ad);
    let mut bwd = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (_, r) = model.autoencode(xa.clone(), false);
        let loss = r.sub(xa.clone()).square().mean();
        let grads = loss.backward();
        drop(grads);
        bwd.push(t.elapsed().as_secs_f64());
    }
    println!(
        "{label:<34} input {shape:?}: encode+decode {:.3} s, forward+backward {:.3} s",
        median(fwd),
        median(bwd)
    );
}

fn main() {
    bench(
        "CV8x8x8 structure, channels 8",
        "Cosmos-1.0-Tokenizer-CV8x8x8",
        8,
        [1, 3, 17, 64, 96],
    );
    bench(
        "CV4x8x8-360p structure, ch 16",
        "Cosmos-Tokenize1-CV4x8x8-360p",
        16,
        [1, 3, 17, 64, 96],
    );
}
