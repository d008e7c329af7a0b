//! Pixel, perceptual and Gram losses and d(perceptual+Gram)/d(x̂) against the PyTorch
//! reference of scripts/make_loss_fixtures.py (tiny VGG-16 widths [4,8,8,16,16], random
//! weights, 2×3×3×32×32 video and 2×3×1×32×32 image batches). Values are compared at ≤ 1e-5
//! relative; the fixture was computed in f64 from f32-rounded inputs and weights. The VGG
//! terms are checked on both paths: burn's autodiff (every device) and `CpuVgg` (Flex).

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_losses::config::{GramMode, LossConfig, PixelKind};
use cosmotok_losses::perceptual::FeaturePair;
use cosmotok_losses::pixel::pixel_loss;
use cosmotok_losses::{CpuVgg, ReconLoss, Schedule, Vgg16};

const TINY: [usize; 5] = [4, 8, 8, 16, 16];
const CASES: [&str; 2] = ["video", "image"];

fn vgg(dev: &Device) -> Vgg16 {
    Vgg16::load(&fixture("vgg16_tiny.safetensors"), TINY, dev).expect("tiny vgg")
}

#[test]
fn pixel_l1_l2_and_mask_match_torch() {
    let dev = Device::flex();
    let fx = Fx::open("recon.safetensors");
    for c in CASES {
        let x = fx.tensor::<5>(&format!("{c}.x"), &dev);
        let xh = fx.tensor::<5>(&format!("{c}.xhat"), &dev);
        let m = fx.tensor::<5>(&format!("{c}.mask"), &dev);
        for (kind, mask, key) in [
            (PixelKind::L1, None, "l1"),
            (PixelKind::L2, None, "l2"),
            (PixelKind::L1, Some(m), "l1_masked"),
        ] {
            let got = value(pixel_loss(kind, x.clone(), xh.clone(), mask));
            let want = fx.scalar(&format!("{c}.{key}"));
            let e = rel(got, want);
            println!("{c}.{key}: {got} vs {want} rel {e:e}");
            assert!(e <= 1e-5, "{c}.{key}: {got} vs {want} rel {e:e}");
        }
    }
}

#[test]
fn perceptual_and_gram_match_torch() {
    let dev = Device::flex();
    let fx = Fx::open("recon.safetensors");
    let vgg = vgg(&dev);
    for c in CASES {
        let x = fx.tensor::<5>(&format!("{c}.x"), &dev);
        let xh = fx.tensor::<5>(&format!("{c}.xhat"), &dev);
        let dims = xh.dims();
        let host = |t: &Tensor<5>| t.to_data().try_to_vec::<f32>().unwrap();
        let (xd, xhd) = (host(&x), host(&xh));
        let f = FeaturePair::compute(&vgg, x, xh);
        let cpu = CpuVgg::new(&vgg);
        let cpu_perc = cpu.loss(&xd, &xhd, dims, 1.0, 0.0, GramMode::Clip);
        let cpu_clip = cpu.loss(&xd, &xhd, dims, 0.0, 1.0, GramMode::Clip);
        let cpu_frame = cpu.loss(&xd, &xhd, dims, 0.0, 1.0, GramMode::Frame);
        for (got, key) in [
            (value(f.perceptual()), "perceptual"),
            (value(f.gram(GramMode::Clip)), "gram_clip"),
            (value(f.gram(GramMode::Frame)), "gram_frame"),
            (cpu_perc.perceptual, "perceptual"),
            (cpu_clip.gram, "gram_clip"),
            (cpu_frame.gram, "gram_frame"),
        ] {
            let want = fx.scalar(&format!("{c}.{key}"));
            let e = rel(got, want);
            println!("{c}.{key}: {got} vs {want} rel {e:e}");
            assert!(e <= 1e-5, "{c}.{key}: {got} vs {want} rel {e:e}");
        }
    }
}

fn spec_cfg() -> LossConfig {
    LossConfig {
        vgg_weights: Some(fixture("vgg16_tiny.safetensors")),
        vgg_widths: TINY,
        ..LossConfig::default()
    }
}

