//! PSNR and SSIM against scikit-image / TokenBench reference values on real frames
//! (fixture made by scripts/make_metric_fixtures.py).

mod common;

use common::*;
use cosmotok_data::read_image;

fn clip(paths: &[std::path::PathBuf]) -> (Vec<f32>, usize, usize, usize) {
    let frames: Vec<_> = paths.iter().map(|p| read_image(p).unwrap()).collect();
    let (t, h, w) = (frames.len(), frames[0].height, frames[0].width);
    let mut data = vec![0f32; 3 * t * h * w];
    for (f, fr) in frames.iter().enumerate() {
        for c in 0..3 {
            let src = &fr.data[c * h * w..(c + 1) * h * w];
            data[(c * t + f) * h * w..(c * t + f + 1) * h * w].copy_from_slice(src);
        }
    }
    (data, t, h, w)
}

#[test]
fn psnr_and_ssim_match_tokenbench_and_skimage() {
    let dir = fixture("metrics");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let names = |k: &str, base: &std::path::Path| -> Vec<std::path::PathBuf> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|n| base.join(n.as_str().unwrap()))
            .collect()
    };
    let (gt, t, h, w) = clip(&names("frames", &media("frames/episode_000")));
    let (rec, ..) = clip(&names("recon", &dir));
    let psnr = cosmotok_train::metrics::psnr(&gt, &rec);
    let want = r["psnr"].as_f64().unwrap();
    assert!(
        (psnr - want).abs() < 1e-4,
        "PSNR {psnr} vs TokenBench {want}"
    );
    let per_frame = r["ssim_per_frame"].as_array().unwrap();
    for (f, want) in per_frame.iter().enumerate() {
        let plane = h * w;
        let pick = |d: &[f32]| -> Vec<f32> {
            (0..3)
                .flat_map(|c| d[(c * t + f) * plane..(c * t + f + 1) * plane].to_vec())
                .collect()
        };
        let got = cosmotok_train::metrics::ssim(&pick(&gt), &pick(&rec), 1, h, w);
        let want = want.as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "frame {f}: SSIM {got} vs skimage {want}"
        );
    }
    let ssim = cosmotok_train::metrics::ssim(&gt, &rec, t, h, w);
    let want = r["ssim"].as_f64().unwrap();
    assert!((ssim - want).abs() < 1e-9, "SSIM {ssim} vs skimage {want}");
}
