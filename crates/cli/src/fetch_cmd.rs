//! `cosmotok fetch vgg16 | lpips | <Cosmos model>`: the weights a recipe needs, without
//! Python. Each is downloaded (Hugging Face Hub, through the `hf-hub` crate), checked against
//! its SHA-256, converted to the safetensors file cosmotok loads and placed where the recipes
//! look for it (`weights/` by default):
//!
//! | what | from | to |
//! |---|---|---|
//! | `vgg16` | `timm/vgg16.tv_in1k` `model.safetensors` (torchvision's IMAGENET1K_V1 weights), `features.*` kept | `weights/vgg16.safetensors` |
//! | `lpips` | the `lpips` package's v0.1 VGG heads, bundled in cosmotok (BSD-2-Clause) | `weights/lpips_vgg_lin.safetensors` |
//! | a released model, e.g. `Cosmos-Tokenize1-CV8x8x8-720p` | `nvidia/<name>` `autoencoder.jit` (native TorchScript reader, no Python) | `weights/<name>/autoencoder.safetensors` |
//!
//! The checksum of a Hub download is the one the Hub states for the file (its LFS SHA-256, the
//! name under which `hf-hub` caches the blob). `--from-file` skips the download (offline
//! machines, or a file fetched by other means; `--sha256` then checks it). Downloads resume
//! after a dropped connection ([`DOWNLOAD_RETRIES`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sha2::{Digest, Sha256};

/// The lpips v0.1 VGG linear heads (`lin0.weight` … `lin4.weight`), converted from the `lpips`
/// package's `weights/v0.1/vgg.pth` by scripts/convert_lpips.py (BSD-2-Clause, Zhang et al.).
const LPIPS_VGG_LIN: &[u8] =
    include_bytes!("../../../tests/fixtures/tokenbench/lpips_vgg_lin.safetensors");
/// SHA-256 of [`LPIPS_VGG_LIN`].
const LPIPS_VGG_LIN_SHA256: &str =
    "98d047b5323da2e671134260d8ed3bacc1f46476e2e428f0afc4f8bf1dbbd3a0";

/// The Hub repository of torchvision's VGG-16 weights.
const VGG16_REPO: &str = "timm/vgg16.tv_in1k";

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// `vgg16`, `lpips`, or a released model name (`cosmotok presets` lists them).
    pub what: String,
    /// Where recipes look for weights.
    #[arg(long, default_value = "weights")]
    pub out_dir: PathBuf,
    /// Use this local file instead of downloading (the Hub file: model.safetensors for vgg16,
    /// autoencoder.jit for a model).
    #[arg(long)]
    pub from_file: Option<PathBuf>,
    /// Expected SHA-256 of the file (checked; a Hub download is always checked against the
    /// Hub's own checksum).
    #[arg(long)]
    pub sha256: Option<String>,
    /// Hub revision (branch, tag or commit).
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// The architecture a fetched model must load into (preset, TOML or JSON; default: the
    /// preset of that name).
    #[arg(long)]
    pub config: Option<String>,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails unless `got` (hex) is `want`, naming `path`.
fn check_sha(path: &Path, got: &str, want: &str) -> Result<()> {
    if !got.eq_ignore_ascii_case(want) {
        bail!(
            "`{}`: SHA-256 {got}, expected {want} (a corrupt or different file)",
            path.display()
        );
    }
    Ok(())
}

/// [`check_sha`] of a file, hashed as it is read (a released `.jit` is hundreds of MB: it is
/// not held in memory for this).
fn check_file_sha(path: &Path, want: &str) -> Result<()> {
    let mut hasher = Sha256::new();
    std::fs::File::open(path)
        .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    check_sha(path, &hex(&hasher.finalize()), want)
}

/// How often an interrupted download is resumed (hf-hub continues from the bytes it has, with a
/// `Range` request, after an exponential back-off) before `fetch` gives up.
const DOWNLOAD_RETRIES: usize = 5;

