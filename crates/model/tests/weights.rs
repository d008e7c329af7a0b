//! Weights I/O: presets reproduce the official key lists (tests/fixtures/keys), the
//! architecture is inferred from keys and shapes, save → load keeps every tensor under its key,
//! bf16 checkpoints load as f32, and bad files give clear errors.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use common::*;
use cosmotok_model::infer::{InferError, Shapes, infer_config};
use cosmotok_model::params::named_params;
use cosmotok_model::weights::{Header, WeightsError, load, save};
use cosmotok_model::{SamplerConvs, Tokenizer, TokenizerConfig, presets};

/// (key file, preset) pairs: every released structure.
const KEY_FILES: &[(&str, &str)] = &[
    ("Cosmos-0.1-CI8x8", "Cosmos-0.1-Tokenizer-CI8x8"),
    ("Cosmos-0.1-CI16x16", "Cosmos-0.1-Tokenizer-CI16x16"),
    ("Cosmos-0.1-DI8x8", "Cosmos-0.1-Tokenizer-DI8x8"),
    ("Cosmos-0.1-DI16x16", "Cosmos-0.1-Tokenizer-DI16x16"),
    ("Cosmos-0.1-CV4x8x8_cm24", "Cosmos-0.1-Tokenizer-CV4x8x8"),
    (
        "Cosmos-0.1-CV8x8x8_allconvs",
        "Cosmos-0.1-Tokenizer-CV8x8x8",
    ),
    ("Cosmos-0.1-CV8x16x16", "Cosmos-0.1-Tokenizer-CV8x16x16"),
    ("Cosmos-0.1-DV4x8x8", "Cosmos-0.1-Tokenizer-DV4x8x8"),
    ("Cosmos-0.1-DV8x8x8", "Cosmos-0.1-Tokenizer-DV8x8x8"),
    ("Cosmos-0.1or1.0-CV8x8x8", "Cosmos-1.0-Tokenizer-CV8x8x8"),
    (
        "Cosmos-0.1or1.0-DV8x16x16",
        "Cosmos-1.0-Tokenizer-DV8x16x16",
    ),
    ("Tokenize1-CI8x8-360p", "Cosmos-Tokenize1-CI8x8-360p"),
    ("Tokenize1-CI16x16-360p", "Cosmos-Tokenize1-CI16x16-360p"),
    ("Tokenize1-DI8x8-360p", "Cosmos-Tokenize1-DI8x8-360p"),
    ("Tokenize1-DI16x16-360p", "Cosmos-Tokenize1-DI16x16-360p"),
    ("Tokenize1-CV4x8x8-360p", "Cosmos-Tokenize1-CV4x8x8-360p"),
    ("Tokenize1-DV4x8x8-360p", "Cosmos-Tokenize1-DV4x8x8-360p"),
];

/// Parameters (P rows) of a key file, and the total parameter count of its header.
fn key_file(name: &str) -> (Shapes, Option<usize>) {
    let text = std::fs::read_to_string(fixture(&format!("keys/{name}.txt"))).unwrap();
    let total = text
        .lines()
        .find_map(|l| l.split("params total=").nth(1))
        .and_then(|r| r.split_whitespace().next()?.parse().ok());
    let mut shapes = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 4 && cols[3].trim() == "P" {
            let dims: Vec<usize> = cols[1]
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().unwrap())
                .collect();
            shapes.insert(cols[0].to_string(), dims);
        }
    }
    (shapes, total)
}

