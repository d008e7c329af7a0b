//! PatchGAN discriminators (pix2pix / taming `NLayerDiscriminator`): conv4 s2 + LeakyReLU(0.2),
//! `n_layers` convs with norm (stride 2 but the last, which strides 1), final conv4 s1 → 1
//! channel of patch logits. The 3-D variant uses 4×4×4 kernels; the first
//! `temporal_downsamples` convs also stride 2 in time. Norm: GroupNorm after inner convs (no
//! conv bias there, as with taming's BatchNorm), spectral norm on every conv, or none.
//! No discriminator architecture is published by NVIDIA (docs/architecture.md §9.1).

use burn::module::Param;
use burn::nn::Initializer;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv2d, conv3d};
use burn::tensor::ops::ConvOptions;

use crate::config::{AdvConfig, DiscKind, DiscNorm};
use crate::error::LossError;
use crate::spectral_norm::SpectralState;

const SLOPE: f64 = 0.2;

/// A 4×4 (2-D) or 4×4×4 (3-D) conv with padding 1 and optional spectral norm. `weight` is
/// [out, in, 4, 4] or [out, in, 4, 4, 4] stored as rank-5 with a unit depth for 2-D.
#[derive(Module, Debug)]
pub struct DiscConv {
    /// [out, in, kt, 4, 4] (kt = 1 for 2-D convs).
    pub weight: Param<Tensor<5>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub sn: Option<SpectralState>,
    pub is_3d: bool,
    pub t_stride: usize,
    pub stride: usize,
}

impl DiscConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        c_in: usize,
        c_out: usize,
        is_3d: bool,
        t_stride: usize,
        stride: usize,
        bias: bool,
        spectral: bool,
        device: &Device,
    ) -> Self {
        let kt = if is_3d { 4 } else { 1 };
        // taming weights_init: N(0, 0.02) conv weights, zero bias.
        let weight = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        }
        .init([c_out, c_in, kt, 4, 4], device);
        Self {
            weight,
            bias: bias.then(|| Initializer::Zeros.init([c_out], device)),
            sn: spectral.then(|| SpectralState::new(c_out, device)),
            is_3d,
            t_stride,
            stride,
        }
    }

    /// The weight actually used (spectrally normalised when enabled) and the next `u`.
    pub fn effective_weight(&self) -> (Tensor<5>, Option<Tensor<1>>) {
        match &self.sn {
            Some(sn) => {
                let (w, u) = sn.normalize_weight(self.weight.val());
                (w, Some(u))
            }
            None => (self.weight.val(), None),
        }
    }

    /// [N, C_in, T, H, W] → [N, C_out, T', H', W'] (for 2-D convs T is part of N's frames:
    /// callers pass 4-D via [`forward2d`](Self::forward2d)).
    pub fn forward3d(&self, x: Tensor<5>) -> Tensor<5> {
        self.conv3d(x, true)
    }

    fn conv3d(&self, x: Tensor<5>, with_bias: bool) -> Tensor<5> {
        let (w, _) = self.effective_weight();
        let s = self.stride;
        conv3d(
            x,
            w,
            self.bias.as_ref().filter(|_| with_bias).map(|b| b.val()),
            ConvOptions::new([self.t_stride, s, s], [1, 1, 1], [1, 1, 1], 1),
        )
    }

    /// [N, C_in, H, W] → [N, C_out, H', W'].
    pub fn forward2d(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv2d(x, true)
    }

    fn conv2d(&self, x: Tensor<4>, with_bias: bool) -> Tensor<4> {
        let (w, _) = self.effective_weight();
        let [o, i, _, kh, kw] = w.dims();
        let s = self.stride;
        conv2d(
            x,
            w.reshape([o, i, kh, kw]),
            self.bias.as_ref().filter(|_| with_bias).map(|b| b.val()),
            ConvOptions::new([s, s], [1, 1], [1, 1], 1),
        )
    }

    /// Stores the `u` of one power iteration (no-op without spectral norm).
    pub fn power_iteration(mut self) -> Self {
        if let (Some(_), Some(u)) = (&self.sn, self.effective_weight().1) {
            self.sn = Some(SpectralState::from_u(u));
        }
        self
    }
}

/// The conv stack of one PatchGAN; `norms[i]` follows `convs[i]` (None for the first and
/// last conv, and everywhere unless the norm is `group`).
#[derive(Module, Debug)]
pub struct PatchGan {
    pub convs: Vec<DiscConv>,
    pub norms: Vec<Option<GroupNorm>>,
}

