#!/usr/bin/env python3
"""One-off generator of the cosmotok-losses reference fixtures (tests/fixtures/losses/).

Written from the recipe's formulas (docs/architecture.md §9.2) in PyTorch, reusing
torchvision's VGG-16 layer structure with tiny widths and random weights (the real weights cannot
be downloaded here). Run once; the outputs are committed, CI never runs Python:

    python3 scripts/make_loss_fixtures.py

Files written:
  vgg16_tiny.safetensors   torchvision key names (features.N.weight/bias), widths [4,8,8,16,16]
  recon.safetensors        inputs, pixel/perceptual/gram values, d(perceptual+gram)/d(xhat)
  disc.safetensors         PatchGAN discriminators (spectral/group/none, 2-D and 3-D), logits,
                           GAN losses, LeCam, adaptive weight, R1 value and its weight gradient
  vgg16_keys.json          key -> shape of the real torchvision vgg16(weights=None).features
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)  # references in f64; stored as f32 below
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "losses")
os.makedirs(OUT, exist_ok=True)

SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
LAYER_W = [1 / 2.6, 1 / 4.8, 1 / 3.7, 1 / 5.6, 10 / 1.5]
TAPS = [3, 8, 15, 22, 29]  # relu1_2 ... relu5_3
WIDTHS = [4, 8, 8, 16, 16]


def tiny_vgg16(widths):
    """torchvision's VGG-16 `features` (cfg D) with the given block widths."""
    cfg = []
    for i, (w, n) in enumerate(zip(widths, [2, 2, 3, 3, 3])):
        cfg += [w] * n + ["M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c = v
    return nn.Sequential(*layers)


def vgg_feats(vgg, x4):
    h = (x4 - SHIFT) / SCALE
    out = []
    for i, layer in enumerate(vgg):
        h = layer(h)
        if i in TAPS:
            out.append(h)
        if i == TAPS[-1]:
            break
    return out


def frames(x5):
    """[B,C,T,H,W] -> [B*T,C,H,W] (frame-wise)."""
    b, c, t, h, w = x5.shape
    return x5.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def perceptual(vgg, x5, y5):
    fx, fy = vgg_feats(vgg, frames(x5)), vgg_feats(vgg, frames(y5))
    return sum(w * (a - b).abs().mean() for w, a, b in zip(LAYER_W, fx, fy))


def gram_clip(f, b, t):
    bt, c, h, w = f.shape
    f = f.reshape(b, t, c, h * w).permute(0, 2, 1, 3).reshape(b, c, t * h * w)
    return f @ f.transpose(1, 2) / (t * h * w)


def gram_frame(f):
    bt, c, h, w = f.shape
    f = f.reshape(bt, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def gram(vgg, x5, y5, mode):
    b, _, t, _, _ = x5.shape
    fx, fy = vgg_feats(vgg, frames(x5)), vgg_feats(vgg, frames(y5))
    total = 0.0
    for w, a, c in zip(LAYER_W, fx, fy):
        if mode == "clip":
            ga, gc = gram_clip(a, b, t), gram_clip(c, b, t)
        else:
            ga, gc = gram_frame(a), gram_frame(c)
        total = total + w * (ga - gc).square().mean()
    return total


def f32(d):
    return {k: v.detach().to(torch.float32).contiguous() for k, v in d.items()}


def make_recon():
    vgg = tiny_vgg16(WIDTHS)
    for m in vgg:
        if isinstance(m, nn.Conv2d):  # larger than default so deep features are not ~0
            nn.init.normal_(m.weight, std=math.sqrt(2.0 / (m.in_channels * 9)))
            nn.init.normal_(m.bias, std=0.05)
    # Round the weights to f32 first so Rust (f32) and the reference see identical weights.
    with torch.no_grad():
        for p in vgg.parameters():
            p.copy_(p.to(torch.float32).to(torch.float64))
    sd = {f"features.{k}": v for k, v in vgg.state_dict().items()}
    save_file(f32(sd), os.path.join(OUT, "vgg16_tiny.safetensors"))

    out = {}
    cases = {"video": (2, 3, 3, 32, 32), "image": (2, 3, 1, 32, 32)}
    for name, shape in cases.items():
        x = (torch.rand(shape) * 2 - 1).to(torch.float32).to(torch.float64)
        xhat = (x + 0.3 * torch.randn(shape)).clamp(-1.2, 1.2).to(torch.float32).to(torch.float64)
        mask = (torch.rand(shape[0], 1, *shape[2:]) > 0.3).to(torch.float64)
        xhat.requires_grad_(True)
        out[f"{name}.x"], out[f"{name}.xhat"], out[f"{name}.mask"] = x, xhat, mask
        out[f"{name}.l1"] = (x - xhat).abs().mean().reshape(1)
        out[f"{name}.l2"] = (x - xhat).square().mean().reshape(1)
        out[f"{name}.l1_masked"] = ((x - xhat).abs() * mask).mean().reshape(1)
        p = perceptual(vgg, xhat, x)
        gc = gram(vgg, xhat, x, "clip")
        gf = gram(vgg, xhat, x, "frame")
        out[f"{name}.perceptual"] = p.reshape(1)
        out[f"{name}.gram_clip"] = gc.reshape(1)
        out[f"{name}.gram_frame"] = gf.reshape(1)
        # Gradient of the perceptual + Gram terms at the late-stage weights (0.073, 0.062).
        obj = 0.073 * p + 0.062 * gc
        (g,) = torch.autograd.grad(obj, xhat)
        out[f"{name}.grad_perc_gram"] = g
        # Full recon loss at iteration 600k with the spec schedule (L1 1.0, 0.073, 0.062).
        out[f"{name}.total_600k"] = ((x - xhat).abs().mean() + obj).reshape(1)
    save_file(f32(out), os.path.join(OUT, "recon.safetensors"))


# ---------------------------------------------------------------- discriminators


def groups_for(c, g=32):
    return math.gcd(c, g)


def patchgan(dim, ch, n_layers, norm, t_down=1):
    """taming NLayerDiscriminator (conv4 s2 + LReLU, n_layers with norm, conv4 s1 -> 1)."""
    Conv = nn.Conv2d if dim == 2 else nn.Conv3d

    def stride(i, spatial):  # i = layer index in the stack
        if dim == 2:
            return spatial
        return (spatial if i < t_down else 1, spatial, spatial)

    def conv(ci, co, s, bias):
        c = Conv(ci, co, 4, stride=s, padding=1, bias=bias)
        if norm == "spectral":
            c = nn.utils.spectral_norm(c)
        return c

    use_bias = norm != "group"
    layers = [conv(3, ch, stride(0, 2), True), nn.LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2**n, 8)
        s = stride(n, 2) if n < n_layers else stride(n, 1)
        layers.append(conv(ch * prev, ch * mult, s, use_bias))
        if norm == "group":
            layers.append(nn.GroupNorm(groups_for(ch * mult), ch * mult))
        layers.append(nn.LeakyReLU(0.2))
    layers.append(conv(ch * mult, 1, stride(n_layers + 1, 1), True))
    return nn.Sequential(*layers)


def disc_state(prefix, d):
    """Conv layers in order as {prefix}.{k}.weight/bias[/u_in/u_out]; group norms .{k}.gn_*."""
    out, k = {}, 0
    for m in d:
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            out[f"{prefix}.conv{k}.weight"] = w
            if m.bias is not None:
                out[f"{prefix}.conv{k}.bias"] = m.bias
            k += 1
        elif isinstance(m, nn.GroupNorm):
            out[f"{prefix}.norm{k}.weight"] = m.weight
            out[f"{prefix}.norm{k}.bias"] = m.bias
    return out


def randomize_gn(d):
    for m in d:
        if isinstance(m, nn.GroupNorm):
            nn.init.normal_(m.weight, 1.0, 0.2)
            nn.init.normal_(m.bias, 0.0, 0.2)


def round_params(d):
    with torch.no_grad():
        for p in d.parameters():
            p.copy_(p.to(torch.float32).to(torch.float64))
        for name, b in d.named_buffers():
            b.copy_(b.to(torch.float32).to(torch.float64))


def make_disc():
    out = {}
    specs = [
        ("sn2d", 2, 4, 2, "spectral", (2, 3, 32, 32)),
        ("gn2d", 2, 8, 2, "group", (2, 3, 32, 32)),
        ("none2d", 2, 4, 2, "none", (2, 3, 32, 32)),
        ("gn3d", 3, 4, 2, "group", (1, 3, 9, 32, 32)),
        ("sn3d", 3, 4, 2, "spectral", (1, 3, 9, 32, 32)),
    ]
    for name, dim, ch, nl, norm, shape in specs:
        d = patchgan(dim, ch, nl, norm)
        randomize_gn(d)
        round_params(d)
        d.train()  # spectral norm: one power iteration from the stored u in train mode
        x = (torch.rand(shape) * 2 - 1).to(torch.float32).to(torch.float64)
        st = disc_state(name, d)
        k = 0
        u_in = {}
        for m in d:
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                if norm == "spectral":
                    u_in[k] = m.weight_u.clone()
                    st[f"{name}.conv{k}.u"] = m.weight_u.clone()
                k += 1
        for kk, v in st.items():
            out[kk] = v.detach().clone()
        out[f"{name}.x"] = x
        y = d(x)
        out[f"{name}.logits"] = y
        if norm == "spectral":
            k = 0
            for m in d:
                if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                    out[f"{name}.conv{k}.u_next"] = m.weight_u.clone()
                    k += 1

    # GAN losses, LeCam, adaptive weight on given tensors.
    real = torch.randn(2, 1, 3, 6, 6).to(torch.float32).to(torch.float64)
    fake = torch.randn(2, 1, 3, 6, 6).to(torch.float32).to(torch.float64) - 0.5
    out["gan.real"], out["gan.fake"] = real, fake
    out["gan.d_hinge"] = (0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())).reshape(1)
    out["gan.d_ns"] = (0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())).reshape(1)
    out["gan.g_hinge"] = (-fake.mean()).reshape(1)
    out["gan.g_ns"] = F.softplus(-fake).mean().reshape(1)
    ema_real, ema_fake = 0.3, -0.2
    out["gan.lecam_ema"] = torch.tensor([ema_real, ema_fake])
    out["gan.lecam"] = (
        F.relu(real - ema_fake).square().mean() + F.relu(ema_real - fake).square().mean()
    ).reshape(1)
    # EMA after one update with decay 0.99 from (ema_real, ema_fake).
    out["gan.lecam_ema_next"] = torch.tensor(
        [0.99 * ema_real + 0.01 * real.mean().item(), 0.99 * ema_fake + 0.01 * fake.mean().item()]
    )
    a = torch.randn(8, 4, 3, 3).to(torch.float32).to(torch.float64)
    b = (0.01 * torch.randn(8, 4, 3, 3)).to(torch.float32).to(torch.float64)
    out["adapt.nll_grad"], out["adapt.g_grad"] = a, b
    out["adapt.weight"] = (a.norm() / (b.norm() + 1e-4)).clamp(0.0, 1e4).reshape(1)
    out["adapt.weight_max10"] = (a.norm() / (b.norm() + 1e-4)).clamp(0.0, 10.0).reshape(1)

    # R1 on the no-norm 2-D discriminator: gamma/2 * mean_b ||d sum D(x_b) / d x_b||^2, and its
    # gradient w.r.t. the first conv weight (double backward).
    torch.manual_seed(7)
    d = patchgan(2, 4, 2, "none")
    round_params(d)
    for kk, v in disc_state("r1", d).items():
        out[kk] = v.detach().clone()
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).to(torch.float32).to(torch.float64)
    x.requires_grad_(True)
    gamma = 10.0
    (gx,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    r1 = gamma / 2 * gx.square().sum(dim=[1, 2, 3]).mean()
    (gw,) = torch.autograd.grad(r1, d[0].weight)
    out["r1.x"] = x
    out["r1.value"] = r1.reshape(1)
    out["r1.grad_conv0_weight"] = gw
    # R1 through group norm (2-D and 3-D): value and gradient w.r.t. the second conv weight.
    for name, dim, shape in [("r1gn2d", 2, (2, 3, 32, 32)), ("r1gn3d", 3, (1, 3, 9, 32, 32))]:
        d = patchgan(dim, 4, 2, "group")
        randomize_gn(d)
        round_params(d)
        for kk, v in disc_state(name, d).items():
            out[kk] = v.detach().clone()
        x = (torch.rand(shape) * 2 - 1).to(torch.float32).to(torch.float64)
        x.requires_grad_(True)
        (gx,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
        r1 = gamma / 2 * gx.square().flatten(1).sum(1).mean()
        (gw,) = torch.autograd.grad(r1, d[2].weight)
        out[f"{name}.x"] = x
        out[f"{name}.value"] = r1.reshape(1)
        out[f"{name}.grad_conv1_weight"] = gw
    save_file(f32(out), os.path.join(OUT, "disc.safetensors"))


def make_keys():
    vgg = torchvision.models.vgg16(weights=None).features
    keys = {f"features.{k}": list(v.shape) for k, v in vgg.state_dict().items()}
    with open(os.path.join(OUT, "vgg16_keys.json"), "w") as f:
        json.dump(keys, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    make_recon()
    make_disc()
    make_keys()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))
