//! A short adversarial run on real media: a tiny causal video tokenizer (AE, 4×4×4
//! compression, 8 base channels) reconstructs 9 frames of assets/media/frames/episode_000
//! (downscaled 4× to 64×48) against a 3-D PatchGAN (group norm, hinge, LeCam, R1), with
//! AdamW for both and alternating steps. The generator step uses the adaptive weight from
//! the last decoder layer's gradients (`decoder.conv_out.1.conv3d.weight`).
//! Asserted: every loss finite, the adaptive weight finite, positive once the GAN starts and
//! equal to min(raw ratio, adaptive_max) (max set low so the clamp acts), the
//! start/warm-up factor applied, the LeCam EMAs finite and tracking the logits, and the
//! reconstruction loss lower at the end than at the start.

mod common;

use std::path::Path;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use common::*;
use cosmotok_data::read_frame_folder;
use cosmotok_losses::config::{AdvConfig, DiscKind, DiscNorm, GanLoss};
use cosmotok_losses::{
    Discriminator, LeCam, LossConfig, ReconLoss, Schedule, Vgg16, adaptive_weight, combine_grads,
    d_loss, g_loss, r1_penalty,
};
use cosmotok_model::params::named_grads;
use cosmotok_model::{Tokenizer, TokenizerConfig, presets};

const LAST: &str = "decoder.conv_out.1.conv3d.weight";

fn tiny_video_config() -> TokenizerConfig {
    let mut c = presets::by_name("Cosmos-Tokenize1-CV4x8x8-360p").expect("preset");
    c.name = "tiny-cv4x4x4".into();
    c.channels = 8;
    c.channels_mult = vec![1, 2, 2]; // three levels, as released models (upsampler placement §5.8)
    c.num_res_blocks = 1;
    c.spatial_compression = 4;
    c.z_channels = 4;
    c.latent_channels = 4;
    c.validate().expect("tiny config");
    c
}

/// 9 frames of the bundled episode, 4× box-downscaled: [1, 3, 9, 48, 64] in [-1, 1].
fn clip(dev: &Device) -> Tensor<5> {
    let dir = repo_root().join("assets/media/frames/episode_000");
    let f = read_frame_folder(Path::new(&dir), 0, Some(9)).expect("frames");
    let (t, h, w) = (f.frames, f.height / 4, f.width / 4);
    let mut out = vec![0f32; 3 * t * h * w];
    for c in 0..3 {
        for k in 0..t {
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    for dy in 0..4 {
                        for dx in 0..4 {
                            s += f.data
                                [((c * t + k) * f.height + 4 * y + dy) * f.width + 4 * x + dx];
                        }
                    }
                    out[((c * t + k) * h + y) * w + x] = s / 16.0;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [1, 3, t, h, w]), dev)
}

