//! The training TOML: presets, overrides, unknown keys, validation against the model, and
//! the shipped configs.

mod common;

use common::*;
use cosmotok_train::config;

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let t: toml::Table = toml::from_str(
        "[model]\npreset = \"Cosmos-0.1-Tokenizer-CV4x8x8\"\n[optim]\nlearning_rate = 1.0\n[data]\nsources = [{ path = \"x\" }]\n",
    )
    .unwrap();
    let err = format!("{:#}", config::from_table(t).unwrap_err());
    assert!(err.contains("learning_rate"), "{err}");
    let t: toml::Table =
        toml::from_str("[model]\npreset = \"Cosmos-0.1-Tokenizer-CV4x8x8\"\nchanels = 3\n")
            .unwrap();
    let err = format!("{:#}", config::from_table(t).unwrap_err());
    assert!(err.contains("chanels"), "{err}");
}

#[test]
fn presets_expand_and_set_overrides_apply() {
    let mut t: toml::Table =
        toml::from_str("[model]\npreset = \"Cosmos-0.1-Tokenizer-CV4x8x8\"\nchannels = 32\n[loss]\nperceptual_weight = 0.0\ngram_weight = 0.0\n[data]\nsources = [{ path = \"x\" }]\nnum_frames = 9\n").unwrap();
    config::apply_override(&mut t, "optim.lr=3e-4").unwrap();
    config::apply_override(&mut t, "run.name=my run").unwrap();
    config::apply_override(&mut t, "optim.betas=[0.9, 0.99]").unwrap();
    let c = config::from_table(t).unwrap();
    let preset = cosmotok_model::presets::by_name("Cosmos-0.1-Tokenizer-CV4x8x8").unwrap();
    assert_eq!(c.model.channels, 32);
    assert_eq!(c.model.channels_mult, preset.channels_mult);
    assert_eq!(c.model.temporal_compression, 4);
    assert_eq!(c.optim.lr, 3e-4);
    assert_eq!(c.optim.betas, [0.9, 0.99]);
    assert_eq!(c.run.name, "my run");
    // Spec §9.2 defaults.
    let d = cosmotok_train::config::OptimConfig::default();
    assert_eq!(
        (
            d.lr,
            d.betas,
            d.eps,
            d.weight_decay,
            d.warmup,
            d.clip_grad_norm
        ),
        (1e-4, [0.5, 0.999], 1e-8, 0.01, 5000, 1.0)
    );
    assert_eq!(cosmotok_train::config::EmaConfig::default().beta, 0.9999);
}

#[test]
fn every_released_preset_has_a_model_config_file() {
    let dir = repo().join("configs/models");
    for p in cosmotok_model::presets::all() {
        let path = dir.join(format!("{}.toml", p.name));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            model: cosmotok_model::TokenizerConfig,
        }
        let f: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(f.model, p, "{} differs from the preset", path.display());
    }
}

#[test]
fn shipped_recipes_parse_and_validate() {
    let dir = repo().join("configs/recipes");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("toml") {
            config::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
            n += 1;
        }
    }
    assert!(
        n >= 4,
        "expected the quickstart, fine-tune, new-ratio and GAN recipes"
    );
}
