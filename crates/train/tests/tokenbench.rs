//! TokenBench's paired evaluation against the Python formulas (scripts/make_tokenbench_fixture.py
//! ran TokenBench's own PSNR / SSIM / LPIPS code on the fixture pairs): per video and the means,
//! within 1e-3. LPIPS uses a narrow VGG-16 (widths 8–64, seeded) with narrow heads, because the
//! pretrained torchvision VGG cannot be fetched here; the forward path is the lpips package's.
//! The real heads (converted from lpips' vgg.pth) are checked by their sums.

mod common;

use burn::prelude::*;
use common::*;
use cosmotok_losses::Lpips;
use cosmotok_train::paired_eval::evaluate_pairs;

fn tb(rel: &str) -> std::path::PathBuf {
    fixture(&format!("tokenbench/{rel}"))
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(tb("reference.json")).unwrap()).unwrap()
}

fn close(what: &str, got: f64, want: &serde_json::Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference"));
    assert!(
        (got - want).abs() <= 1e-3,
        "{what}: cosmotok {got}, TokenBench {want}"
    );
}

#[test]
fn paired_mode_matches_tokenbench() {
    let r = reference();
    let device = Device::flex();
    let lpips = Lpips::load(
        &tb("vgg16_narrow.safetensors"),
        &tb("lpips_narrow_lin.safetensors"),
        [8, 16, 32, 64, 64],
        &device,
    )
    .unwrap();
    let report =
        evaluate_pairs(&tb("videos"), &tb("reconstructions"), Some(&lpips), &device).unwrap();
    let names: Vec<&str> = report.pairs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["city_16x9", "vtest_4x3"]);
    for p in &report.pairs {
        let want = &r["videos"][&p.name];
        assert_eq!(p.shape[0] as u64, want["num_frames"].as_u64().unwrap());
        close(&format!("{} psnr", p.name), p.psnr, &want["psnr"]);
        close(&format!("{} ssim", p.name), p.ssim, &want["ssim"]);
        close(
            &format!("{} lpips", p.name),
            p.lpips.unwrap(),
            &want["lpips"],
        );
        for (i, v) in p.ssim_per_frame.iter().enumerate() {
            close(
                &format!("{} ssim[{i}]", p.name),
                *v,
                &want["ssim_per_frame"][i],
            );
        }
        for (i, v) in p.lpips_per_frame.iter().enumerate() {
            close(
                &format!("{} lpips[{i}]", p.name),
                *v,
                &want["lpips_per_frame"][i],
            );
        }
    }
    eprintln!(
        "cosmotok: PSNR {:.6} SSIM {:.6} LPIPS {:.6}; TokenBench: {} {} {}",
        report.psnr,
        report.ssim,
        report.lpips.unwrap(),
        r["mean_psnr"],
        r["mean_ssim"],
        r["mean_lpips"]
    );
    close("mean psnr", report.psnr, &r["mean_psnr"]);
    close("mean ssim", report.ssim, &r["mean_ssim"]);
    close("mean lpips", report.lpips.unwrap(), &r["mean_lpips"]);
}

#[test]
fn real_lpips_heads_load() {
    // The converted v0.1 VGG heads: keys, shapes and sums as in lpips' vgg.pth.
    let r = reference();
    let bytes = std::fs::read(tb("lpips_vgg_lin.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (l, c) in [64usize, 128, 256, 512, 512].iter().enumerate() {
        let key = format!("lin{l}.weight");
        let t = st.tensor(&key).unwrap();
        assert_eq!(t.shape(), [1, *c, 1, 1]);
        let sum: f64 = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .sum();
        close(&key, sum, &r["real_lpips_vgg_lin"]["weight_sums"][&key]);
    }
}

#[test]
fn pairs_must_match_by_name_and_shape() {
    let tmp = scratch("tokenbench_bad");
    let (gt, rec) = (tmp.join("gt"), tmp.join("rec"));
    for d in [&gt, &rec] {
        std::fs::create_dir_all(d).unwrap();
    }
    let frame = tb("videos/city_16x9/frame_000.png");
    std::fs::copy(&frame, gt.join("a.png")).unwrap();
    std::fs::copy(&frame, rec.join("b.png")).unwrap();
    let e = format!(
        "{:#}",
        evaluate_pairs(&gt, &rec, None, &Device::flex()).unwrap_err()
    );
    assert!(
        e.contains("a.png") && e.contains("b.png") && e.contains("same names"),
        "{e}"
    );
    std::fs::rename(rec.join("b.png"), rec.join("a.png")).unwrap();
    // Identical pairs: TokenBench's eps gives 20·log10(255 / 2^-23) = 186.6 dB.
    let same = evaluate_pairs(&gt, &rec, None, &Device::flex()).unwrap();
    assert!((same.psnr - 186.60461).abs() < 1e-3, "{}", same.psnr);
    assert!((same.ssim - 1.0).abs() < 1e-12);
    std::fs::copy(tb("videos/vtest_4x3/frame_000.png"), rec.join("a.png")).unwrap();
    let e = format!(
        "{:#}",
        evaluate_pairs(&gt, &rec, None, &Device::flex()).unwrap_err()
    );
    assert!(e.contains("same shape") && e.contains("a.png"), "{e}");
}
