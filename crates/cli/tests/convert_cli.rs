//! `cosmotok convert` end to end: the bf16 autoencoder.jit-like fixture converts, is
//! recognised as a CV8x8x8-structure model and reconstructs through `cosmotok reconstruct`;
//! encoder.jit + decoder.jit merge; `--f32` casts; hostile pickles are refused.

mod common;

use common::*;

use safetensors::SafeTensors;

fn dtypes(path: &str) -> std::collections::BTreeMap<String, usize> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut m = std::collections::BTreeMap::new();
    for (_, t) in st.tensors() {
        *m.entry(format!("{:?}", t.dtype())).or_default() += 1;
    }
    m
}

#[test]
fn converts_bf16_autoencoder_and_reports_the_architecture() {
    let out = tmp("ae.safetensors");
    let (ok, text) = run(&[
        "convert",
        &fx("jit/CV8x8x8_autoencoder_bf16.jit"),
        "-o",
        &out,
        "--config",
        &fx("parity/CV8x8x8.json"),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("converted 327 tensors"), "{text}");
    assert!(text.contains("dtypes: BF16 324, I64 2, I32 1"), "{text}");
    assert!(
        text.contains("architecture (--config): CV8x8x8 AE patch 4"),
        "{text}"
    );
    let preset = text.lines().find(|l| l.starts_with("preset: ")).unwrap();
    assert!(preset.contains("CV8x8x8"), "{text}");
    assert!(text.contains("parameters: 603952 total"), "{text}");
    let d = dtypes(&out);
    assert_eq!(d.get("BF16"), Some(&324), "{d:?}"); // 322 weights + 2 wavelet buffers
    let bytes = std::fs::read(&out).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        meta.metadata().as_ref().unwrap()["cosmotok_converted_from"],
        "CV8x8x8_autoencoder_bf16.jit"
    );
}

#[test]
fn merges_encoder_and_decoder_and_casts_to_f32() {
    let out = tmp("merged.safetensors");
    let (ok, text) = run(&[
        "convert",
        &fx("jit/CV8x8x8_encoder_f32.jit"),
        &fx("jit/CV8x8x8_decoder_f32.jit"),
        "-o",
        &out,
        "--f32",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("converted 327 tensors"), "{text}");
    let d = dtypes(&out);
    assert_eq!(d.get("F32"), Some(&324), "{d:?}"); // 322 weights + 2 wavelet buffers
    assert_eq!(d.get("I64"), Some(&2), "{d:?}"); // _arange buffers
    assert_eq!(d.get("I32"), Some(&1), "{d:?}"); // patch_size_buffer
    // The merged file reconstructs the official output through `cosmotok reconstruct`.
    let input = tensor_file("input.safetensors", "ref.input");
    let recon = tmp("recon.safetensors");
    let (ok, text) = run(&[
        "reconstruct",
        "--checkpoint",
        &out,
        "--config",
        &fx("parity/CV8x8x8.json"),
        "--input",
        &input,
        "--output",
        &recon,
    ]);
    assert!(ok, "{text}");
    let got = f32s(&recon, "reconstruction");
    let want = f32s(&fx("parity/CV8x8x8.safetensors"), "ref.reconstruction");
    assert_eq!(got.len(), want.len());
    let err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err <= 1e-4, "reconstruction err {err}");
}

fn f32s(path: &str, key: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(key)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Writes the fixture tensor `key` of CV8x8x8 as `{input: ...}` (the CLI's tensor input).
fn tensor_file(name: &str, key: &str) -> String {
    let src = std::fs::read(fx("parity/CV8x8x8.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&src).unwrap();
    let t = st.tensor(key).unwrap();
    let out = tmp(name);
    safetensors::serialize_to_file(
        vec![("input".to_string(), t)],
        None,
        std::path::Path::new(&out),
    )
    .unwrap();
    out
}

#[test]
fn refuses_hostile_pickles() {
    let _ = std::fs::remove_file("/tmp/cosmotok_pwned");
    for (name, global) in [
        ("jit/hostile_os_system.pt", "os.system"),
        ("jit/hostile_eval.jit", "builtins.eval"),
    ] {
        let out = tmp("hostile.safetensors");
        let (ok, text) = run(&["convert", &fx(name), "-o", &out]);
        assert!(!ok, "{text}");
        assert!(text.contains("refusing to load"), "{text}");
        assert!(text.contains(&format!("`{global}`")), "{text}");
        assert!(!std::path::Path::new(&out).exists());
    }
    assert!(!std::path::Path::new("/tmp/cosmotok_pwned").exists());
}
