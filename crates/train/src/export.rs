//! Export: safetensors with the official key names — the full autoencoder, the encoder part
//! (`encoder.*`, `quant_conv.*`, as in `encoder.jit`) and the decoder part
//! (`post_quant_conv.*`, `decoder.*`, as in `decoder.jit`) — plus `config.json` (the official
//! config dict and cosmotok's config), and optionally per-channel latent statistics over a
//! dataset (what latent diffusion models normalise with).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use cosmotok_model::Tokenizer;
use cosmotok_model::weights;

use crate::checkpoint::{STATE_FILE, write_atomic};
use crate::data::Batch;
use crate::data::batch_tensor;

/// Where the weights to export come from.
pub enum Source {
    /// A training checkpoint directory (`model.bpk`, `ema.bpk`, `config.toml`).
    Checkpoint { dir: PathBuf, ema: bool },
    /// A safetensors file with official keys.
    Safetensors(PathBuf),
}

/// Loads a tokenizer from a training checkpoint directory (raw or EMA weights).
pub fn load_checkpoint_model(dir: &Path, ema: bool, device: &Device) -> Result<Tokenizer> {
    if !dir.join(STATE_FILE).is_file() {
        bail!(
            "`{}` is not a complete cosmotok checkpoint (no {STATE_FILE})",
            dir.display()
        );
    }
    let cfg = crate::config::load(&dir.join("config.toml"), &[])
        .with_context(|| format!("checkpoint `{}`: config.toml", dir.display()))?;
    let file = if ema { "ema.bpk" } else { "model.bpk" };
    let path = dir.join(file);
    if !path.is_file() {
        bail!(
            "checkpoint `{}` has no {file}{}",
            dir.display(),
            if ema {
                " (EMA disabled in that run? export with --no-ema)"
            } else {
                ""
            }
        );
    }
    Tokenizer::new(&cfg.model, device)?
        .try_load_file(&path)
        .map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))
}

/// The safetensors file that `[finetune] from = path` loads: a safetensors file as it is; a
/// training checkpoint directory, or a run directory (its newest checkpoint), through its EMA
/// weights (raw weights when the run had no EMA), saved with official keys to
/// `scratch/finetune_from.safetensors`.
pub fn finetune_weights(from: &Path, scratch: &Path) -> Result<PathBuf> {
    if from.is_file() {
        return Ok(from.to_path_buf());
    }
    let dir = if from.join(STATE_FILE).is_file() {
        from.to_path_buf()
    } else if let Some((_, dir)) = crate::checkpoint::Checkpoints::new(from).latest() {
        dir
    } else {
        bail!(
            "`{}`: not a safetensors file, a cosmotok checkpoint directory or a run directory \
             with checkpoints",
            from.display()
        );
    };
    let ema = dir.join("ema.bpk").is_file();
    let model = load_checkpoint_model(&dir, ema, &Device::flex())?;
    let out = scratch.join("finetune_from.safetensors");
    weights::save(&model, &out).with_context(|| format!("cannot write `{}`", out.display()))?;
    tracing::info!(
        "fine-tuning from the {} weights of checkpoint {}",
        if ema { "EMA" } else { "raw" },
        dir.display()
    );
    Ok(out)
}

/// Loads the model to export.
pub fn load_source(src: &Source, device: &Device) -> Result<Tokenizer> {
    match src {
        Source::Checkpoint { dir, ema } => load_checkpoint_model(dir, *ema, device),
        Source::Safetensors(p) => Ok(weights::load(p, None, device)?.0),
    }
}

/// Writes `autoencoder.safetensors`, `encoder.safetensors`, `decoder.safetensors` and
/// `config.json` into `out_dir`. Returns the written paths.
pub fn export(model: &Tokenizer, out_dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create `{}`", out_dir.display()))?;
    let full = out_dir.join("autoencoder.safetensors");
    weights::save(model, &full)?;
    let bytes = std::fs::read(&full)?;
    let mut written = vec![full.clone()];
    for (name, prefixes) in [
        ("encoder.safetensors", &["encoder.", "quant_conv."][..]),
        ("decoder.safetensors", &["post_quant_conv.", "decoder."][..]),
    ] {
        let keep = |k: &str| prefixes.iter().any(|p| k.starts_with(p));
        let part = weights::canonical_safetensors(&bytes, Some(&keep))
            .map_err(|e| anyhow::anyhow!("`{}` written but unreadable: {e}", full.display()))?;
        let path = out_dir.join(name);
        write_atomic(&path, &part)?;
        written.push(path);
    }
    let cfg = model.config();
    let json = serde_json::json!({
        "architectures": ["CosmosTokenizer"],
        "official_config": cfg.to_official_json(),
        "cosmotok_config": cfg,
        "parts": {
            "autoencoder.safetensors": "encoder.*, quant_conv.*, post_quant_conv.*, decoder.*",
            "encoder.safetensors": "encoder.*, quant_conv.* (as encoder.jit)",
            "decoder.safetensors": "post_quant_conv.*, decoder.* (as decoder.jit)",
        },
    });
    let path = out_dir.join("config.json");
    write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    written.push(path);
    Ok(written)
}

/// Per-channel mean and standard deviation of the latents over the clips of `batches`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LatentStats {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Latent vectors counted per channel.
    pub count: u64,
}

/// Encodes every batch and accumulates per-channel moments (f64).
pub fn latent_stats(model: &Tokenizer, batches: &[Batch], device: &Device) -> Result<LatentStats> {
    let c = model.config().latent_channels;
    let (mut sum, mut sq, mut n) = (vec![0f64; c], vec![0f64; c], 0u64);
    for b in batches {
        let lat = model.encode(batch_tensor(b, device)).latent;
        let [bs, lc, t, h, w] = lat.dims();
        assert_eq!(lc, c);
        let v: Vec<f32> = lat
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let per = t * h * w;
        for bi in 0..bs {
            for ch in 0..c {
                let off = (bi * c + ch) * per;
                for x in &v[off..off + per] {
                    let x = *x as f64;
                    sum[ch] += x;
                    sq[ch] += x * x;
                }
            }
        }
        n += (bs * per) as u64;
    }
    if n == 0 {
        bail!("latent statistics: no clips");
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / n as f64 - m * m).max(0.0).sqrt())
        .collect();
    Ok(LatentStats {
        mean,
        std,
        count: n,
    })
}

/// Writes `latent_stats.json` and `latent_stats.safetensors` (`mean`, `std`, f32 `[C]`).
pub fn write_latent_stats(stats: &LatentStats, out_dir: &Path) -> Result<()> {
    write_atomic(
        &out_dir.join("latent_stats.json"),
        serde_json::to_string_pretty(stats)?.as_bytes(),
    )?;
    let to_bytes =
        |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect() };
    let (m, s) = (to_bytes(&stats.mean), to_bytes(&stats.std));
    let shape = vec![stats.mean.len()];
    let views = vec![
        (
            "mean",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), &m)?,
        ),
        (
            "std",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape, &s)?,
        ),
    ];
    let bytes = safetensors::tensor::serialize(views, None)?;
    write_atomic(&out_dir.join("latent_stats.safetensors"), &bytes)
}
