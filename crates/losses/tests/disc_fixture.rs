//! Discriminators, GAN losses, LeCam, the adaptive weight and R1 against the PyTorch
//! reference (scripts/make_loss_fixtures.py → tests/fixtures/losses/disc.safetensors).
//! Spectral norm is compared as torch's train-mode forward: the same stored `u`, one power
//! iteration, and the `u` it leaves behind.

mod common;

use burn::module::Param;
use burn::prelude::*;
use common::*;
use cosmotok_losses::config::{AdvConfig, DiscKind, DiscNorm, GanLoss};
use cosmotok_losses::discriminator::PatchGan;
use cosmotok_losses::spectral_norm::SpectralState;
use cosmotok_losses::{
    Discriminator, LeCam, adaptive_weight, d_loss, g_loss, r1_penalty, r1_value,
};

fn cfg(kind: DiscKind, norm: DiscNorm, channels: usize) -> AdvConfig {
    AdvConfig {
        enabled: true,
        disc: kind,
        norm,
        channels,
        n_layers: 2,
        ..AdvConfig::default()
    }
}

/// Copies `{name}.conv{k}.*` / `{name}.norm{k+1}.*` into the stack.
fn load(fx: &Fx, name: &str, d: Discriminator, dev: &Device) -> Discriminator {
    let set = |mut p: PatchGan| {
        for (k, conv) in p.convs.iter_mut().enumerate() {
            let (w, s) = fx.f32(&format!("{name}.conv{k}.weight"));
            let s5 = if s.len() == 4 {
                vec![s[0], s[1], 1, s[2], s[3]]
            } else {
                s
            };
            assert_eq!(conv.weight.dims().to_vec(), s5, "{name}.conv{k}");
            conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, s5), dev));
            let bk = format!("{name}.conv{k}.bias");
            assert_eq!(conv.bias.is_some(), fx.has(&bk), "{bk} presence");
            if conv.bias.is_some() {
                conv.bias = Some(Param::from_tensor(fx.tensor(&bk, dev)));
            }
            let uk = format!("{name}.conv{k}.u");
            assert_eq!(conv.sn.is_some(), fx.has(&uk), "{uk} presence");
            if conv.sn.is_some() {
                conv.sn = Some(SpectralState::from_u(fx.tensor(&uk, dev)));
            }
        }
        for (k, norm) in p.norms.iter_mut().enumerate() {
            let wk = format!("{name}.norm{}.weight", k + 1);
            assert_eq!(norm.is_some(), fx.has(&wk), "{wk} presence");
            if let Some(n) = norm {
                n.gamma = Some(Param::from_tensor(fx.tensor(&wk, dev)));
                n.beta = Some(Param::from_tensor(
                    fx.tensor(&format!("{name}.norm{}.bias", k + 1), dev),
                ));
            }
        }
        p
    };
    match d {
        Discriminator::Patch2d(p) => Discriminator::Patch2d(set(p)),
        Discriminator::Patch3d(p) => Discriminator::Patch3d(set(p)),
        Discriminator::Frames2d(p) => Discriminator::Frames2d(set(p)),
    }
}

fn input5(fx: &Fx, key: &str, dev: &Device) -> Tensor<5> {
    let (v, s) = fx.f32(key);
    let s5 = if s.len() == 4 {
        vec![s[0], s[1], 1, s[2], s[3]]
    } else {
        s
    };
    Tensor::from_data(TensorData::new(v, s5), dev)
}

