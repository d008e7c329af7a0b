//! Shared helpers: a tiny CV8x8x8-structured config (the parity fixture's architecture,
//! 0.6 M parameters) trained on the bundled real frame folder.

#![allow(dead_code)]

use std::path::PathBuf;

use cosmotok_model::TokenizerConfig;
use cosmotok_train::{Resume, TrainConfig, Trainer, TrainerOptions};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

pub fn media(rel: &str) -> PathBuf {
    repo().join("assets/media").join(rel)
}

/// The architecture of a parity fixture (official config JSON).
pub fn fixture_model(name: &str) -> TokenizerConfig {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("parity/{name}.json"))).unwrap(),
    )
    .unwrap();
    TokenizerConfig::from_official_json(&v).unwrap()
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny video run: CV8x8x8 structure, 9-frame 48×48 clips from the bundled frame folder.
pub fn tiny_config(out: &std::path::Path) -> TrainConfig {
    let text = format!(
        r#"
[run]
out_dir = "{out}"
seed = 7
iterations = 6
log_every = 1
checkpoint_every = 3
keep_last = 2

[optim]
lr = 1e-3
warmup = 2

[ema]
beta = 0.9

[loss]
perceptual_weight = 0.0
gram_weight = 0.0

[loss.adversarial]
enabled = true
disc = "patch3d"
channels = 4
n_layers = 2
start_iter = 2
warmup = 2
lecam_weight = 0.01

[eval]
every = 0
grids = 1

[data]
sources = [{{ path = "{frames}" }}]
eval_sources = [{{ path = "{frames}" }}]
num_frames = 9
buckets = [{{ ratio = "4:3", resize = [64, 48], crop = [48, 48] }}]
batch_size = 2
workers = 0
seed = 3
"#,
        out = out.display(),
        frames = media("frames/episode_000").display()
    );
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table.insert(
        "model".into(),
        toml::Value::try_from(fixture_model("CV8x8x8")).unwrap(),
    );
    cosmotok_train::config::from_table(table).unwrap()
}

/// A trainer for `cfg` (no progress bar), resuming as `resume` says.
pub fn trainer(cfg: TrainConfig, resume: Resume) -> Trainer {
    Trainer::new(
        cfg,
        TrainerOptions {
            resume,
            quiet: true,
            ..TrainerOptions::default()
        },
    )
    .unwrap()
}

/// A trainer that starts from scratch.
pub fn fresh(cfg: TrainConfig) -> Trainer {
    trainer(cfg, Resume::Never)
}
