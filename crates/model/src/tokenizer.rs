//! The tokenizer wrappers (docs/architecture.md §4.4, §5.10): encoder → quant_conv → bottleneck
//! (AE, VAE or FSQ); post_quant_conv → decoder. Image and video networks share one 5-D API: images
//! are [B, C, T, H, W] with every frame encoded independently (T = 1 for a plain image).

use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::bottleneck::Posterior;
use crate::causal_conv::CausalConv3d;
use crate::config::{ConfigError, Formulation, Modality, TokenizerConfig};
use crate::decoder2d::Decoder2d;
use crate::decoder3d::Decoder3d;
use crate::encoder2d::Encoder2d;
use crate::encoder3d::Encoder3d;
use crate::fsq::Fsq;
use crate::resnet::conv2d;
use crate::stream::Stream;

/// What `encode` returns.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Continuous latent [B, L, T', h, w], or the FSQ codes for discrete models.
    pub latent: Tensor<5>,
    /// FSQ indices [B, T', h, w] (discrete models only), 0-based.
    pub indices: Option<Tensor<4, Int>>,
    /// VAE posterior (VAE only), for the KL term.
    pub posterior: Option<Posterior<5>>,
}

#[derive(Module, Debug)]
pub struct ImageTokenizer {
    pub encoder: Encoder2d,
    pub decoder: Decoder2d,
    pub quant_conv: Conv2d,
    pub post_quant_conv: Conv2d,
    #[module(skip)]
    pub config: TokenizerConfig,
}

#[derive(Module, Debug)]
pub struct VideoTokenizer {
    pub encoder: Encoder3d,
    pub decoder: Decoder3d,
    pub quant_conv: CausalConv3d,
    pub post_quant_conv: CausalConv3d,
    #[module(skip)]
    pub config: TokenizerConfig,
}

/// A Cosmos tokenizer. Stored with enum variants skipped, so its keys are exactly the
/// official ones (`encoder.*`, `decoder.*`, `quant_conv.*`, `post_quant_conv.*`).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one tokenizer per process; boxing buys nothing
pub enum Tokenizer {
    Image(ImageTokenizer),
    Video(VideoTokenizer),
}

/// [B, C, T, H, W] -> [B·T, C, H, W]
fn frames_to_batch(x: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = x.dims();
    x.permute([0, 2, 1, 3, 4]).reshape([b * t, c, h, w])
}

/// [B·T, C, H, W] -> [B, C, T, H, W]
fn batch_to_frames(x: Tensor<4>, b: usize) -> Tensor<5> {
    let [bt, c, h, w] = x.dims();
    x.reshape([b, bt / b, c, h, w]).permute([0, 2, 1, 3, 4])
}

impl Tokenizer {
    /// Builds a randomly initialised (PyTorch default init) tokenizer.
    pub fn new(config: &TokenizerConfig, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let z_out = config.z_channels * config.z_factor;
        let q_out = config.latent_channels * config.z_factor;
        Ok(match config.modality {
            Modality::Image => Tokenizer::Image(ImageTokenizer {
                encoder: Encoder2d::new(config, z_out, device),
                decoder: Decoder2d::new(config, device),
                quant_conv: conv2d(z_out, q_out, 1, device),
                post_quant_conv: conv2d(config.latent_channels, config.z_channels, 1, device),
                config: config.clone(),
            }),
            Modality::Video => Tokenizer::Video(VideoTokenizer {
                encoder: Encoder3d::new(config, z_out, device),
                decoder: Decoder3d::new(config, device),
                quant_conv: CausalConv3d::pointwise(z_out, q_out, device),
                post_quant_conv: CausalConv3d::pointwise(
                    config.latent_channels,
                    config.z_channels,
                    device,
                ),
                config: config.clone(),
            }),
        })
    }

    pub fn config(&self) -> &TokenizerConfig {
        match self {
            Tokenizer::Image(m) => &m.config,
            Tokenizer::Video(m) => &m.config,
        }
    }

    pub fn fsq(&self) -> Option<Fsq> {
        let c = self.config();
        c.is_discrete().then(|| Fsq::new(&c.levels))
    }

    /// Encoder + quant_conv output before the bottleneck: [B, q, T', h, w].
    pub fn encode_moments(&self, x: Tensor<5>) -> Tensor<5> {
        match self {
            Tokenizer::Image(m) => {
                let b = x.dims()[0];
                let h = m.quant_conv.forward(m.encoder.forward(frames_to_batch(x)));
                batch_to_frames(h, b)
            }
            Tokenizer::Video(m) => m.quant_conv.forward(m.encoder.forward(x)),
        }
    }

    /// Encodes [B, 3, T, H, W] in [−1, 1]. `sample` draws from a VAE posterior (else its mean).
    pub fn encode_with(&self, x: Tensor<5>, sample: bool) -> Encoded {
        let moments = self.encode_moments(x);
        self.bottleneck(moments, sample)
    }