#[test]
fn patchgan_logits_and_spectral_state_match_torch() {
    let dev = Device::flex();
    let fx = Fx::open("disc.safetensors");
    for (name, kind, norm, ch) in [
        ("sn2d", DiscKind::Patch2d, DiscNorm::Spectral, 4),
        ("gn2d", DiscKind::Patch2d, DiscNorm::Group, 8),
        ("none2d", DiscKind::Frames2d, DiscNorm::None, 4),
        ("gn3d", DiscKind::Patch3d, DiscNorm::Group, 4),
        ("sn3d", DiscKind::Patch3d, DiscNorm::Spectral, 4),
    ] {
        let d = load(
            &fx,
            name,
            Discriminator::new(&cfg(kind, norm, ch), &dev),
            &dev,
        );
        let x = input5(&fx, &format!("{name}.x"), &dev);
        let y = d.forward(x);
        let (mut want, ws) = fx.f32(&format!("{name}.logits"));
        let want_shape = if ws.len() == 4 {
            vec![ws[0], ws[1], 1, ws[2], ws[3]]
        } else {
            ws
        };
        want.truncate(want.len());
        let e = rel_max(y, &(want, want_shape));
        println!("{name}: logits max-abs/max {e:e}");
        assert!(e <= 1e-5, "{name}: logits rel {e:e}");
        if norm == DiscNorm::Spectral {
            let d = d.power_iteration();
            for (k, conv) in d.stack().convs.iter().enumerate() {
                let u = conv.sn.as_ref().unwrap().u.val();
                let want = fx.f32(&format!("{name}.conv{k}.u_next"));
                let e = rel_max(u, &want);
                assert!(e <= 1e-5, "{name}.conv{k}: u after one iteration rel {e:e}");
            }
        }
    }
}

#[test]
fn gan_losses_match_torch() {
    let dev = Device::flex();
    let fx = Fx::open("disc.safetensors");
    let real = fx.tensor::<5>("gan.real", &dev);
    let fake = fx.tensor::<5>("gan.fake", &dev);
    for (got, key) in [
        (
            d_loss(real.clone(), fake.clone(), GanLoss::Hinge),
            "gan.d_hinge",
        ),
        (
            d_loss(real.clone(), fake.clone(), GanLoss::NonSaturating),
            "gan.d_ns",
        ),
        (g_loss(fake.clone(), GanLoss::Hinge), "gan.g_hinge"),
        (g_loss(fake.clone(), GanLoss::NonSaturating), "gan.g_ns"),
    ] {
        let (g, w) = (value(got), fx.scalar(key));
        let e = rel(g, w);
        println!("{key}: {g} vs {w} rel {e:e}");
        assert!(e <= 1e-5, "{key}: {g} vs {w} rel {e:e}");
    }
}

#[test]
fn lecam_penalty_and_ema_match_torch() {
    let dev = Device::flex();
    let fx = Fx::open("disc.safetensors");
    let real = fx.tensor::<5>("gan.real", &dev);
    let fake = fx.tensor::<5>("gan.fake", &dev);
    let (ema, _) = fx.f32("gan.lecam_ema");
    let mut l = LeCam {
        ema_real: ema[0] as f64,
        ema_fake: ema[1] as f64,
        decay: 0.99,
    };
    let got = value(l.penalty(real.clone(), fake.clone()));
    let want = fx.scalar("gan.lecam");
    assert!(rel(got, want) <= 1e-5, "lecam {got} vs {want}");
    l.update(real, fake);
    let (next, _) = fx.f32("gan.lecam_ema_next");
    assert!(rel(l.ema_real, next[0] as f64) <= 1e-5, "{l:?} vs {next:?}");
    assert!(rel(l.ema_fake, next[1] as f64) <= 1e-5, "{l:?} vs {next:?}");
}

#[test]
fn adaptive_weight_matches_torch_and_clamps() {
    let dev = Device::flex();
    let fx = Fx::open("disc.safetensors");
    let a = fx.tensor::<4>("adapt.nll_grad", &dev).into_data();
    let b = fx.tensor::<4>("adapt.g_grad", &dev).into_data();
    let w = adaptive_weight(&a, &b, 1e4);
    let want = fx.scalar("adapt.weight");
    assert!(rel(w, want) <= 1e-5, "adaptive {w} vs {want}");
    assert!(want > 10.0, "fixture should exercise the clamp");
    let w10 = adaptive_weight(&a, &b, 10.0);
    assert_eq!(w10, 10.0);
    assert_eq!(fx.scalar("adapt.weight_max10"), 10.0);
    // NaN gradient → 0, never NaN.
    let nan = TensorData::new(vec![f32::NAN; 4], [4]);
    assert_eq!(adaptive_weight(&nan, &nan, 1e4), 0.0);
}