impl PatchGan {
    pub fn new(cfg: &AdvConfig, is_3d: bool, device: &Device) -> Self {
        let ch = cfg.channels;
        let spectral = cfg.norm == DiscNorm::Spectral;
        let group = cfg.norm == DiscNorm::Group;
        let ts = |i: usize, s: usize| {
            if is_3d && i < cfg.temporal_downsamples {
                s
            } else {
                1
            }
        };
        let mut convs = vec![DiscConv::new(
            3,
            ch,
            is_3d,
            ts(0, 2),
            2,
            true,
            spectral,
            device,
        )];
        let mut norms = vec![None];
        let mut mult = 1;
        for n in 1..=cfg.n_layers {
            let prev = mult;
            mult = (1 << n).min(8);
            let s = if n < cfg.n_layers { 2 } else { 1 };
            let c = ch * mult;
            convs.push(DiscConv::new(
                ch * prev,
                c,
                is_3d,
                ts(n, s),
                s,
                !group,
                spectral,
                device,
            ));
            norms.push(group.then(|| GroupNormConfig::new(gcd(c, cfg.groups), c).init(device)));
        }
        convs.push(DiscConv::new(
            ch * mult,
            1,
            is_3d,
            1,
            1,
            true,
            spectral,
            device,
        ));
        norms.push(None);
        Self { convs, norms }
    }

    /// [N, 3, H, W] → [N, 1, h, w] patch logits.
    pub fn forward2d(&self, x: Tensor<4>) -> Tensor<4> {
        let last = self.convs.len() - 1;
        let mut h = x;
        for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.forward2d(h);
            if let Some(n) = norm {
                h = n.forward(h);
            }
            if i < last {
                h = leaky_relu(h, SLOPE);
            }
        }
        h
    }

    /// [B, 3, T, H, W] → [B, 1, t, h, w] patch logits.
    pub fn forward3d(&self, x: Tensor<5>) -> Tensor<5> {
        let last = self.convs.len() - 1;
        let mut h = x;
        for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.forward3d(h);
            if let Some(n) = norm {
                h = n.forward(h);
            }
            if i < last {
                h = leaky_relu(h, SLOPE);
            }
        }
        h
    }

    /// Forward-mode tangent of [`forward2d`](Self::forward2d): (y, J_x y · v). Exact
    /// directional derivative, differentiable in the parameters by ordinary backward (used by
    /// the R1 penalty, since Burn has no double backward).
    pub fn forward2d_tangent(&self, x: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let last = self.convs.len() - 1;
        let (mut h, mut t) = (x, v);
        for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.conv2d(h, true);
            t = conv.conv2d(t, false);
            if let Some(n) = norm {
                (h, t) = group_norm_tangent(n, h, t);
            }
            if i < last {
                (h, t) = leaky_relu_tangent(h, t);
            }
        }
        (h, t)
    }

    /// Forward-mode tangent of [`forward3d`](Self::forward3d): (y, J_x y · v).
    pub fn forward3d_tangent(&self, x: Tensor<5>, v: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let last = self.convs.len() - 1;
        let (mut h, mut t) = (x, v);
        for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.conv3d(h, true);
            t = conv.conv3d(t, false);
            if let Some(n) = norm {
                (h, t) = group_norm_tangent(n, h, t);
            }
            if i < last {
                (h, t) = leaky_relu_tangent(h, t);
            }
        }
        (h, t)
    }

    pub fn power_iteration(self) -> Self {
        Self {
            convs: self
                .convs
                .into_iter()
                .map(DiscConv::power_iteration)
                .collect(),
            norms: self.norms,
        }
    }
}

/// The discriminator of the adversarial stage.
#[derive(Module, Debug)]
pub enum Discriminator {
    /// 2-D PatchGAN; a clip's frames are judged independently (same as `Frames2d`).
    Patch2d(PatchGan),
    /// 3-D PatchGAN on whole clips.
    Patch3d(PatchGan),
    /// 2-D PatchGAN on every frame.
    Frames2d(PatchGan),
}

impl Discriminator {
    pub fn new(cfg: &AdvConfig, device: &Device) -> Self {
        match cfg.disc {
            DiscKind::Patch2d => Self::Patch2d(PatchGan::new(cfg, false, device)),
            DiscKind::Patch3d => Self::Patch3d(PatchGan::new(cfg, true, device)),
            DiscKind::Frames2d => Self::Frames2d(PatchGan::new(cfg, false, device)),
        }
    }

    pub fn stack(&self) -> &PatchGan {
        match self {
            Self::Patch2d(p) | Self::Patch3d(p) | Self::Frames2d(p) => p,
        }
    }

