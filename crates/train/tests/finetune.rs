//! Fine-tuning from a released-format checkpoint (the CV8x8x8 parity fixture: official keys,
//! weights produced by the PyTorch reference code).

mod common;

use common::*;
use cosmotok_model::params::named_params;
use cosmotok_model::weights;
use cosmotok_train::config::TrainMode;

/// Decoder-only fine-tuning: the encoder (and quant_conv) stay bit-identical to the file, the
/// decoder moves, and the export loads back with the official keys and the trained weights.
#[test]
fn decoder_only_finetune_keeps_the_encoder_and_exports_official_keys() {
    let dir = scratch("finetune_dec");
    let src = fixture("parity/CV8x8x8.safetensors");
    let mut cfg = tiny_config(&dir);
    cfg.loss.adversarial.enabled = false;
    cfg.ema.enabled = false;
    cfg.finetune.from = Some(src.clone());
    cfg.finetune.mode = TrainMode::DecoderOnly;
    let mut t = fresh(cfg);
    let report = t.finetune_report.clone().unwrap();
    assert!(report.reinitialized.is_empty() && report.missing.is_empty());
    let (released, _) = weights::load(
        &src,
        Some(fixture_model("CV8x8x8")),
        &burn::prelude::Device::flex(),
    )
    .unwrap();
    let before = named_params(&released);
    for _ in 0..3 {
        assert!(!t.step().unwrap().skipped);
    }
    let after = named_params(&t.model);
    let (mut same, mut moved) = (0, 0);
    for (k, v) in &before {
        let frozen = k.starts_with("encoder.") || k.starts_with("quant_conv.");
        if frozen {
            assert_eq!(v, &after[k], "frozen `{k}` changed");
            same += 1;
        } else if v != &after[k] {
            moved += 1;
        }
    }
    assert!(same > 100, "{same} encoder tensors checked");
    assert!(moved > 50, "only {moved} decoder tensors moved");

    // Export and load back with the official key names.
    let ckpt = t.save_checkpoint().unwrap();
    let out = dir.join("export");
    let model =
        cosmotok_train::export::load_checkpoint_model(&ckpt, false, &burn::prelude::Device::flex())
            .unwrap();
    let files = cosmotok_train::export::export(&model, &out).unwrap();
    assert_eq!(files.len(), 4);
    let header = weights::Header::read(&out.join("autoencoder.safetensors")).unwrap();
    let official: Vec<String> = header.shapes().keys().cloned().collect();
    let src_keys: Vec<String> = weights::Header::read(&src)
        .unwrap()
        .shapes()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        official, src_keys,
        "exported keys differ from the official ones"
    );
    let (back, report) = weights::load(
        &out.join("autoencoder.safetensors"),
        None,
        &burn::prelude::Device::flex(),
    )
    .unwrap();
    assert!(report.unexpected.is_empty());
    assert_eq!(
        named_params(&back),
        after,
        "exported weights differ from the trained ones"
    );
    // Parts: encoder.* + quant_conv.* and post_quant_conv.* + decoder.*.
    let enc = weights::Header::read(&out.join("encoder.safetensors")).unwrap();
    let dec = weights::Header::read(&out.join("decoder.safetensors")).unwrap();
    assert!(
        enc.tensors
            .keys()
            .all(|k| k.starts_with("encoder.") || k.starts_with("quant_conv."))
    );
    assert!(
        dec.tensors
            .keys()
            .all(|k| k.starts_with("decoder.") || k.starts_with("post_quant_conv."))
    );
    assert_eq!(enc.tensors.len() + dec.tensors.len(), header.tensors.len());
    let cfg_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let round =
        cosmotok_model::TokenizerConfig::from_official_json(&cfg_json["official_config"]).unwrap();
    assert_eq!(round.channels, 8);
    assert_eq!(round.temporal_compression, 8);
}

