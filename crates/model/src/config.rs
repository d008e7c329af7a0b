//! Tokenizer configuration: the architecture hyper-parameters of docs/architecture.md §1, with
//! validation that names the offending field, and a parser for the official Cosmos config dict (the
//! `config` object of the fixture JSONs).

use serde::{Deserialize, Serialize};

/// Image (2-D encoder/decoder) or video (3-D factorized causal encoder/decoder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Image,
    Video,
}

/// What sits between `quant_conv` and `post_quant_conv` (docs/architecture.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Formulation {
    /// Continuous, identity "distribution" (all released CI/CV models).
    Ae,
    /// Continuous, diagonal Gaussian (needs z_factor = 2).
    Vae,
    /// Discrete finite scalar quantisation (all released DI/DV models).
    Fsq,
}

/// Patchifier in front of the encoder (docs/architecture.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchMethod {
    Haar,
    Rearrange,
}

/// Which convs a hybrid up/down-sampler owns (docs/architecture.md §7.3): only those its flags use
/// (Cosmos-Tokenize1, 1.0 and most 0.1 JITs), or always conv1/conv2/conv3 (Nov-2024 code,
/// 0.1-CV8x8x8 JIT and the reference fixtures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SamplerConvs {
    #[default]
    Used,
    All,
}

/// Full architecture description of one tokenizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Preset name, or "custom".
    #[serde(default = "default_name")]
    pub name: String,
    pub modality: Modality,
    pub formulation: Formulation,
    #[serde(default = "default_rgb")]
    pub in_channels: usize,
    #[serde(default = "default_rgb")]
    pub out_channels: usize,
    /// Base channel count (128 for released models).
    pub channels: usize,
    /// Encoder channel multipliers, one per resolution level.
    pub channels_mult: Vec<usize>,
    /// Decoder channel multipliers when they differ from the encoder's (0.1-CV4x8x8: [2, 4]).
    #[serde(default)]
    pub decoder_channels_mult: Option<Vec<usize>>,
    /// Resnet blocks per encoder level (the decoder uses one more).
    pub num_res_blocks: usize,
    pub patch_size: usize,
    #[serde(default = "default_patch_method")]
    pub patch_method: PatchMethod,
    /// Encoder output / decoder input channels.
    pub z_channels: usize,
    /// Latent channels after quant_conv (16 continuous, 6 = len(levels) for FSQ).
    pub latent_channels: usize,
    /// 2 for VAE (mean and log-variance), else 1.
    #[serde(default = "default_one")]
    pub z_factor: usize,
    /// FSQ levels (discrete only).
    #[serde(default)]
    pub levels: Vec<usize>,
    pub spatial_compression: usize,
    /// 1 for image models.
    #[serde(default = "default_one")]
    pub temporal_compression: usize,
    /// Pre-Sep-2024 placement of the decoder's temporal upsampler (docs/architecture.md §5.8).
    #[serde(default)]
    pub legacy_mode: bool,
    #[serde(default)]
    pub sampler_convs: SamplerConvs,
    /// GroupNorm groups of the 2-D models (32); video models normalise per frame with 1 group.
    #[serde(default = "default_groups")]
    pub num_groups: usize,
}

fn default_name() -> String {
    "custom".into()
}
fn default_rgb() -> usize {
    3
}
fn default_one() -> usize {
    1
}
fn default_groups() -> usize {
    32
}
fn default_patch_method() -> PatchMethod {
    PatchMethod::Haar
}

/// A configuration error naming the field and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("invalid tokenizer config: `{field}` = {value}: {expected}")]
pub struct ConfigError {
    pub field: String,
    pub value: String,
    pub expected: String,
}

fn bad(field: &str, value: impl std::fmt::Debug, expected: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        value: format!("{value:?}"),
        expected: expected.into(),
    }
}

fn log2_exact(v: usize) -> Option<usize> {
    (v > 0 && v.is_power_of_two()).then(|| v.trailing_zeros() as usize)
}

impl TokenizerConfig {
    pub fn is_video(&self) -> bool {
        self.modality == Modality::Video
    }