    /// [B, 3, T, H, W] in [-1, 1] → patch logits [B, 1, t, h, w] (2-D kinds: t = T).
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        match self {
            Self::Patch3d(p) => p.forward3d(x),
            Self::Patch2d(p) | Self::Frames2d(p) => {
                let [b, c, t, h, w] = x.dims();
                let y = p.forward2d(x.swap_dims(1, 2).reshape([b * t, c, h, w])); // [B·T, 1, h', w']
                let [_, o, h2, w2] = y.dims();
                y.reshape([b, t, o, h2, w2]).swap_dims(1, 2)
            }
        }
    }

    /// (logits, J_x logits · v) for an input direction v of x's shape (see
    /// [`PatchGan::forward2d_tangent`]).
    pub fn forward_tangent(&self, x: Tensor<5>, v: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        match self {
            Self::Patch3d(p) => p.forward3d_tangent(x, v),
            Self::Patch2d(p) | Self::Frames2d(p) => {
                let [b, c, t, h, w] = x.dims();
                let fold = |z: Tensor<5>| z.swap_dims(1, 2).reshape([b * t, c, h, w]);
                let (y, dy) = p.forward2d_tangent(fold(x), fold(v)); // [B·T, 1, h', w']
                let [_, o, h2, w2] = y.dims();
                let unfold = |z: Tensor<4>| z.reshape([b, t, o, h2, w2]).swap_dims(1, 2);
                (unfold(y), unfold(dy))
            }
        }
    }

    /// Logit shape for an input shape [B, C, T, H, W], or an error naming the first conv whose
    /// input is smaller than its kernel (call once before training: `forward` would panic).
    pub fn output_shape(&self, input: [usize; 5]) -> Result<[usize; 5], LossError> {
        let [b, c, t, h, w] = input;
        if c != 3 {
            return Err(LossError::DiscInput {
                shape: input,
                problem: format!("{c} channels, expected 3 (RGB)"),
            });
        }
        let is_3d = matches!(self, Self::Patch3d(_));
        let (mut t2, mut h2, mut w2) = (t, h, w);
        for (i, conv) in self.stack().convs.iter().enumerate() {
            let step = |n: usize, s: usize, axis: &str| -> Result<usize, LossError> {
                if n + 2 < 4 {
                    Err(LossError::DiscInput {
                        shape: input,
                        problem: format!(
                            "conv {i} needs at least 2 positions along {axis}, got {n}; use a \
                             larger input or fewer n_layers / temporal_downsamples"
                        ),
                    })
                } else {
                    Ok((n + 2 - 4) / s + 1)
                }
            };
            if is_3d {
                t2 = step(t2, conv.t_stride, "time")?;
            }
            h2 = step(h2, conv.stride, "height")?;
            w2 = step(w2, conv.stride, "width")?;
        }
        Ok([b, 1, t2, h2, w2])
    }

    /// Stores one power iteration of every spectral-norm `u` (call after each D step when
    /// training with spectral norm; torch does this inside its train-mode forward).
    pub fn power_iteration(self) -> Self {
        match self {
            Self::Patch2d(p) => Self::Patch2d(p.power_iteration()),
            Self::Patch3d(p) => Self::Patch3d(p.power_iteration()),
            Self::Frames2d(p) => Self::Frames2d(p.power_iteration()),
        }
    }
}

/// LeakyReLU and its tangent (slope mask detached: its derivative is 0 almost everywhere).
fn leaky_relu_tangent<const D: usize>(h: Tensor<D>, t: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let slope = h
        .clone()
        .detach()
        .greater_elem(0.0)
        .float()
        .mul_scalar(1.0 - SLOPE)
        .add_scalar(SLOPE);
    (leaky_relu(h, SLOPE), t.mul(slope))
}

/// GroupNorm y = γ·n + β, n = (h − μ)/σ over each group, and its tangent
/// ẏ = γ·(ḣ − mean ḣ − n·mean(n·ḣ))/σ.
fn group_norm_tangent<const D: usize>(
    gn: &GroupNorm,
    h: Tensor<D>,
    t: Tensor<D>,
) -> (Tensor<D>, Tensor<D>) {
    let dims = h.dims();
    let (b, c, g) = (dims[0], dims[1], gn.num_groups);
    let per = h.shape().num_elements() / (b * g);
    let h3 = h.reshape([b, g, per]); // [B, G, C/G·…]
    let t3 = t.reshape([b, g, per]);
    let mu = h3.clone().mean_dim(2);
    let hc = h3.sub(mu);
    let sigma = hc
        .clone()
        .square()
        .mean_dim(2)
        .add_scalar(gn.epsilon)
        .sqrt();
    let n = hc.div(sigma.clone());
    let tm = t3.clone().mean_dim(2);
    let nt = n.clone().mul(t3.clone()).mean_dim(2);
    let dn = t3.sub(tm).sub(n.clone().mul(nt)).div(sigma);
    let mut affine_shape = [1usize; D];
    affine_shape[1] = c;
    let (n, dn) = (n.reshape(dims), dn.reshape(dims));
    match (&gn.gamma, &gn.beta) {
        (Some(gamma), Some(beta)) => {
            let gm = gamma.val().reshape(affine_shape);
            (
                n.mul(gm.clone()).add(beta.val().reshape(affine_shape)),
                dn.mul(gm),
            )
        }
        _ => (n, dn),
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