#[test]
fn recon_total_with_spec_schedule_matches_torch() {
    let dev = Device::flex();
    let fx = Fx::open("recon.safetensors");
    for (cpu, c) in [true, false]
        .into_iter()
        .flat_map(|p| CASES.map(|c| (p, c)))
    {
        let loss = ReconLoss::new(&spec_cfg(), &dev).unwrap().with_cpu_vgg(cpu);
        assert_eq!(loss.uses_cpu_vgg(), cpu);
        println!("CpuVgg: {cpu}");
        let x = fx.tensor::<5>(&format!("{c}.x"), &dev);
        let xh = fx.tensor::<5>(&format!("{c}.xhat"), &dev);
        // Late stage (≥ 500k): L1·1 + perceptual·0.073 + Gram(clip)·0.062.
        let t = loss.forward(x.clone(), xh.clone(), 600_000);
        let names: Vec<_> = t.terms.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pixel", "perceptual", "gram"]);
        let got = value(t.total);
        let want = fx.scalar(&format!("{c}.total_600k"));
        let e = rel(got, want);
        println!("{c}.total_600k: {got} vs {want} rel {e:e}");
        assert!(e <= 1e-5, "{c}: total {got} vs {want} rel {e:e}");
        // Early stage: Gram weight 0 → not computed; perceptual at 0.1.
        let t = loss.forward(x, xh, 10);
        let v = t.values();
        assert_eq!(v.len(), 2, "{v:?}");
        let want_p = 0.1 * fx.scalar(&format!("{c}.perceptual"));
        assert!(
            rel(v[1].1, want_p) <= 1e-5,
            "{v:?} vs perceptual·0.1 {want_p}"
        );
        let want_l1 = fx.scalar(&format!("{c}.l1"));
        assert!(rel(v[0].1, want_l1) <= 1e-5, "{v:?} vs l1 {want_l1}");
    }
}

#[test]
fn perceptual_gram_gradient_matches_torch() {
    let dev = Device::flex().autodiff();
    let fx = Fx::open("recon.safetensors");
    let cfg = LossConfig {
        pixel_weight: Schedule::Constant(0.0),
        perceptual_weight: Schedule::Constant(0.073),
        gram_weight: Schedule::Constant(0.062),
        ..spec_cfg()
    };
    for (cpu, c) in [true, false]
        .into_iter()
        .flat_map(|p| CASES.map(|c| (p, c)))
    {
        let loss = ReconLoss::new(&cfg, &dev).unwrap().with_cpu_vgg(cpu);
        assert_eq!(loss.uses_cpu_vgg(), cpu);
        let x = fx.tensor::<5>(&format!("{c}.x"), &dev);
        let xh = fx.tensor::<5>(&format!("{c}.xhat"), &dev).require_grad();
        let t = loss.forward(x, xh.clone(), 0);
        let grads = t.total.backward();
        let g = xh.grad(&grads).expect("grad");
        let want = fx.f32(&format!("{c}.grad_perc_gram"));
        let e2 = rel_l2(g.clone(), &want);
        let em = rel_max(g, &want);
        println!("{c} (CpuVgg {cpu}) grad: rel L2 {e2:e}, max-abs/max {em:e}");
        assert!(
            e2 <= 1e-5 && em <= 1e-5,
            "{c}: grad rel L2 {e2:e} max {em:e}"
        );
    }
}

/// The VGG cast to bf16 (what bf16-mixed training runs on a GPU): the perceptual and Gram terms
/// stay within bf16's rounding of the PyTorch f32 values, and are returned in f32.
#[test]
fn bf16_vgg_terms_track_torch() {
    let dev = Device::flex();
    let fx = Fx::open("recon.safetensors");
    let vgg = vgg(&dev).cast(burn::tensor::FloatDType::BF16);
    assert_eq!(vgg.dtype(), burn::tensor::DType::BF16);
    for c in CASES {
        let x = fx.tensor::<5>(&format!("{c}.x"), &dev);
        let xh = fx.tensor::<5>(&format!("{c}.xhat"), &dev);
        let f = FeaturePair::compute(&vgg, x, xh);
        // Perceptual: 13 convs with bf16 activations (2⁻⁹ rounding each), measured ≤ 0.8 %.
        // Gram: a mean of squared differences of two close second-moment matrices, which
        // amplifies the features' rounding (measured ≤ 3.9 %).
        for (t, key, tol) in [
            (f.perceptual(), "perceptual", 2e-2),
            (f.gram(GramMode::Clip), "gram_clip", 8e-2),
        ] {
            assert_eq!(t.dtype(), burn::tensor::DType::F32, "{c}.{key}");
            let got = value(t);
            let want = fx.scalar(&format!("{c}.{key}"));
            let e = rel(got, want);
            println!("bf16 {c}.{key}: {got} vs {want} rel {e:e}");
            assert!(e <= tol && e > 1e-6, "{c}.{key}: {got} vs {want} rel {e:e}");
        }
    }
}