    /// The AE / VAE / FSQ bottleneck applied to quant_conv's output.
    pub fn bottleneck(&self, moments: Tensor<5>, sample: bool) -> Encoded {
        match self.config().formulation {
            Formulation::Ae => Encoded {
                latent: moments,
                indices: None,
                posterior: None,
            },
            Formulation::Vae => {
                let posterior = Posterior::from_moments(moments);
                let latent = if sample {
                    posterior.sample()
                } else {
                    posterior.mean.clone()
                };
                Encoded {
                    latent,
                    indices: None,
                    posterior: Some(posterior),
                }
            }
            Formulation::Fsq => {
                let fsq = self.fsq().expect("discrete");
                let (codes, indices) = fsq.quantize(moments);
                let [b, _, t, h, w] = indices.dims();
                Encoded {
                    latent: codes,
                    indices: Some(indices.reshape([b, t, h, w])),
                    posterior: None,
                }
            }
        }
    }

    /// Deterministic encode (VAE: posterior mean).
    pub fn encode(&self, x: Tensor<5>) -> Encoded {
        self.encode_with(x, false)
    }

    /// Encodes a long clip chunk by chunk with a carried temporal cache (docs/architecture.md
    /// §5.12: every temporal op is causal), giving the latents of a whole-clip encode at bounded
    /// activation memory. `chunk_frames` must be a multiple of the temporal compression t; the
    /// first chunk takes `1 + chunk_frames` frames, later ones `chunk_frames`. Image models encode
    /// frames independently, `chunk_frames` at a time.
    pub fn encode_chunked(
        &self,
        x: Tensor<5>,
        chunk_frames: usize,
    ) -> Result<Encoded, ConfigError> {
        let moments = self.encode_moments_chunked(x, chunk_frames)?;
        Ok(self.bottleneck(moments, false))
    }

    /// quant_conv output of [`encode_chunked`](Self::encode_chunked) (before the bottleneck).
    pub fn encode_moments_chunked(
        &self,
        x: Tensor<5>,
        chunk_frames: usize,
    ) -> Result<Tensor<5>, ConfigError> {
        let t = x.dims()[2];
        let tc = self.config().temporal_compression;
        if chunk_frames == 0 || !chunk_frames.is_multiple_of(tc) {
            return Err(ConfigError {
                field: "chunk_frames".into(),
                value: chunk_frames.to_string(),
                expected: format!("a positive multiple of the temporal compression {tc}"),
            });
        }
        let moments = match self {
            Tokenizer::Image(_) => chunks(t, 0, chunk_frames)
                .map(|(s, n)| self.encode_moments(x.clone().narrow(2, s, n)))
                .collect::<Vec<_>>(),
            Tokenizer::Video(m) => {
                let mut stream = Stream::new();
                chunks(t, 1, chunk_frames)
                    .map(|(s, n)| {
                        stream.begin_chunk();
                        let h = m
                            .encoder
                            .forward_stream(x.clone().narrow(2, s, n), &mut stream);
                        stream.end_chunk();
                        m.quant_conv.forward(h)
                    })
                    .collect()
            }
        };
        Ok(Tensor::cat(moments, 2))
    }

    /// Decodes a long latent sequence chunk by chunk (the inverse of [`encode_chunked`]):
    /// the first chunk takes `1 + chunk_latents` latent frames, later ones `chunk_latents`.
    ///
    /// [`encode_chunked`]: Self::encode_chunked
    pub fn decode_chunked(
        &self,
        latent: Tensor<5>,
        chunk_latents: usize,
    ) -> Result<Tensor<5>, ConfigError> {
        if chunk_latents == 0 {
            return Err(ConfigError {
                field: "chunk_latents".into(),
                value: "0".into(),
                expected: "at least 1".into(),
            });
        }
        let t = latent.dims()[2];
        let parts = match self {
            Tokenizer::Image(_) => chunks(t, 0, chunk_latents)
                .map(|(s, n)| self.decode(latent.clone().narrow(2, s, n)))
                .collect::<Vec<_>>(),
            Tokenizer::Video(m) => {
                let mut stream = Stream::new();
                chunks(t, 1, chunk_latents)
                    .map(|(s, n)| {
                        stream.begin_chunk();
                        let z = m.post_quant_conv.forward(latent.clone().narrow(2, s, n));
                        let out = m.decoder.forward_stream(z, &mut stream);
                        stream.end_chunk();
                        out
                    })
                    .collect()
            }
        };
        Ok(Tensor::cat(parts, 2))
    }

    /// Spatially tiled encode (see [`crate::tiling`]): tiles of `tile` pixels overlapping by
    /// `overlap` (both multiples of the spatial compression), each encoded on its own —
    /// in time chunks of `chunk_frames` when given — and the pre-bottleneck latents blended.
    /// Approximate: the mid-block attention of a tile only sees the tile.
    pub fn encode_tiled(
        &self,
        x: Tensor<5>,
        tile: usize,
        overlap: usize,
        chunk_frames: Option<usize>,
    ) -> Result<Encoded, ConfigError> {
        let s = self.config().spatial_compression;
        check_tile(tile, overlap, s)?;
        let moments = crate::tiling::tiled(x, tile, overlap, 1, s, |t| match chunk_frames {
            Some(c) => self
                .encode_moments_chunked(t, c)
                .expect("chunk length checked"),
            None => self.encode_moments(t),
        });
        Ok(self.bottleneck(moments, false))
    }