/// Downloads `file` of Hub repository `repo` at `revision` and checks it against the Hub's
/// SHA-256; returns its path in the Hub cache (`HF_HOME`, default `~/.cache/huggingface`).
/// `HF_ENDPOINT` points it at a mirror. A file whose bytes do not match is removed from the cache
/// (blob and snapshot link), so that the next run downloads it again instead of failing on it.
fn download(repo: &str, file: &str, revision: &str) -> Result<PathBuf> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};
    let api = ApiBuilder::from_env()
        .with_token(std::env::var("HF_TOKEN").ok())
        .with_retries(DOWNLOAD_RETRIES)
        .build()
        .context("cannot set up the Hugging Face Hub client")?;
    let repo_handle = api.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    eprintln!("downloading {repo}/{file} ({revision}) …");
    let path = repo_handle.get(file).with_context(|| {
        format!(
            "cannot download `{file}` from {} (gated repositories need their licence accepted \
             on the website and HF_TOKEN set; offline: download it elsewhere and pass \
             --from-file)",
            repo_handle.url(file)
        )
    })?;
    // The cache stores the file as a link to `blobs/<etag>`; for LFS files the etag is the
    // SHA-256 the Hub states for the file.
    let blob = std::fs::canonicalize(&path)?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Err(e) = check_file_sha(&path, &etag) {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&blob);
            return Err(e.context(format!(
                "the downloaded `{file}` of {repo} was removed from the cache; run again to \
                 download it anew"
            )));
        }
    } else {
        eprintln!("note: the Hub states no SHA-256 for {file}; not checked");
    }
    Ok(path)
}

/// The source file: `--from-file` (checked against `--sha256` when given) or a download.
fn source(args: &FetchArgs, repo: &str, file: &str) -> Result<PathBuf> {
    let path = match &args.from_file {
        Some(p) => {
            std::fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
            p.clone()
        }
        None => download(repo, file, &args.revision)?,
    };
    if let Some(want) = &args.sha256 {
        check_file_sha(&path, want)?;
    }
    Ok(path)
}

pub fn run(args: &FetchArgs) -> Result<()> {
    let out = match args.what.as_str() {
        "lpips" => fetch_lpips(args)?,
        "vgg16" => fetch_vgg16(args)?,
        name => fetch_model(args, name)?,
    };
    println!("{}", out.display());
    Ok(())
}

fn fetch_lpips(args: &FetchArgs) -> Result<PathBuf> {
    let out = args.out_dir.join("lpips_vgg_lin.safetensors");
    let bytes = match &args.from_file {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read `{}`", p.display()))?,
        None => LPIPS_VGG_LIN.to_vec(),
    };
    let want = args.sha256.as_deref().unwrap_or(LPIPS_VGG_LIN_SHA256);
    check_sha(
        Path::new("lpips_vgg_lin.safetensors"),
        &hex(&Sha256::digest(&bytes)),
        want,
    )?;
    // What LPIPS will load: the five heads at VGG-16's widths.
    cosmotok_losses::lpips::read_heads(
        &out,
        &bytes,
        cosmotok_losses::vgg::VGG16_WIDTHS,
        &burn::prelude::Device::flex(),
    )?;
    crate::output::write(&out, &bytes)?;
    Ok(out)
}

fn fetch_vgg16(args: &FetchArgs) -> Result<PathBuf> {
    let src = source(args, VGG16_REPO, "model.safetensors")?;
    let out = args.out_dir.join("vgg16.safetensors");
    let bytes = std::fs::read(&src)?;
    let keep = |k: &str| k.starts_with("features.");
    let features = cosmotok_model::weights::canonical_safetensors(&bytes, Some(&keep))
        .map_err(|e| anyhow::anyhow!("`{}`: {e}", src.display()))?;
    crate::output::write(&out, &features)?;
    // What the perceptual loss will load: every conv of torchvision's layout, right shapes.
    cosmotok_losses::Vgg16::load(
        &out,
        cosmotok_losses::vgg::VGG16_WIDTHS,
        &burn::prelude::Device::flex(),
    )
    .map_err(|e| anyhow::anyhow!("{e} (the file was placed; is it torchvision's VGG-16?)"))?;
    Ok(out)
}

fn fetch_model(args: &FetchArgs, name: &str) -> Result<PathBuf> {
    let Some(preset) = cosmotok_model::presets::by_name(name) else {
        bail!(
            "fetch `{name}`: expected vgg16, lpips or a released model: {}",
            cosmotok_model::presets::names().join(", ")
        );
    };
    let cfg = match &args.config {
        Some(c) => crate::config_arg::resolve(c)?,
        None => preset,
    };
    let src = source(args, &format!("nvidia/{name}"), "autoencoder.jit")?;
    let out = args.out_dir.join(name).join("autoencoder.safetensors");
    let (bytes, _) = cosmotok_convert::convert_to_bytes(&[src], false)?;
    let bytes = cosmotok_model::weights::canonical_safetensors(&bytes, None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::output::write(&out, &bytes)?;
    // The released keys must load into the preset's architecture.
    let (_, report) =
        cosmotok_model::weights::load(&out, Some(cfg), &burn::prelude::Device::flex())
            .with_context(|| format!("`{}` does not load as {name}", out.display()))?;
    if !report.unexpected.is_empty() {
        eprintln!("note: keys not used by {name}: {:?}", report.unexpected);
    }
    Ok(out)
}
