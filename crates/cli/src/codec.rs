//! `cosmotok encode | decode | reconstruct`: tensors (safetensors) or media (images, videos,
//! frame folders) through a tokenizer.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use clap::Args;
use cosmotok_data::Frames;
use cosmotok_model::Tokenizer;
use cosmotok_model::weights::load;

use crate::tensor_io::{Outputs, TensorFile, to_f32, to_i64};

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Weights: safetensors state_dict with the official key names.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Architecture: preset name, cosmotok TOML, or official config JSON. Inferred from the
    /// checkpoint when omitted (where the keys make it unambiguous).
    #[arg(long)]
    pub config: Option<String>,
    /// flex (CPU), wgpu or cuda (when built with that feature).
    #[arg(long, default_value = "flex")]
    pub device: String,
}

#[derive(Args, Debug)]
pub struct CodecArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input: .safetensors (tensor `input`, [B,3,H,W] or [B,3,T,H,W] in [-1,1]; for decode:
    /// `latent`, `codes` or `indices`), an image, a video file, or a folder of frames.
    #[arg(long)]
    pub input: PathBuf,
    /// Output: .safetensors, an image, a video file (.mp4), or a folder for frames.
    #[arg(long)]
    pub output: PathBuf,
    /// Pad inputs that break the length/size rules (H, W to a multiple of the spatial factor
    /// with zeros, split top/left and bottom/right; T to 1 + k·t by repeating the last frame)
    /// and crop the reconstruction back.
    #[arg(long)]
    pub pad: bool,
    /// First frame to read from a video or frame folder.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Number of frames to read (default: all).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Process long videos in chunks of this many frames (a multiple of the temporal
    /// compression) with a carried temporal cache: same latents as one shot, bounded memory.
    #[arg(long)]
    pub chunk_frames: Option<usize>,
    /// Process frames larger than memory allows in spatial tiles of this many pixels (a
    /// multiple of the spatial compression), blended across `--tile-overlap` pixels.
    /// Approximate: a tile's attention only sees the tile.
    #[arg(long)]
    pub tile: Option<usize>,
    /// Overlap of neighbouring tiles, pixels (a multiple of the spatial compression).
    #[arg(long, default_value_t = 32)]
    pub tile_overlap: usize,
}

fn encode_maybe_chunked(
    model: &Tokenizer,
    x: Tensor<5>,
    args: &CodecArgs,
) -> Result<cosmotok_model::Encoded> {
    Ok(match (args.tile, args.chunk_frames) {
        (Some(t), c) => model.encode_tiled(x, t, args.tile_overlap, c)?,
        (None, Some(c)) => model.encode_chunked(x, c)?,
        (None, None) => model.encode(x),
    })
}

fn decode_maybe_chunked(
    model: &Tokenizer,
    latent: Tensor<5>,
    args: &CodecArgs,
) -> Result<Tensor<5>> {
    let tc = model.config().temporal_compression;
    let chunk = args.chunk_frames.map(|c| (c / tc).max(1));
    Ok(match (args.tile, chunk) {
        (Some(t), c) => model.decode_tiled(latent, t, args.tile_overlap, c)?,
        (None, Some(c)) => model.decode_chunked(latent, c)?,
        (None, None) => model.decode(latent),
    })
}