    pub fn is_discrete(&self) -> bool {
        self.formulation == Formulation::Fsq
    }

    /// Two-letter family: CI, DI, CV or DV.
    pub fn family(&self) -> &'static str {
        match (self.is_discrete(), self.is_video()) {
            (false, false) => "CI",
            (true, false) => "DI",
            (false, true) => "CV",
            (true, true) => "DV",
        }
    }

    pub fn decoder_mult(&self) -> &[usize] {
        self.decoder_channels_mult
            .as_deref()
            .unwrap_or(&self.channels_mult)
    }

    /// Learned spatial 2x down-samplings: log2(spatial_compression) - log2(patch_size).
    pub fn spatial_downs(&self) -> usize {
        log2_exact(self.spatial_compression).unwrap_or(0) - log2_exact(self.patch_size).unwrap_or(0)
    }

    /// Learned temporal 2x down-samplings: log2(temporal_compression) - log2(patch_size).
    pub fn temporal_downs(&self) -> usize {
        if !self.is_video() {
            return 0;
        }
        log2_exact(self.temporal_compression)
            .unwrap_or(0)
            .saturating_sub(log2_exact(self.patch_size).unwrap_or(0))
    }

    /// Channels produced by the patcher: in_channels * p^2 (image) or p^3 (video).
    pub fn patched_channels(&self, channels: usize) -> usize {
        let p = self.patch_size;
        if self.is_video() {
            channels * p * p * p
        } else {
            channels * p * p
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.in_channels == 0 {
            return Err(bad(
                "in_channels",
                self.in_channels,
                "a positive channel count",
            ));
        }
        if self.out_channels == 0 {
            return Err(bad(
                "out_channels",
                self.out_channels,
                "a positive channel count",
            ));
        }
        if self.channels == 0 {
            return Err(bad("channels", self.channels, "a positive channel count"));
        }
        if self.channels_mult.is_empty() || self.channels_mult.contains(&0) {
            return Err(bad(
                "channels_mult",
                &self.channels_mult,
                "a non-empty list of positive multipliers",
            ));
        }
        if let Some(m) = &self.decoder_channels_mult
            && (m.is_empty() || m.contains(&0))
        {
            return Err(bad(
                "decoder_channels_mult",
                m,
                "a non-empty list of positive multipliers",
            ));
        }
        if self.num_res_blocks == 0 {
            return Err(bad("num_res_blocks", self.num_res_blocks, "at least 1"));
        }
        if !matches!(self.patch_size, 1 | 2 | 4 | 8) {
            return Err(bad("patch_size", self.patch_size, "one of 1, 2, 4, 8"));
        }
        if !matches!(self.spatial_compression, 4 | 8 | 16 | 32 | 64) {
            return Err(bad(
                "spatial_compression",
                self.spatial_compression,
                "one of 4, 8, 16, 32, 64",
            ));
        }
        if self.spatial_compression < self.patch_size {
            return Err(bad(
                "spatial_compression",
                self.spatial_compression,
                format!("at least patch_size ({})", self.patch_size),
            ));
        }
        let sd = self.spatial_downs();
        let levels = self.channels_mult.len();
        let dec_levels = self.decoder_mult().len();
        if self.is_video() {
            if !matches!(self.temporal_compression, 1 | 2 | 4 | 8 | 16) {
                return Err(bad(
                    "temporal_compression",
                    self.temporal_compression,
                    "one of 1, 2, 4, 8, 16",
                ));
            }
            if self.temporal_compression < self.patch_size && self.temporal_compression != 1 {
                return Err(bad(
                    "temporal_compression",
                    self.temporal_compression,
                    format!(
                        "at least patch_size ({}) (the Haar stage compresses time by p)",
                        self.patch_size
                    ),
                ));
            }
            if self.temporal_compression == 1 && self.patch_size > 1 {
                return Err(bad(
                    "temporal_compression",
                    1,
                    format!(
                        "at least patch_size ({}): the 3-D Haar patcher compresses time by p",
                        self.patch_size
                    ),
                ));
            }
            let td = self.temporal_downs();
            // Video encoders downsample after every level but the last.
            if sd.max(td) > levels.saturating_sub(1) {
                return Err(bad(
                    "channels_mult",
                    &self.channels_mult,
                    format!(
                        "at least {} levels for {} spatial / {} temporal downsamplings (one per level, never after the last)",
                        sd.max(td) + 1,
                        sd,
                        td
                    ),
                ));
            }
            if sd.max(td) > dec_levels.saturating_sub(1) {
                return Err(bad(
                    "decoder_channels_mult",
                    self.decoder_mult(),
                    format!("at least {} levels", sd.max(td) + 1),
                ));
            }
            if td > sd && !self.legacy_mode {
                return Err(bad(
                    "temporal_compression",
                    self.temporal_compression,
                    "temporal_compression / patch_size must not exceed spatial_compression / patch_size",
                ));
            }
        } else {
            if self.temporal_compression != 1 {
                return Err(bad(
                    "temporal_compression",
                    self.temporal_compression,
                    "1 for image models",
                ));
            }
            if sd > levels {
                return Err(bad(
                    "channels_mult",
                    &self.channels_mult,
                    format!("at least {sd} levels for {sd} spatial downsamplings"),
                ));
            }
            if sd > dec_levels {
                return Err(bad(
                    "decoder_channels_mult",
                    self.decoder_mult(),
                    format!("at least {sd} levels"),
                ));
            }
            let check_groups = |c: usize, field: &str| -> Result<(), ConfigError> {
                if !c.is_multiple_of(self.num_groups) {
                    Err(bad(
                        field,
                        c,
                        format!(
                            "channel counts divisible by num_groups = {}",
                            self.num_groups
                        ),
                    ))
                } else {
                    Ok(())
                }
            };
            check_groups(self.channels, "channels")?;
            for m in self.channels_mult.iter().chain(self.decoder_mult()) {
                check_groups(self.channels * m, "channels_mult")?;
            }
        }
        if self.z_channels == 0 {
            return Err(bad(
                "z_channels",
                self.z_channels,
                "a positive channel count",
            ));
        }
        match self.formulation {
            Formulation::Fsq => {
                if self.levels.is_empty() || self.levels.iter().any(|&l| l < 2) {
                    return Err(bad(
                        "levels",
                        &self.levels,
                        "FSQ levels, each at least 2 (e.g. [8, 8, 8, 5, 5, 5])",
                    ));
                }
                if self.latent_channels != self.levels.len() {
                    return Err(bad(
                        "latent_channels",
                        self.latent_channels,
                        format!(
                            "len(levels) = {} (FSQ has no projection)",
                            self.levels.len()
                        ),
                    ));
                }
                if self.z_factor != 1 {
                    return Err(bad("z_factor", self.z_factor, "1 for FSQ"));
                }
            }
            Formulation::Ae => {
                if self.z_factor != 1 {
                    return Err(bad("z_factor", self.z_factor, "1 for the AE formulation"));
                }
            }
            Formulation::Vae => {
                if self.z_factor != 2 {
                    return Err(bad(
                        "z_factor",
                        self.z_factor,
                        "2 for the VAE formulation (mean and log-variance)",
                    ));
                }
            }
        }
        if self.latent_channels == 0 {
            return Err(bad(
                "latent_channels",
                self.latent_channels,
                "a positive channel count",
            ));
        }
        Ok(())
    }

    /// Checks an input's frame count and size against the compression rules of docs/architecture.md
    /// §2.
    pub fn check_input(
        &self,
        frames: usize,
        height: usize,
        width: usize,
    ) -> Result<(), ConfigError> {
        let s = self.spatial_compression;
        if !height.is_multiple_of(s) || height == 0 {
            return Err(bad(
                "input height",
                height,
                format!("a positive multiple of the spatial compression {s})"),
            ));
        }
        if !width.is_multiple_of(s) || width == 0 {
            return Err(bad(
                "input width",
                width,
                format!("a positive multiple of the spatial compression {s})"),
            ));
        }
        if self.is_video() {
            let t = self.temporal_compression;
            if frames == 0 || !(frames - 1).is_multiple_of(t) {
                return Err(bad(
                    "input frames",
                    frames,
                    format!(
                        "1 + k*{t} frames (e.g. {}, {}, {})",
                        1 + t,
                        1 + 2 * t,
                        1 + 4 * t
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A config from any JSON cosmotok reads: the `config.json` that `cosmotok export`
    /// writes (its `cosmotok_config`, exactly, else its `official_config`), the official
    /// Cosmos config dict, or a fixture JSON wrapping one under `config`.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, ConfigError> {
        if let Some(c) = v.get("cosmotok_config") {
            return serde_json::from_value(c.clone()).map_err(|e| {
                bad(
                    "cosmotok_config",
                    "(see the file)",
                    format!("cosmotok's model config as `cosmotok export` writes it ({e})"),
                )
            });
        }
        if let Some(c) = v.get("official_config") {
            return Self::from_official_json(c);
        }
        Self::from_official_json(v)
    }

    /// Parses the official Cosmos config dict (keys channels, channels_mult, num_res_blocks,
    /// patch_size, z_channels, latent_channels / embedding_dim, levels, spatial_compression,
    /// temporal_compression, legacy_mode, formulation / quantizer, encoder / decoder, name, ...).
    pub fn from_official_json(v: &serde_json::Value) -> Result<Self, ConfigError> {
        let obj = v.as_object().ok_or_else(|| {
            bad(
                "config",
                v,
                "a JSON object (the official Cosmos config dict)",
            )
        })?;
        // Accept the fixture JSON wrapper {"config": {...}} too.
        if let Some(inner) = obj.get("config")
            && inner.is_object()
        {
            return Self::from_official_json(inner);
        }
        let get_usize = |k: &str| -> Result<Option<usize>, ConfigError> {
            match obj.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .map(|u| Some(u as usize))
                    .ok_or_else(|| bad(k, x, "a non-negative integer")),
            }
        };
        let get_list = |k: &str| -> Result<Option<Vec<usize>>, ConfigError> {
            match obj.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => x
                    .as_array()
                    .and_then(|a| a.iter().map(|e| e.as_u64().map(|u| u as usize)).collect())
                    .map(Some)
                    .ok_or_else(|| bad(k, x, "a list of non-negative integers")),
            }
        };
        let get_str = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(|s| s.to_string());
        let req = |k: &str, v: Option<usize>| {
            v.ok_or_else(|| bad(k, "missing", "a required key of the official config"))
        };

        let encoder = get_str("encoder").unwrap_or_default().to_uppercase();
        let video = encoder.contains("FACTORIZED")
            || get_usize("temporal_compression")?.is_some()
            || matches!(get_str("name").as_deref(), Some("CV" | "DV"));
        let discrete = get_str("quantizer").is_some()
            || obj.contains_key("levels")
            || obj.contains_key("embedding_dim")
            || matches!(get_str("name").as_deref(), Some("DI" | "DV"));
        let formulation = if discrete {
            match get_str("quantizer")
                .as_deref()
                .map(str::to_uppercase)
                .as_deref()
            {
                None | Some("FSQ") => Formulation::Fsq,
                Some(q) => {
                    return Err(bad(
                        "quantizer",
                        q,
                        "FSQ (the only quantizer of the released models)",
                    ));
                }
            }
        } else {
            match get_str("formulation")
                .as_deref()
                .map(str::to_uppercase)
                .as_deref()
            {
                None | Some("AE") => Formulation::Ae,
                Some("VAE") => Formulation::Vae,
                Some(f) => return Err(bad("formulation", f, "AE or VAE")),
            }
        };
        let patch_method = match get_str("patch_method").as_deref() {
            None | Some("haar") => PatchMethod::Haar,
            Some("rearrange") => PatchMethod::Rearrange,
            Some(p) => return Err(bad("patch_method", p, "haar or rearrange")),
        };
        let levels = get_list("levels")?.unwrap_or_default();
        let latent_channels = if discrete {
            get_usize("embedding_dim")?.unwrap_or(levels.len())
        } else {
            req("latent_channels", get_usize("latent_channels")?)?
        };
        let channels_mult = req_list("channels_mult", get_list("channels_mult")?)?;
        let temporal_compression = if video {
            req("temporal_compression", get_usize("temporal_compression")?)?
        } else {
            1
        };
        // The official continuous video class builds the decoder with [2, 4] for 4x temporal
        // compression whatever the config says (docs/architecture.md §1.2, fixtures README).
        let decoder_channels_mult = if video && !discrete && temporal_compression == 4 {
            Some(vec![2, 4])
        } else {
            get_list("decoder_channels_mult")?
        };
        let cfg = TokenizerConfig {
            name: "custom".into(),
            modality: if video {
                Modality::Video
            } else {
                Modality::Image
            },
            formulation,
            in_channels: get_usize("in_channels")?.unwrap_or(3),
            out_channels: get_usize("out_channels")?.unwrap_or(3),
            channels: req("channels", get_usize("channels")?)?,
            channels_mult,
            decoder_channels_mult,
            num_res_blocks: req("num_res_blocks", get_usize("num_res_blocks")?)?,
            patch_size: get_usize("patch_size")?.unwrap_or(1),
            patch_method,
            z_channels: req("z_channels", get_usize("z_channels")?)?,
            latent_channels,
            z_factor: get_usize("z_factor")?.unwrap_or(1),
            levels,
            spatial_compression: req("spatial_compression", get_usize("spatial_compression")?)?,
            temporal_compression,
            legacy_mode: obj
                .get("legacy_mode")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            // The reference code of the fixtures (Nov 2024) always owns every sampler conv.
            sampler_convs: SamplerConvs::All,
            num_groups: if video { 1 } else { 32 },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl TokenizerConfig {
    /// The official Cosmos config dict of this architecture (what the PyTorch classes take as
    /// keyword arguments; [`TokenizerConfig::from_official_json`] reads it back).
    pub fn to_official_json(&self) -> serde_json::Value {
        use serde_json::json;
        let family = self.family();
        let mut v = json!({
            "name": family,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "channels": self.channels,
            "channels_mult": self.channels_mult,
            "num_res_blocks": self.num_res_blocks,
            "attn_resolutions": [32],
            "dropout": 0.0,
            "resolution": 1024,
            "patch_size": self.patch_size,
            "patch_method": match self.patch_method {
                PatchMethod::Haar => "haar",
                PatchMethod::Rearrange => "rearrange",
            },
            "z_channels": self.z_channels,
            "z_factor": self.z_factor,
            "spatial_compression": self.spatial_compression,
        });
        let o = v.as_object_mut().expect("object");
        if self.is_video() {
            o.insert(
                "temporal_compression".into(),
                json!(self.temporal_compression),
            );
            o.insert("encoder".into(), json!("FACTORIZED"));
            o.insert("decoder".into(), json!("FACTORIZED"));
            o.insert("legacy_mode".into(), json!(self.legacy_mode));
            o.insert("num_groups".into(), json!(self.num_groups));
        } else {
            o.insert("num_groups".into(), json!(self.num_groups));
        }
        match self.formulation {
            Formulation::Fsq => {
                o.insert("quantizer".into(), json!("FSQ"));
                o.insert("levels".into(), json!(self.levels));
                o.insert("embedding_dim".into(), json!(self.latent_channels));
            }
            f => {
                o.insert(
                    "formulation".into(),
                    json!(if f == Formulation::Vae { "VAE" } else { "AE" }),
                );
                o.insert("latent_channels".into(), json!(self.latent_channels));
            }
        }
        if let Some(d) = &self.decoder_channels_mult {
            o.insert("decoder_channels_mult".into(), json!(d));
        }
        v
    }
}

fn req_list(k: &str, v: Option<Vec<usize>>) -> Result<Vec<usize>, ConfigError> {
    v.ok_or_else(|| bad(k, "missing", "a required key of the official config"))
}
