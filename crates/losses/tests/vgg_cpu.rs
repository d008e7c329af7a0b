//! `CpuVgg` (the host-memory VGG the Flex device uses for the perceptual and Gram losses)
//! against burn's autodiff path on the same random VGG-16: loss values and d(loss)/d(x̂), on
//! sizes where the pooling floors (20×28 → 10×14 → 5×7 → 2×3 → 1×1) and with clips of 2
//! frames, for each combination of the two losses and both Gram modes, with the convs run as
//! direct GEMMs and as Winograd F(2×2, 3×3) and F(4×4, 3×3), in chunks and as whole layers
//! (`ReconLoss` itself picks by width and shape; the tiny test VGG would never reach the
//! Winograd path on its own). The L1 term's gradient
//! is sign(f(x̂) − f(x)), which flips where a feature difference is within rounding of 0, so
//! with it the gradient is held to 5e-5 in relative L2 norm and 1e-4 in max-abs / max; the
//! Gram term alone (smooth) to 1e-5 in both. The PyTorch fixtures
//! (`recon_fixture.rs`) check both paths against the reference as well.

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;
use cosmotok_kernels::winograd::Plan;
use cosmotok_losses::config::{GramMode, LossConfig};
use cosmotok_losses::{CpuVgg, ReconLoss, Schedule, Vgg16};

const WIDTHS: [usize; 5] = [4, 8, 8, 16, 16];

#[test]
fn cpu_vgg_matches_burn_autodiff() {
    let dev = Device::flex().autodiff();
    dev.seed(11);
    let vgg = Vgg16::new(WIDTHS, &dev);
    let x = Tensor::<5>::random([2, 3, 2, 20, 28], Distribution::Uniform(-1.0, 1.0), &dev);
    let xh = x.clone().add(Tensor::<5>::random(
        x.dims(),
        Distribution::Normal(0.0, 0.2),
        &dev,
    ));
    for (wp, wg, mode) in [
        (0.1, 0.0, GramMode::Clip),
        (0.0, 0.5, GramMode::Clip),
        (0.0, 0.5, GramMode::Frame),
        (0.073, 0.062, GramMode::Clip),
    ] {
        let cfg = LossConfig {
            pixel_weight: Schedule::Constant(0.0),
            perceptual_weight: Schedule::Constant(wp),
            gram_weight: Schedule::Constant(wg),
            gram_mode: mode,
            vgg_widths: WIDTHS,
            ..LossConfig::default()
        };
        let run = |cpu: bool| {
            let loss = ReconLoss::with_vgg(&cfg, Some(vgg.clone()))
                .unwrap()
                .with_cpu_vgg(cpu);
            assert_eq!(loss.uses_cpu_vgg(), cpu);
            let xh = xh.clone().detach().require_grad();
            let t = loss.forward(x.clone(), xh.clone(), 0);
            let values = t.values();
            let grads = t.total.backward();
            (values, vec_of(xh.grad(&grads).expect("gradient")))
        };
        let (v_cpu, g_cpu) = run(true);
        let (v_burn, g_burn) = run(false);
        let names = |v: &[(String, f64)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&v_cpu), names(&v_burn));
        let host = |t: &Tensor<5>| t.to_data().try_to_vec::<f32>().unwrap();
        let (xd, xhd) = (host(&x), host(&xh));
        for (label, values, grad) in [("ReconLoss", v_cpu, g_cpu.0)].into_iter().chain(
            [
                ("direct", usize::MAX, 2, Plan::Auto),
                ("winograd F(2,3)", 0, 2, Plan::Chunks),
                ("winograd F(4,3)", 0, 4, Plan::Chunks),
                ("winograd F(2,3) whole layers", 0, 2, Plan::WholeLayer),
                ("winograd F(4,3) whole layers", 0, 4, Plan::WholeLayer),
            ]
            .map(|(label, min, tile, plan)| {
                let out = CpuVgg::with_winograd(&vgg, min, tile).with_plan(plan).loss(
                    &xd,
                    &xhd,
                    x.dims(),
                    wp,
                    wg,
                    mode,
                );
                let values = v_burn
                    .iter()
                    .map(|(n, _)| {
                        let v = if n == "perceptual" {
                            out.perceptual * wp
                        } else {
                            out.gram * wg
                        };
                        (n.clone(), v)
                    })
                    .collect();
                (label, values, out.grad)
            }),
        ) {
            for ((name, a), (_, b)) in values.iter().zip(&v_burn) {
                let e = rel(*a, *b);
                println!("{label} w=({wp},{wg},{mode:?}) {name}: cpu {a} burn {b} rel {e:e}");
                assert!(e <= 1e-5, "{label} {name}: cpu {a} vs burn {b} (rel {e:e})");
            }
            let gmax = g_burn.0.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(gmax > 0.0, "the gradient must not vanish");
            let got = || {
                let data = TensorData::new(grad.clone(), g_burn.1.clone());
                Tensor::<5>::from_data(data, &Device::flex())
            };
            let (e2, em) = (rel_l2(got(), &g_burn), rel_max(got(), &g_burn));
            println!(
                "{label} w=({wp},{wg},{mode:?}) gradient: rel L2 {e2:e}, max |Δ| / max |g| {em:e}"
            );
            // The L1 term's sign flips where a feature difference is within rounding of 0
            // (Winograd rounds differently from a direct sum): looser bound with it on.
            let (tol2, tolm) = if wp != 0.0 {
                (5e-5, 1e-4)
            } else {
                (1e-5, 1e-5)
            };
            assert!(
                e2 <= tol2 && em <= tolm,
                "{label}: gradient rel L2 {e2:e}, max-abs/max {em:e}"
            );
        }
    }
}