#[test]
fn presets_reproduce_the_official_key_lists() {
    assert_eq!(
        presets::all().len(),
        20,
        "every released model has a preset"
    );
    let dev = device();
    for (file, preset) in KEY_FILES {
        let cfg = presets::by_name(preset).unwrap_or_else(|| panic!("no preset {preset}"));
        let model = Tokenizer::new(&cfg, &dev).unwrap();
        let ours: Shapes = named_params(&model)
            .into_iter()
            .map(|(k, v)| (k, v.shape().to_vec()))
            .collect();
        let (want, total) = key_file(file);
        let missing: Vec<_> = want.keys().filter(|k| !ours.contains_key(*k)).collect();
        let extra: Vec<_> = ours.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{preset}: missing {missing:?} extra {extra:?}"
        );
        for (k, s) in &want {
            assert_eq!(&ours[k], s, "{preset}: shape of {k}");
        }
        let n: usize = ours.values().map(|s| s.iter().product::<usize>()).sum();
        if let Some(t) = total {
            assert_eq!(n, t, "{preset}: parameter count");
        }
    }
}

#[test]
fn architecture_is_inferred_from_released_key_lists() {
    for (file, preset) in KEY_FILES {
        let (shapes, _) = key_file(file);
        let want = presets::by_name(preset).unwrap();
        match infer_config(&shapes, None) {
            Ok(got) => {
                assert_eq!(want.sampler_convs, SamplerConvs::Used, "{file}");
                let got = TokenizerConfig {
                    name: want.name.clone(),
                    ..got
                };
                assert_eq!(got, want, "{file}");
            }
            Err(InferError::Ambiguous(why)) => {
                // Only the checkpoints that store every sampler conv hide their compression.
                assert_eq!(want.sampler_convs, SamplerConvs::All, "{file}: {why}");
            }
            Err(e) => panic!("{file}: {e}"),
        }
    }
}

#[test]
fn image_fixtures_infer_without_config_and_video_fixtures_ask_for_one() {
    for name in ["CI8x8", "DI8x8"] {
        let h = Header::read(&fixture(&format!("parity/{name}.safetensors"))).unwrap();
        let cfg = h.resolve_config(None).unwrap();
        assert_eq!(presets::short_name(&cfg), name);
        assert_eq!(
            (cfg.channels, cfg.channels_mult.clone(), cfg.num_res_blocks),
            (32, vec![1, 2, 2], 1)
        );
    }
    for name in ["CV4x8x8", "CV8x8x8", "DV4x8x8", "DV8x16x16"] {
        let h = Header::read(&fixture(&format!("parity/{name}.safetensors"))).unwrap();
        let err = h.resolve_config(None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("--config") && msg.contains(&format!("{name}.safetensors")),
            "{msg}"
        );
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cosmotok-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn config_json(name: &str) -> TokenizerConfig {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("parity/{name}.json"))).unwrap(),
    )
    .unwrap();
    TokenizerConfig::from_official_json(&v).unwrap()
}

#[test]
fn save_keeps_every_tensor_under_its_official_key() {
    let dev = device();
    for name in ["CI8x8", "DV4x8x8", "CV8x8x8"] {
        let src = fixture(&format!("parity/{name}.safetensors"));
        let (model, _) = load(&src, Some(config_json(name)), &dev).unwrap();
        let out = tmp(&format!("{name}.safetensors"));
        save(&model, &out).unwrap();
        let a = Tensors::open(&src);
        let b = Tensors::open(&out);
        let learned: Vec<String> = a
            .names()
            .into_iter()
            .filter(|k| !k.starts_with("ref.") && !cosmotok_model::weights::is_ignored_buffer(k))
            .collect();
        let mut saved = b.names();
        saved.sort();
        let mut want = learned.clone();
        want.sort();
        assert_eq!(saved, want, "{name}: key set");
        for k in &learned {
            assert_eq!(a.shape(k), b.shape(k), "{name}: {k}");
            assert_eq!(a.f32(k).0, b.f32(k).0, "{name}: {k} values");
        }
        // The saved file carries its config, so it reloads without one (even video).
        let (again, report) = load(&out, None, &dev).unwrap();
        assert!(report.unexpected.is_empty());
        assert_eq!(again.config(), model.config());
    }
}

