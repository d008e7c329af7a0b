//! The resize-then-crop of the augmentation against PyTorch
//! (`interpolate(bilinear, antialias=True)` then crop; fixture from
//! `scripts/make_augment_fixture.py`), plus flip and reversal bookkeeping.
mod common;

use common::media;
use cosmotok_data::Bucket;
use cosmotok_data::augment::{AugmentParams, augment_clip};

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn resize_crop_matches_pytorch_antialiased_bilinear() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("augment_torch.json")).unwrap(),
    )
    .unwrap();
    let raw = std::fs::read(fixtures().join("augment_torch.f32")).unwrap();
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let u = |v: &serde_json::Value| v.as_u64().unwrap() as u32;
    for case in meta["cases"].as_array().unwrap() {
        let rel = case["image"].as_str().unwrap();
        let img = image::open(media().join("../..").join(rel))
            .unwrap()
            .to_rgb8();
        let bucket = Bucket {
            name: "case".into(),
            ratio: 1.0,
            resize: [u(&case["resize"][0]), u(&case["resize"][1])],
            crop: [u(&case["crop"][0]), u(&case["crop"][1])],
        };
        let params = AugmentParams {
            crop_only: false,
            offset: (
                case["offset"][0].as_f64().unwrap(),
                case["offset"][1].as_f64().unwrap(),
            ),
            flip: false,
            reverse: false,
        };
        let n = case["len"].as_u64().unwrap() as usize;
        let start = case["start"].as_u64().unwrap() as usize;
        let want = &values[start..start + n];
        let mut got = vec![0f32; n];
        augment_clip(std::slice::from_ref(&img), &bucket, &params, &mut got);
        let max = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // f32 accumulation vs PyTorch's f64 reference: well under one 8-bit level (2/255).
        assert!(max < 2e-4, "{rel} {:?}: max |diff| {max}", bucket.resize);
        // Flipped: the same values mirrored in x.
        let mut flipped = vec![0f32; n];
        let fp = AugmentParams {
            flip: true,
            ..params
        };
        augment_clip(std::slice::from_ref(&img), &bucket, &fp, &mut flipped);
        let [cw, ch] = [bucket.crop[0] as usize, bucket.crop[1] as usize];
        for c in 0..3 {
            for y in 0..ch {
                for x in 0..cw {
                    let i = (c * ch + y) * cw;
                    assert_eq!(flipped[i + x], got[i + cw - 1 - x]);
                }
            }
        }
    }
}

#[test]
fn reversal_reverses_time_only() {
    let frames: Vec<image::RgbImage> = (0..3u8)
        .map(|t| image::RgbImage::from_pixel(32, 32, image::Rgb([t * 100, 0, 255])))
        .collect();
    let bucket = Bucket {
        name: "1:1".into(),
        ratio: 1.0,
        resize: [16, 16],
        crop: [16, 16],
    };
    let mut fwd = vec![0f32; 3 * 3 * 16 * 16];
    let mut rev = fwd.clone();
    augment_clip(&frames, &bucket, &AugmentParams::CENTER, &mut fwd);
    let p = AugmentParams {
        reverse: true,
        ..AugmentParams::CENTER
    };
    augment_clip(&frames, &bucket, &p, &mut rev);
    let plane = 256;
    for c in 0..3 {
        for t in 0..3 {
            let a = &fwd[(c * 3 + t) * plane..(c * 3 + t + 1) * plane];
            let b = &rev[(c * 3 + 2 - t) * plane..(c * 3 + 3 - t) * plane];
            assert_eq!(a, b);
        }
    }
    // Constant frames stay constant through the resize: red channel t*100/255*2-1.
    for t in 0..3 {
        let want = (t as f32 * 100.0) / 255.0 * 2.0 - 1.0;
        assert!(
            fwd[t * plane..(t + 1) * plane]
                .iter()
                .all(|v| (v - want).abs() < 1e-5)
        );
    }
}