/// A new compression ratio initialised from a checkpoint: every tensor whose shape still fits
/// is loaded, the others are re-initialised and reported.
#[test]
fn new_compression_ratio_reports_reinitialised_tensors() {
    let src = fixture("parity/CV8x8x8.safetensors");
    // 4x temporal compression (only the used sampler convs) and an 8-channel latent: the
    // unused temporal sampler convs of the file are dropped, quant_conv / post_quant_conv
    // change shape, everything else fits.
    let mut cfg = fixture_model("CV8x8x8");
    cfg.temporal_compression = 4;
    cfg.decoder_channels_mult = None;
    cfg.sampler_convs = cosmotok_model::SamplerConvs::Used;
    cfg.latent_channels = 8;
    let mut model = cosmotok_model::Tokenizer::new(&cfg, &burn::prelude::Device::flex()).unwrap();
    let before = named_params(&model);
    let report = weights::load_matching(&mut model, &src).unwrap();
    let after = named_params(&model);
    let file = named_params(
        &weights::load(
            &src,
            Some(fixture_model("CV8x8x8")),
            &burn::prelude::Device::flex(),
        )
        .unwrap()
        .0,
    );
    assert!(report.loaded.len() > 200, "{} loaded", report.loaded.len());
    for k in &report.loaded {
        assert_eq!(after[k], file[k], "`{k}` not loaded from the file");
    }
    for (k, _, _) in &report.reinitialized {
        assert_eq!(after[k], before[k], "`{k}` should keep its initialisation");
    }
    for k in &report.missing {
        assert_eq!(after[k], before[k], "`{k}` should keep its initialisation");
    }
    let reinit: Vec<&str> = report
        .reinitialized
        .iter()
        .map(|(k, _, _)| k.as_str())
        .collect();
    assert!(reinit.contains(&"quant_conv.conv3d.weight"), "{reinit:?}");
    assert!(
        reinit.contains(&"post_quant_conv.conv3d.weight"),
        "{reinit:?}"
    );
    let (_, file_shape, model_shape) = report
        .reinitialized
        .iter()
        .find(|(k, _, _)| k == "quant_conv.conv3d.weight")
        .unwrap();
    assert_eq!(
        (file_shape.as_slice(), model_shape.as_slice()),
        (&[16, 16, 1, 1, 1][..], &[8, 16, 1, 1, 1][..])
    );
    assert!(
        report.unused.iter().any(|k| k.contains("sample.conv")),
        "the file's unused sampler convs are reported: {:?}",
        report.unused
    );
    assert!(report.missing.is_empty(), "{:?}", report.missing);
}

/// `[finetune] unfreeze_at`: decoder-only until that step, then every parameter trains; a run
/// resumed after the switch trains everything too.
#[test]
fn unfreeze_at_ends_the_decoder_only_stage() {
    let dir = scratch("finetune_unfreeze");
    let mut cfg = tiny_config(&dir);
    cfg.loss.adversarial.enabled = false;
    cfg.ema.enabled = false;
    cfg.finetune.from = Some(fixture("parity/CV8x8x8.safetensors"));
    cfg.finetune.mode = TrainMode::DecoderOnly;
    cfg.finetune.unfreeze_at = Some(2);
    let encoder = |t: &cosmotok_train::Trainer| {
        named_params(&t.model)
            .into_iter()
            .filter(|(k, _)| k.starts_with("encoder."))
            .collect::<Vec<_>>()
    };
    let mut t = fresh(cfg.clone());
    let start = encoder(&t);
    for _ in 0..2 {
        t.step().unwrap();
    }
    assert_eq!(encoder(&t), start, "encoder moved before unfreeze_at");
    t.step().unwrap();
    let unfrozen = encoder(&t);
    let moved = unfrozen
        .iter()
        .zip(&start)
        .filter(|(a, b)| a.1 != b.1)
        .count();
    assert!(
        moved > 50,
        "only {moved} encoder tensors moved after unfreeze_at"
    );
    t.save_checkpoint().unwrap();
    drop(t);
    // Resumed past the switch: still training everything.
    let mut r = trainer(cfg.clone(), cosmotok_train::Resume::Auto);
    assert_eq!(encoder(&r), unfrozen);
    r.step().unwrap();
    assert_ne!(
        encoder(&r),
        unfrozen,
        "a resumed run after unfreeze_at froze the encoder again"
    );
    // unfreeze_at with mode = full is a configuration error.
    cfg.finetune.mode = TrainMode::Full;
    let e = format!("{:#}", cfg.validate().unwrap_err());
    assert!(e.contains("unfreeze_at"), "{e}");
}