#[test]
fn short_gan_run_on_bundled_frames_stays_finite() {
    let dev = Device::flex().autodiff();
    let x = clip(&dev);
    assert_eq!(x.dims(), [1, 3, 9, 48, 64]);
    let mut model = Tokenizer::new(&tiny_video_config(), &dev).unwrap();
    let adv = AdvConfig {
        enabled: true,
        disc: DiscKind::Patch3d,
        norm: DiscNorm::Group,
        channels: 8,
        n_layers: 2,
        loss: GanLoss::Hinge,
        start_iter: 2,
        warmup: 4,
        weight: Schedule::Constant(0.5),
        lecam_weight: 0.1,
        r1_weight: 1.0,
        adaptive_max: 0.15, // low, so the clamp is active in some steps
        ..AdvConfig::default()
    };
    let cfg = LossConfig {
        perceptual_weight: Schedule::Constant(0.1),
        gram_weight: Schedule::Constant(0.062),
        vgg_widths: [4, 8, 8, 16, 16],
        adversarial: adv.clone(),
        ..LossConfig::default()
    };
    // Random tiny VGG: the real weights cannot be downloaded here.
    let recon = ReconLoss::with_vgg(&cfg, Some(Vgg16::new(cfg.vgg_widths, &dev))).unwrap();
    let mut disc = Discriminator::new(&adv, &dev);
    let mut opt_g = AdamWConfig::new()
        .with_beta_1(0.5)
        .with_beta_2(0.999)
        .with_weight_decay(0.01)
        .init();
    let mut opt_d = AdamWConfig::new()
        .with_beta_1(adv.betas.0 as f32)
        .with_beta_2(adv.betas.1 as f32)
        .init();
    let mut lecam = LeCam::new(adv.lecam_decay);
    let mut recon_hist = Vec::new();
    let mut clamped = 0;
    for it in 0..10u64 {
        // Generator: one backward for the reconstruction loss, one for the adversarial loss.
        let (_, xhat) = model.autoencode(x.clone(), false);
        let fake_for_d = xhat.clone().detach();
        let terms = recon.forward(x.clone(), xhat, it);
        let nll = value(terms.total.clone());
        let g_nll = terms.total.backward();
        let factor = adv.factor(it);
        let mut gl_v = 0.0;
        let mut dw = 0.0;
        let grads = if factor > 0.0 {
            let (_, xhat2) = model.autoencode(x.clone(), false);
            let gl = g_loss(disc.forward(xhat2), adv.loss);
            gl_v = value(gl.clone());
            let g_g = gl.backward();
            let a = named_grads(&model, &g_nll);
            let b = named_grads(&model, &g_g);
            dw = adaptive_weight(&a[LAST], &b[LAST], adv.adaptive_max);
            let raw = adaptive_weight(&a[LAST], &b[LAST], f64::INFINITY);
            assert!(
                raw.is_finite() && raw > 0.0,
                "it {it}: raw adaptive weight {raw}"
            );
            assert_eq!(dw, raw.min(adv.adaptive_max), "it {it}: clamp");
            clamped += usize::from(raw > adv.adaptive_max);
            combine_grads(&model, g_nll, g_g, dw * adv.weight.at(it) * factor)
        } else {
            GradientsParams::from_grads(g_nll, &model)
        };
        model = opt_g.step(1e-3, model, grads);

        // Discriminator: hinge + LeCam + R1 on the reals.
        let real_l = disc.forward(x.clone());
        let fake_l = disc.forward(fake_for_d);
        let dl = d_loss(real_l.clone(), fake_l.clone(), adv.loss);
        let lc = lecam.penalty(real_l.clone(), fake_l.clone());
        let r1 = r1_penalty(&disc, x.clone(), adv.r1_weight);
        let (dl_v, lc_v, r1_v) = (value(dl.clone()), value(lc.clone()), value(r1.clone()));
        lecam.update(real_l, fake_l);
        let total_d = dl.add(lc.mul_scalar(adv.lecam_weight)).add(r1);
        let gd = GradientsParams::from_grads(total_d.backward(), &disc);
        disc = opt_d.step(adv.lr, disc, gd).power_iteration();

        println!(
            "it {it}: recon {nll:.5} g {gl_v:.5} d {dl_v:.5} lecam {lc_v:.5} r1 {r1_v:.5} \
             d_weight {dw:.4} factor {factor:.2} ema ({:.4}, {:.4})",
            lecam.ema_real, lecam.ema_fake
        );
        for (n, v) in [
            ("recon", nll),
            ("g", gl_v),
            ("d", dl_v),
            ("lecam", lc_v),
            ("r1", r1_v),
        ] {
            assert!(v.is_finite(), "it {it}: {n} loss {v}");
        }
        assert!(
            dl_v >= 0.0 && r1_v >= 0.0 && lc_v >= 0.0,
            "it {it}: negative penalty"
        );
        assert!(
            dw.is_finite() && (0.0..=adv.adaptive_max).contains(&dw),
            "it {it}: d_weight {dw}"
        );
        if it < adv.start_iter {
            assert_eq!(factor, 0.0);
        } else {
            assert!(
                factor > 0.0 && factor <= 1.0 && dw > 0.0,
                "it {it}: factor {factor} dw {dw}"
            );
        }
        assert!(lecam.ema_real.is_finite() && lecam.ema_fake.is_finite());
        recon_hist.push(nll);
    }
    println!("adaptive weight clamped in {clamped} of 8 adversarial steps");
    assert_eq!(adv.factor(5), 1.0);
    let (first, last) = (recon_hist[0], *recon_hist.last().unwrap());
    assert!(
        last < first,
        "reconstruction loss did not decrease: {recon_hist:?}"
    );
}
