//! `--config`: a preset name, a cosmotok TOML file, or a JSON file: the `config.json` of
//! `cosmotok export`, the official Cosmos config dict, or a fixture JSON wrapping one under
//! `config`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cosmotok_model::{TokenizerConfig, presets};

pub fn resolve(arg: &str) -> Result<TokenizerConfig> {
    if let Some(cfg) = presets::by_name(arg) {
        return Ok(cfg);
    }
    let path = Path::new(arg);
    if !path.exists() {
        bail!(
            "--config `{arg}` is neither a preset name nor an existing file; presets: {}",
            presets::names().join(", ")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{arg}`"))?;
    let cfg = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct File {
                model: TokenizerConfig,
            }
            // Either a [model] table or the config at top level.
            match toml::from_str::<File>(&text) {
                Ok(f) => f.model,
                Err(_) => toml::from_str::<TokenizerConfig>(&text)
                    .with_context(|| format!("`{arg}`: not a cosmotok model config"))?,
            }
        }
        Some("json") => {
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("`{arg}`: invalid JSON"))?;
            TokenizerConfig::from_json(&v).with_context(|| format!("`{arg}`"))?
        }
        _ => bail!("--config `{arg}`: expected a preset name, a .toml or a .json file"),
    };
    cfg.validate().with_context(|| format!("`{arg}`"))?;
    Ok(cfg)
}
