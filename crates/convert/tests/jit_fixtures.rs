//! The reader against PyTorch: every fixture archive of tests/fixtures/jit (made by
//! scripts/make_jit_fixtures.py) yields the keys, dtypes, shapes and bytes (SHA-256) that
//! `torch.jit.load(p).state_dict()` / `torch.load(p)` gave; hostile pickles are refused and run
//! nothing; broken archives give errors naming the file and entry.

use std::path::PathBuf;

use cosmotok_convert::{ConvertError, Dtype, read_jit};
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/jit")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cosmotok-convert-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn manifest(name: &str) -> Vec<serde_json::Value> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("manifest.json")).unwrap()).unwrap();
    m[name].as_array().unwrap().clone()
}

/// Asserts the archive reads exactly as PyTorch's loader read it (order included).
fn check_against_manifest(name: &str) -> Vec<cosmotok_convert::JitTensor> {
    let got = read_jit(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let want = manifest(name);
    let got_keys: Vec<&str> = got.iter().map(|t| t.key.as_str()).collect();
    let want_keys: Vec<&str> = want.iter().map(|w| w["key"].as_str().unwrap()).collect();
    assert_eq!(got_keys, want_keys, "{name}: keys / order");
    for (t, w) in got.iter().zip(&want) {
        assert_eq!(
            t.dtype.name(),
            w["dtype"].as_str().unwrap(),
            "{name}: {}",
            t.key
        );
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{name}: {}", t.key);
        assert_eq!(
            t.data.len(),
            shape.iter().product::<usize>() * t.dtype.size(),
            "{name}: {}",
            t.key
        );
        let sha = format!("{:x}", Sha256::digest(&t.data));
        assert_eq!(
            sha,
            w["sha256"].as_str().unwrap(),
            "{name}: {} bytes",
            t.key
        );
    }
    got
}

#[test]
fn structures_jit_matches_pytorch_state_dict() {
    let got = check_against_manifest("structures.jit");
    let dtypes: std::collections::BTreeSet<Dtype> = got.iter().map(|t| t.dtype).collect();
    // Every dtype of the fixture is exercised.
    for d in [
        Dtype::F32,
        Dtype::BF16,
        Dtype::F16,
        Dtype::F64,
        Dtype::I64,
        Dtype::I32,
        Dtype::U8,
        Dtype::Bool,
    ] {
        assert!(dtypes.contains(&d), "{d} missing");
    }
    let by = |k: &str| got.iter().find(|t| t.key == k).unwrap();
    // Tied parameter: one tensor under two keys.
    assert_eq!(by("tied").data, by("head.weight").data);
    // The scripted sub-module's plain tensor attribute is not a state_dict entry.
    assert!(got.iter().all(|t| t.key != "extras.plain"));
    // Transposed (non-contiguous) buffer materialised row-major: (arange(6) - 2.5).reshape(2,3).t().
    let tr: Vec<f32> = by("extras.transposed")
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(tr, vec![-2.5, 0.5, -1.5, 1.5, -0.5, 2.5]);
    // Two views of one f64 storage, the second at offset 4: arange(10) / 3.
    let vb: Vec<f64> = by("extras.view_b")
        .data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(vb, (4..10).map(|i| i as f64 / 3.0).collect::<Vec<_>>());
    assert_eq!(
        by("step").data,
        123456789012i64.to_le_bytes().to_vec(),
        "int64 buffer"
    );
}

#[test]
fn structures_pt_matches_torch_load() {
    check_against_manifest("structures.pt");
}

#[test]
fn parity_archives_match_pytorch_state_dict() {
    for name in [
        "CV8x8x8_autoencoder_bf16.jit",
        "CV8x8x8_encoder_f32.jit",
        "CV8x8x8_decoder_f32.jit",
    ] {
        let got = check_against_manifest(name);
        eprintln!("{name}: {} tensors", got.len());
    }
}

#[test]
fn hostile_pickles_are_refused_and_run_nothing() {
    let pwned = std::path::Path::new("/tmp/cosmotok_pwned");
    let _ = std::fs::remove_file(pwned);
    for (name, global) in [
        ("hostile_os_system.pt", "os.system"),
        ("hostile_eval.jit", "builtins.eval"),
    ] {
        let e = read_jit(&fixture(name)).unwrap_err();
        assert!(
            matches!(&e, ConvertError::Refused { global: g, .. } if g == global),
            "{name}: {e}"
        );
        let msg = e.to_string();
        assert!(msg.contains("refusing to load"), "{msg}");
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains(&format!("`{global}`")), "{msg}");
        // Conversion refuses too and writes no output.
        let out = tmp(&format!("{name}.safetensors"));
        assert!(cosmotok_convert::convert_to_safetensors(&fixture(name), &out, true).is_err());
        assert!(!out.exists());
    }
    assert!(!pwned.exists(), "a hostile pickle ran code");
}

#[test]
fn missing_data_pkl_is_reported() {
    let e = read_jit(&fixture("missing_data_pkl.jit")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConvertError::NoDataPkl { .. }), "{msg}");
    assert!(
        msg.contains("missing_data_pkl.jit") && msg.contains("data.pkl"),
        "{msg}"
    );
}

#[test]
fn missing_storage_is_reported() {
    let e = read_jit(&fixture("missing_storage.jit")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("missing_storage.jit") && msg.contains("missing_storage/data/3"),
        "{msg}"
    );
}

#[test]
fn truncated_archive_is_reported() {
    let bytes = std::fs::read(fixture("structures.jit")).unwrap();
    let path = tmp("truncated.jit");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_jit(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConvertError::NotZip { .. }), "{msg}");
    assert!(msg.contains("truncated.jit"), "{msg}");
    let e = read_jit(&fixture("does_not_exist.jit")).unwrap_err();
    assert!(e.to_string().contains("does_not_exist.jit"), "{e}");
}

#[test]
fn f32_cast_is_exact_for_bf16() {
    let got = read_jit(&fixture("CV8x8x8_autoencoder_bf16.jit")).unwrap();
    let t = got.iter().find(|t| t.dtype == Dtype::BF16).unwrap();
    let f = t.to_f32();
    assert_eq!(f.dtype, Dtype::F32);
    for (b, x) in t.data.chunks_exact(2).zip(f.data.chunks_exact(4)) {
        // bf16 is the high half of an f32.
        assert_eq!([0, 0, b[0], b[1]], [x[0], x[1], x[2], x[3]]);
    }
}