pub fn load_model(args: &ModelArgs) -> Result<(Tokenizer, Device)> {
    let device = cosmotok_train::device::parse(&args.device)?;
    let config = args
        .config
        .as_deref()
        .map(crate::config_arg::resolve)
        .transpose()?;
    let (model, report) = load(&args.checkpoint, config, &device)?;
    if !report.unexpected.is_empty() {
        eprintln!(
            "warning: {} key(s) of `{}` were not used: {}",
            report.unexpected.len(),
            args.checkpoint.display(),
            report
                .unexpected
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok((model, device))
}

fn is_tensor_file(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some("safetensors")
}

/// The input as [B, 3, T, H, W], whether it was 4-D (an image tensor), and the fps if known.
fn read_input(args: &CodecArgs, device: &Device) -> Result<(Tensor<5>, bool, Option<f64>)> {
    if is_tensor_file(&args.input) {
        let f = TensorFile::open(&args.input)?;
        let (v, shape) = f.float("input")?;
        let (shape5, four) = match shape.len() {
            4 => ([shape[0], shape[1], 1, shape[2], shape[3]], true),
            5 => ([shape[0], shape[1], shape[2], shape[3], shape[4]], false),
            _ => bail!(
                "`{}`: tensor `input` has shape {shape:?}, expected [B,3,H,W] or [B,3,T,H,W]",
                args.input.display()
            ),
        };
        if shape5[1] != 3 {
            bail!(
                "`{}`: tensor `input` has {} channels, expected 3 (RGB)",
                args.input.display(),
                shape5[1]
            );
        }
        Ok((
            Tensor::from_data(TensorData::new(v, shape5), device),
            four,
            None,
        ))
    } else {
        let fr = cosmotok_data::read_any(&args.input, args.start, args.frames)?;
        let [c, t, h, w] = fr.shape();
        let x = Tensor::from_data(TensorData::new(fr.data, [1, c, t, h, w]), device);
        Ok((x, false, fr.fps))
    }
}

/// Pads to the length/size rules; returns the padded input and the crop to undo it.
fn pad_input(
    model: &Tokenizer,
    x: Tensor<5>,
    pad: bool,
    what: &Path,
) -> Result<(Tensor<5>, [usize; 5])> {
    let cfg = model.config();
    let dims = x.dims();
    let [_, _, t, h, w] = dims;
    if cfg.check_input(t, h, w).is_ok() {
        return Ok((x, [0, t, 0, h, 0]));
    }
    if !pad {
        let e = cfg.check_input(t, h, w).unwrap_err();
        bail!("`{}`: {e} — or pass --pad", what.display());
    }
    let s = cfg.spatial_compression;
    let (ph, pw) = (h.div_ceil(s) * s - h, w.div_ceil(s) * s - w);
    let x = x.pad(
        (pw / 2, pw - pw / 2, ph / 2, ph - ph / 2),
        PadMode::Constant(0.0),
    );
    let x = if cfg.is_video() {
        let tc = cfg.temporal_compression;
        let t_target = 1 + (t.saturating_sub(1)).div_ceil(tc) * tc;
        if t_target > t {
            let last = x.clone().narrow(2, t - 1, 1).repeat_dim(2, t_target - t);
            Tensor::cat(vec![x, last], 2)
        } else {
            x
        }
    } else {
        x
    };
    Ok((x, [0, t, ph / 2, h, pw / 2]))
}

fn crop(x: Tensor<5>, c: [usize; 5], w: usize) -> Tensor<5> {
    let [t0, t, h0, h, w0] = c;
    x.narrow(2, t0, t).narrow(3, h0, h).narrow(4, w0, w)
}

fn write_latents(out: &mut Outputs, enc: &cosmotok_model::Encoded, four: bool) {
    let (v, mut s) = to_f32(enc.latent.clone());
    if four {
        s.remove(2);
    }
    match &enc.indices {
        Some(idx) => {
            out.float("codes", &v, &s);
            let (iv, mut is) = to_i64(idx.clone());
            if four {
                is.remove(1);
            }
            out.int32("indices", &iv, &is);
        }
        None => out.float("latent", &v, &s),
    }
}

fn write_media(path: &Path, recon: Tensor<5>, fps: Option<f64>) -> Result<()> {
    let [b, c, t, h, w] = recon.dims();
    if b != 1 {
        bail!(
            "`{}`: media output takes one sample, the batch has {b}; use a .safetensors output",
            path.display()
        );
    }
    let (v, _) = to_f32(recon.reshape([c, t, h, w]));
    let frames = Frames {
        data: v,
        frames: t,
        height: h,
        width: w,
        fps,
    };
    cosmotok_data::write_any(path, &frames)
}

pub fn encode(args: &CodecArgs) -> Result<()> {
    let (model, device) = load_model(&args.model)?;
    let (x, four, _) = read_input(args, &device)?;
    let (x, _) = pad_input(&model, x, args.pad, &args.input)?;
    let enc = encode_maybe_chunked(&model, x, args)?;
    let mut out = Outputs::default();
    write_latents(&mut out, &enc, four);
    if !is_tensor_file(&args.output) {
        bail!(
            "`{}`: encode writes a .safetensors file",
            args.output.display()
        );
    }
    out.write(&args.output)?;
    eprintln!(
        "latent {:?} -> {}",
        enc.latent.dims(),
        args.output.display()
    );
    Ok(())
}

pub fn decode(args: &CodecArgs) -> Result<()> {
    let (model, device) = load_model(&args.model)?;
    let f = TensorFile::open(&args.input)?;
    let video = model.config().is_video();
    let as5 = |shape: &[usize], four: bool| -> Vec<usize> {
        let mut s = shape.to_vec();
        if four {
            s.insert(2, 1);
        }
        s
    };
    let (latent, four) = if f.has("indices") {
        let (v, s) = f.int("indices")?;
        let four = s.len() == 3;
        if model.fsq().is_none() {
            bail!(
                "`{}` holds `indices`, but the model is continuous",
                args.input.display()
            );
        }
        let s4 = if four {
            vec![s[0], 1, s[1], s[2]]
        } else {
            s.clone()
        };
        if s4.len() != 4 {
            bail!(
                "`{}`: `indices` has shape {s:?}, expected [B,h,w] or [B,T,h,w]",
                args.input.display()
            );
        }
        let idx =
            Tensor::<4, Int>::from_data(TensorData::new(v, [s4[0], s4[1], s4[2], s4[3]]), &device);
        (model.indices_to_codes(idx).expect("discrete"), four)
    } else {
        let name = if f.has("latent") { "latent" } else { "codes" };
        let (v, s) = f.float(name)?;
        let four = s.len() == 4;
        if !(four || s.len() == 5) || (four && video) {
            bail!(
                "`{}`: `{name}` has shape {s:?}, expected [B,L,T,h,w]{}",
                args.input.display(),
                if video { "" } else { " or [B,L,h,w]" }
            );
        }
        let s5 = as5(&s, four);
        (
            Tensor::<5>::from_data(
                TensorData::new(v, [s5[0], s5[1], s5[2], s5[3], s5[4]]),
                &device,
            ),
            four,
        )
    };
    let want = model.config().latent_channels;
    if latent.dims()[1] != want {
        bail!(
            "`{}`: latent has {} channels, the model expects {want}",
            args.input.display(),
            latent.dims()[1]
        );
    }
    let recon = decode_maybe_chunked(&model, latent, args)?;
    if is_tensor_file(&args.output) {
        let mut out = Outputs::default();
        let (v, mut s) = to_f32(recon);
        if four {
            s.remove(2);
        }
        out.float("reconstruction", &v, &s);
        out.write(&args.output)?;
    } else {
        write_media(&args.output, recon, None)?;
    }
    eprintln!("reconstruction -> {}", args.output.display());
    Ok(())
}

pub fn reconstruct(args: &CodecArgs) -> Result<()> {
    let (model, device) = load_model(&args.model)?;
    let (x, four, fps) = read_input(args, &device)?;
    let w = x.dims()[4];
    let (xp, c) = pad_input(&model, x.clone(), args.pad, &args.input)?;
    let enc = encode_maybe_chunked(&model, xp, args)?;
    let recon = decode_maybe_chunked(&model, enc.latent.clone(), args)?;
    let recon = crop(recon, c, w);
    let (rv, rs) = to_f32(recon.clone());
    let shown = rs.clone();
    let (xv, _) = to_f32(x);
    let psnr = cosmotok_train::metrics::psnr(&xv, &rv);
    if is_tensor_file(&args.output) {
        let mut out = Outputs::default();
        write_latents(&mut out, &enc, four);
        let mut rs = rs;
        if four {
            rs.remove(2);
        }
        out.float("reconstruction", &rv, &rs);
        out.write(&args.output)?;
    } else {
        write_media(&args.output, recon, fps)
            .with_context(|| format!("writing `{}`", args.output.display()))?;
    }
    println!(
        "input {shown:?} latent {:?} PSNR {psnr:.2} dB -> {}",
        enc.latent.dims(),
        args.output.display()
    );
    Ok(())
}
