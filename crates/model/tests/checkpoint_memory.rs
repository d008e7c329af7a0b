//! Gradient checkpointing lowers the peak memory of a training step: the forward + backward of
//! the CV8x8x8 debug fixture's model on Flex, measured by a counting global allocator (every
//! Flex tensor is a heap allocation), with and without `Device::gradient_checkpointing`.
//! One test in its own binary, so no other test allocates meanwhile.

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_kernels::bench::CountingAlloc;
use cosmotok_model::TokenizerConfig;
use cosmotok_model::weights::load;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Peak heap bytes above the starting level during forward + loss + backward.
fn step_peak(dev: &Device) -> usize {
    let path = fixture("debug/CV8x8x8.safetensors");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("debug/CV8x8x8.json")).unwrap())
            .unwrap();
    let cfg = TokenizerConfig::from_official_json(&v).unwrap();
    let (model, _) = load(&path, Some(cfg), dev).unwrap();
    let (xv, xs) = Tensors::open(&path).f32("ref.input");
    // The fixture clip tiled to 4× the frames' area keeps activations well above the weights.
    let x = Tensor::<5>::from_data(TensorData::new(xv, xs), dev).repeat(&[1, 1, 1, 2, 2]);
    let base = ALLOC.start();
    let (_, recon) = model.autoencode(x.clone(), false);
    let loss = recon.sub(x).square().mean();
    let grads = loss.backward();
    let peak = ALLOC.peak_since(base);
    drop(grads);
    peak
}

#[test]
fn checkpointing_lowers_the_step_peak() {
    // One thread: the kernels' per-thread scratch buffers would otherwise add noise.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (kept, ckpt) = pool.install(|| {
        let kept = step_peak(&device().autodiff());
        let ckpt = step_peak(&device().autodiff().gradient_checkpointing());
        (kept, ckpt)
    });
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "peak heap during forward+backward: kept {:.1} MiB, checkpointed {:.1} MiB ({:.0}%)",
        mib(kept),
        mib(ckpt),
        100.0 * ckpt as f64 / kept as f64
    );
    assert!(
        (ckpt as f64) < 0.85 * kept as f64,
        "checkpointing: peak {:.1} MiB vs {:.1} MiB without (expected at least 15% less)",
        mib(ckpt),
        mib(kept)
    );
}