    /// Spatially tiled decode: latent tiles of `tile / s` overlapping by `overlap / s` (`tile`,
    /// `overlap` in output pixels, multiples of the spatial compression s), blended in pixels.
    pub fn decode_tiled(
        &self,
        latent: Tensor<5>,
        tile: usize,
        overlap: usize,
        chunk_latents: Option<usize>,
    ) -> Result<Tensor<5>, ConfigError> {
        let s = self.config().spatial_compression;
        check_tile(tile, overlap, s)?;
        Ok(crate::tiling::tiled(
            latent,
            tile / s,
            overlap / s,
            s,
            1,
            |t| match chunk_latents {
                Some(c) => self.decode_chunked(t, c).expect("chunk length checked"),
                None => self.decode(t),
            },
        ))
    }

    /// Decodes a latent (or FSQ codes) [B, L, T', h, w] to [B, 3, T, H, W].
    pub fn decode(&self, latent: Tensor<5>) -> Tensor<5> {
        match self {
            Tokenizer::Image(m) => {
                let b = latent.dims()[0];
                let h = m
                    .decoder
                    .forward(m.post_quant_conv.forward(frames_to_batch(latent)));
                batch_to_frames(h, b)
            }
            Tokenizer::Video(m) => m.decoder.forward(m.post_quant_conv.forward(latent)),
        }
    }

    /// FSQ indices [B, T', h, w] -> codes [B, d, T', h, w].
    pub fn indices_to_codes(&self, indices: Tensor<4, Int>) -> Option<Tensor<5>> {
        let fsq = self.fsq()?;
        let [b, t, h, w] = indices.dims();
        Some(fsq.indices_to_codes(indices.reshape([b, 1, t, h, w])))
    }

    /// Decodes FSQ indices [B, T', h, w].
    pub fn decode_indices(&self, indices: Tensor<4, Int>) -> Option<Tensor<5>> {
        self.indices_to_codes(indices).map(|c| self.decode(c))
    }

    /// encode → decode; returns the encoding and the reconstruction.
    pub fn autoencode(&self, x: Tensor<5>, sample: bool) -> (Encoded, Tensor<5>) {
        let enc = self.encode_with(x, sample);
        let recon = self.decode(enc.latent.clone());
        (enc, recon)
    }

    /// Latent shape [L, T', h, w] for an input of T×H×W (after checking the length rules).
    pub fn latent_shape(&self, t: usize, h: usize, w: usize) -> Result<[usize; 4], ConfigError> {
        let c = self.config();
        c.check_input(t, h, w)?;
        let s = c.spatial_compression;
        let tl = if c.is_video() {
            1 + (t - 1) / c.temporal_compression
        } else {
            t
        };
        Ok([c.latent_channels, tl, h / s, w / s])
    }
}

impl Tokenizer {
    /// (key prefix, spatial, temporal) of every hybrid sampler of a video config.
    pub fn sampler_flags(cfg: &TokenizerConfig) -> Vec<(String, bool, bool)> {
        let (sd, td) = (cfg.spatial_downs(), cfg.temporal_downs());
        let n = cfg.channels_mult.len();
        let mut out: Vec<(String, bool, bool)> = (0..n.saturating_sub(1))
            .map(|i| (format!("encoder.down.{i}.downsample"), i < sd, i < td))
            .collect();
        let m = cfg.decoder_mult().len();
        for i in (1..m).rev() {
            let (s, t) = crate::decoder3d::upsample_flags(m - 1 - i, sd, td, cfg.legacy_mode);
            out.push((format!("decoder.up.{i}.upsample"), s, t));
        }
        out
    }
}

fn check_tile(tile: usize, overlap: usize, s: usize) -> Result<(), ConfigError> {
    if tile == 0 || !tile.is_multiple_of(s) || !overlap.is_multiple_of(s) || overlap >= tile {
        return Err(ConfigError {
            field: "tile".into(),
            value: format!("{tile} (overlap {overlap})"),
            expected: format!(
                "a tile size and an overlap that are multiples of the spatial compression {s}, \
                 overlap < tile"
            ),
        });
    }
    Ok(())
}

/// (start, length) of the chunks of a sequence of `t` frames: the first chunk has
/// `lead + step` frames (or fewer at the end), later ones `step`.
fn chunks(t: usize, lead: usize, step: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= t {
            return None;
        }
        let want = if start == 0 { lead + step } else { step };
        let n = want.min(t - start);
        let item = (start, n);
        start += n;
        Some(item)
    })
}
