//! `cosmotok check-device`: Flex against itself is exact; a GPU build agrees with Flex within
//! the documented tolerances on a real clip (`--features wgpu`; not part of CI, run by hand:
//! `cargo test -p cosmotok-cli --features wgpu,video --test check_device`, with
//! `COSMOTOK_TEST_DEVICE=wgpu:cpu` for Mesa's software adapter).

mod common;

use common::*;

/// The stages of the JSON line `check-device` prints.
fn stages(out: &str) -> Vec<serde_json::Value> {
    let line = out
        .lines()
        .find(|l| l.starts_with("[{"))
        .unwrap_or_else(|| panic!("no JSON line in:\n{out}"));
    serde_json::from_str::<Vec<serde_json::Value>>(line).unwrap()
}

#[test]
fn flex_against_flex_is_bit_identical() {
    let input = media("frames/episode_000");
    let out = ok(&[
        "check-device",
        "--device",
        "flex",
        "--input",
        &input,
        "--size",
        "32",
        "--frames",
        "5",
    ]);
    let s = stages(&out);
    let names: Vec<&str> = s.iter().map(|v| v["stage"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "encode (moments)",
            "encode (latent)",
            "decode (Flex latent)",
            "train loss",
            "gradients (worst tensor)",
            "loss after 1 AdamW step"
        ],
        "{out}"
    );
    for v in &s {
        assert_eq!(v["rel_error"].as_f64(), Some(0.0), "{out}");
        assert_eq!(v["pass"], true, "{out}");
    }
    assert!(out.contains("all stages within tolerance"), "{out}");
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn gpu_device_without_the_feature_says_how_to_build() {
    let (success, out) = run(&["check-device", "--device", "wgpu"]);
    assert!(!success);
    assert!(out.contains("--features wgpu"), "{out}");
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_agrees_with_flex_on_a_real_clip() {
    let device = std::env::var("COSMOTOK_TEST_DEVICE").unwrap_or_else(|_| "wgpu".into());
    let input = media("frames/episode_000");
    let out = ok(&[
        "check-device",
        "--device",
        &device,
        "--input",
        &input,
        "--size",
        "64",
        "--frames",
        "9",
    ]);
    eprintln!("{out}");
    for v in stages(&out) {
        let rel = v["rel_error"].as_f64().unwrap_or(f64::NAN);
        assert!(rel <= v["tolerance"].as_f64().unwrap(), "{v}\n{out}");
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_agrees_with_flex_on_an_fsq_image_model() {
    let device = std::env::var("COSMOTOK_TEST_DEVICE").unwrap_or_else(|_| "wgpu".into());
    let input = media("images/chelsea.png");
    let out = ok(&[
        "check-device",
        "--device",
        &device,
        "--preset",
        "Cosmos-Tokenize1-DI8x8-360p",
        "--set",
        "model.channels=32",
        "--set",
        "model.num_res_blocks=1",
        "--input",
        &input,
        "--size",
        "64",
    ]);
    eprintln!("{out}");
    for v in stages(&out) {
        let rel = v["rel_error"].as_f64().unwrap_or(f64::NAN);
        assert!(rel <= v["tolerance"].as_f64().unwrap(), "{v}\n{out}");
    }
}