#[test]
fn bf16_checkpoints_load_as_f32() {
    use safetensors::{Dtype, serialize_to_file, tensor::TensorView};
    let src = fixture("parity/CI8x8.safetensors");
    let a = Tensors::open(&src);
    let mut bufs: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = Vec::new();
    for k in a.names() {
        if k.starts_with("ref.") || cosmotok_model::weights::is_ignored_buffer(&k) {
            continue;
        }
        let (v, s) = a.f32(&k);
        let bytes: Vec<u8> = v
            .iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect();
        bufs.push((k, s, bytes, Dtype::BF16));
    }
    let views: Vec<(String, TensorView)> = bufs
        .iter()
        .map(|(k, s, b, d)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let out = tmp("CI8x8-bf16.safetensors");
    serialize_to_file(views, None, &out).unwrap();
    let (model, report) = load(&out, None, &device()).unwrap();
    assert_eq!(report.dtypes, vec!["BF16".to_string()]);
    let params = named_params(&model);
    for (k, _, bytes, _) in &bufs {
        let want: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        let got: Vec<f32> = params[k].clone().try_to_vec::<f32>().unwrap();
        assert_eq!(got, want, "{k}");
    }
}

#[test]
fn missing_and_misshapen_keys_are_named() {
    use safetensors::{Dtype, serialize_to_file, tensor::TensorView};
    let src = fixture("parity/CI8x8.safetensors");
    let a = Tensors::open(&src);
    let write = |drop: &str, reshape: Option<&str>, path: &PathBuf| {
        let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for k in a.names() {
            if k == drop || k.starts_with("ref.") || cosmotok_model::weights::is_ignored_buffer(&k)
            {
                continue;
            }
            let (v, mut s) = a.f32(&k);
            if Some(k.as_str()) == reshape {
                s = vec![v.len()];
            }
            bufs.push((k, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()));
        }
        let views: Vec<(String, TensorView)> = bufs
            .iter()
            .map(|(k, s, b)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        serialize_to_file(views, None, path).unwrap();
    };
    let cfg = config_json("CI8x8");
    let p = tmp("missing.safetensors");
    write("decoder.mid.attn_1.q.weight", None, &p);
    let err = load(&p, Some(cfg.clone()), &device()).unwrap_err();
    assert!(matches!(err, WeightsError::Missing { .. }));
    assert!(
        err.to_string().contains("decoder.mid.attn_1.q.weight"),
        "{err}"
    );
    let p = tmp("misshapen.safetensors");
    write("", Some("encoder.conv_out.weight"), &p);
    let err = load(&p, Some(cfg), &device()).unwrap_err().to_string();
    assert!(err.contains("encoder.conv_out.weight"), "{err}");
    let p = tmp("garbage.safetensors");
    std::fs::write(&p, b"not a safetensors file at all").unwrap();
    let err = load(&p, None, &device()).unwrap_err().to_string();
    assert!(err.contains("garbage.safetensors"), "{err}");
}

#[test]
fn config_validation_names_the_field() {
    let mut cfg = presets::by_name("Cosmos-0.1-Tokenizer-DV4x8x8").unwrap();
    cfg.levels = vec![8, 8, 8];
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("latent_channels"), "{e}");
    let mut cfg = presets::by_name("Cosmos-0.1-Tokenizer-CV8x8x8").unwrap();
    cfg.spatial_compression = 12;
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .contains("spatial_compression")
    );
    let cfg = presets::by_name("Cosmos-0.1-Tokenizer-CV8x8x8").unwrap();
    let e = cfg.check_input(16, 64, 64).unwrap_err().to_string();
    assert!(e.contains("input frames") && e.contains("16"), "{e}");
    let e = cfg.check_input(17, 60, 64).unwrap_err().to_string();
    assert!(e.contains("input height"), "{e}");
    assert!(cfg.check_input(17, 64, 96).is_ok());
    let _ = Tensor::<1>::zeros([1], &device());
}