#[test]
fn r1_value_and_penalty_gradient_match_torch_double_backward() {
    let dev = Device::flex().autodiff();
    let fx = Fx::open("disc.safetensors");
    for (name, kind, norm, conv) in [
        ("r1", DiscKind::Patch2d, DiscNorm::None, 0),
        ("r1gn2d", DiscKind::Patch2d, DiscNorm::Group, 1),
        ("r1gn3d", DiscKind::Patch3d, DiscNorm::Group, 1),
    ] {
        let d = load(
            &fx,
            name,
            Discriminator::new(&cfg(kind, norm, 4), &dev),
            &dev,
        );
        let x = input5(&fx, &format!("{name}.x"), &dev);
        let want = fx.scalar(&format!("{name}.value"));
        let exact = r1_value(&d, x.clone(), 10.0);
        let e = rel(exact, want);
        // Differentiable penalty (tangent pass): value and d/d(conv weight) against torch's
        // double backward.
        let p = r1_penalty(&d, x, 10.0);
        let pv = value(p.clone());
        let ev = rel(pv, want);
        let grads = p.backward();
        let gw = d.stack().convs[conv].weight.val().grad(&grads).unwrap();
        let (wg, ws) = fx.f32(&format!("{name}.grad_conv{conv}_weight"));
        let n = wg.len();
        assert_eq!(
            gw.dims().iter().product::<usize>(),
            n,
            "{name}: grad shape {ws:?}"
        );
        let want_g = (wg, vec![n]);
        let gw = gw.reshape([n]);
        let eg = rel_l2(gw.clone(), &want_g);
        let em = rel_max(gw, &want_g);
        println!(
            "{name}: r1_value rel {e:e}; r1_penalty value rel {ev:e}, conv{conv} weight grad rel L2 {eg:e} max {em:e}"
        );
        assert!(e <= 1e-5, "{name}: r1 exact {exact} vs {want} rel {e:e}");
        assert!(ev <= 1e-5, "{name}: r1 penalty {pv} vs {want} rel {ev:e}");
        assert!(
            eg <= 1e-5 && em <= 1e-4,
            "{name}: r1 grad rel L2 {eg:e} max {em:e}"
        );
    }
}

#[test]
fn frame_wise_discriminator_judges_each_frame_independently() {
    let dev = Device::flex();
    let fx = Fx::open("disc.safetensors");
    let d = load(
        &fx,
        "none2d",
        Discriminator::new(&cfg(DiscKind::Frames2d, DiscNorm::None, 4), &dev),
        &dev,
    );
    // Clip of 3 frames = the fixture's image batch plus a flipped and a scaled copy.
    let a = input5(&fx, "none2d.x", &dev).narrow(0, 0, 1); // [1, 3, 1, 32, 32]
    let frames = [a.clone(), a.clone().flip([4]), a.clone().mul_scalar(0.5)];
    let clip = Tensor::cat(frames.to_vec(), 2); // [1, 3, 3, 32, 32]
    let y = d.forward(clip);
    assert_eq!(y.dims()[2], 3);
    for (t, f) in frames.into_iter().enumerate() {
        let want = vec_of(d.forward(f));
        let e = rel_max(y.clone().narrow(2, t, 1), &want);
        assert!(e <= 1e-6, "frame {t}: rel {e:e}");
    }
}

#[test]
fn output_shape_predicts_logits_and_rejects_short_clips() {
    let dev = Device::flex();
    let d3 = Discriminator::new(&cfg(DiscKind::Patch3d, DiscNorm::Group, 4), &dev);
    let x = Tensor::<5>::zeros([1, 3, 9, 32, 32], &dev);
    let want = d3.output_shape([1, 3, 9, 32, 32]).unwrap();
    assert_eq!(d3.forward(x).dims(), want);
    assert_eq!(want, [1, 1, 1, 6, 6]);
    let d2 = Discriminator::new(&cfg(DiscKind::Frames2d, DiscNorm::None, 4), &dev);
    let x = Tensor::<5>::zeros([2, 3, 3, 24, 40], &dev);
    assert_eq!(
        d2.forward(x).dims(),
        d2.output_shape([2, 3, 3, 24, 40]).unwrap()
    );
    // 3 frames: T 3 → 1 after the time-strided conv 0, too short for conv 1's 4-tap kernel.
    let e = d3.output_shape([1, 3, 3, 32, 32]).unwrap_err().to_string();
    assert!(
        e.contains("time") && e.contains("conv 1") && e.contains("got 1"),
        "{e}"
    );
    let e = d3.output_shape([1, 4, 9, 32, 32]).unwrap_err().to_string();
    assert!(e.contains("channels"), "{e}");
}
