#!/usr/bin/env python3
"""PyTorch side of issue #5's training-step benchmark (the Rust side is
`crates/train/examples/bench_train_step.rs`; `scripts/bench_train_step.sh` runs both).

One full generator step, as `cosmotok_train::Trainer::step` does it:
  forward of diffusers' AutoencoderKLCosmos configured to the Cosmos-1.0 CV8x8x8 structure at
  base width `--channels` (channels_mult [2,4,4], 2 res blocks, patch 4 haar, z 16, unused
  sampler convs dropped, mid-block attention only) →
  loss = mean|x − x̂| + 0.1 · perceptual, perceptual exactly as crates/losses/src/perceptual.rs:
  frame-wise torchvision VGG-16 `features` behind the LPIPS scaling layer, relu1_2 … relu5_3,
  Σ_l w_l · mean|f_l(x̂) − f_l(x)|, w = [1/2.6, 1/4.8, 1/3.7, 1/5.6, 10/1.5], VGG run once on
  [x; x̂] stacked →
  backward → clip_grad_norm_(1.0) → AdamW(lr 1e-4, betas (0.5, 0.999), wd 0.01, eps 1e-8) →
  EMA update (beta 0.9999, all parameters).

Clips are random crops of the bundled frame folder assets/media/frames/episode_000 (17 real
frames 256×192), as the Rust side's loader does. Prints one JSON object with the same keys as
the Rust example.

    python3 scripts/bench_train_step.py --write-vgg target/bench/vgg16_random.safetensors
    python3 scripts/bench_train_step.py --channels 8 --frames 17 --height 64 --width 64 \\
        --batch 1 --warmup 2 --steps 5 --vgg target/bench/vgg16_random.safetensors

`--write-vgg` saves torchvision's vgg16(weights=None) `features` (seed 0, random init) with the
torchvision key names `features.N.weight/bias`; both sides load that file, so the perceptual
term uses the same weights.
"""
import argparse
import glob
import json
import os
import re
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from safetensors.torch import load_file, save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FRAMES = os.path.join(REPO, "assets/media/frames/episode_000")

LAYER_WEIGHTS = [1.0 / 2.6, 1.0 / 4.8, 1.0 / 3.7, 1.0 / 5.6, 10.0 / 1.5]
LPIPS_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
LPIPS_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
# Index (in torchvision's vgg16().features) of the ReLU that ends each block: relu1_2 … relu5_3.
FEATURE_ENDS = [3, 8, 15, 22, 29]


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def write_vgg(path):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    sd = {f"features.{k}": v.detach().float().contiguous() for k, v in vgg.features.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(sd, path, metadata={"source": "torchvision vgg16(weights=None), torch.manual_seed(0)"})
    print(f"wrote {len(sd)} tensors to {path}")


class Perceptual(torch.nn.Module):
    """crates/losses/src/perceptual.rs in PyTorch: frozen VGG-16 features up to relu5_3."""

    def __init__(self, vgg_path):
        super().__init__()
        vgg = torchvision.models.vgg16(weights=None)
        sd = load_file(vgg_path)
        vgg.features.load_state_dict({k[len("features."):]: v for k, v in sd.items()})
        self.features = vgg.features[: FEATURE_ENDS[-1] + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("shift", LPIPS_SHIFT)
        self.register_buffer("scale", LPIPS_SCALE)

    def feats(self, h):
        h = (h - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i == FEATURE_ENDS[len(out)]:
                out.append(h)
                if len(out) == len(FEATURE_ENDS):
                    break
        return out

    def forward(self, x, xhat):
        # [B, C, T, H, W] → [B·T, C, H, W], frame-major within each clip. As in cosmotok's
        # FeaturePair::compute, the target goes through the VGG separately and without autograd
        # (no backward work for its half), the reconstruction with autograd.
        b, c, t, h, w = x.shape
        n = b * t
        to_frames = lambda v: v.transpose(1, 2).reshape(n, c, h, w)
        with torch.no_grad():
            fx = self.feats(to_frames(x))
        fy = self.feats(to_frames(xhat))
        total = 0.0
        for a, y, wgt in zip(fx, fy, LAYER_WEIGHTS):
            total = total + (y - a).abs().mean() * wgt
        return total


def natural_key(p):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", os.path.basename(p))]


def cover_size(height, width):
    """The 4:3 size the 256×192 frames are resized to so that a height×width crop fits (the
    native size when it already does), as the Rust side's bucket does."""
    side = max(height, width, 192)
    if side <= 192 and width <= 256:
        return 256, 192
    return (side * 4 + 2) // 3, side


def load_clip(height=0, width=0):
    """The frame folder as a [3, T, H, W] float tensor in [-1, 1] (resized to cover a
    height×width crop, bilinear with antialiasing, when the frames are smaller)."""
    files = sorted(glob.glob(os.path.join(FRAMES, "*.png")), key=natural_key)
    size = cover_size(height, width)
    imgs = [Image.open(f).convert("RGB") for f in files]
    if imgs[0].size != size:
        imgs = [im.resize(size, Image.BILINEAR) for im in imgs]
    frames = [np.asarray(im, dtype=np.float32) for im in imgs]
    a = np.stack(frames, 0) / 127.5 - 1.0  # [T, H, W, 3]
    return torch.from_numpy(a).permute(3, 0, 1, 2).contiguous()


class Loader:
    """Random crops (time and space) of the clip, like the Rust placeholder loader."""

    def __init__(self, frames, height, width, batch, seed=3):
        self.clip = load_clip(height, width)
        self.t, self.h, self.w, self.b = frames, height, width, batch
        self.rng = np.random.default_rng(seed)

    def next_batch(self):
        _, T, H, W = self.clip.shape
        out = []
        for _ in range(self.b):
            t0 = self.rng.integers(0, T - self.t + 1)
            y0 = self.rng.integers(0, H - self.h + 1)
            x0 = self.rng.integers(0, W - self.w + 1)
            out.append(self.clip[:, t0 : t0 + self.t, y0 : y0 + self.h, x0 : x0 + self.w])
        return torch.stack(out, 0).contiguous()


def build_model(channels):
    """diffusers' AutoencoderKLCosmos with the Cosmos-1.0 CV8x8x8 structure at width `channels`.

    Official config → diffusers: channels_mult [2,4,4] gives encoder widths
    (ch, 2ch, 4ch, 4ch) (conv_in, then the three levels) and decoder widths (2ch, 4ch, 4ch, 4ch);
    attention_resolutions (32,) with resolution 1024 is never hit (only the mid blocks attend),
    as in the official code."""
    from diffusers import AutoencoderKLCosmos

    return AutoencoderKLCosmos(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        encoder_block_out_channels=(channels, 2 * channels, 4 * channels, 4 * channels),
        decode_block_out_channels=(2 * channels, 4 * channels, 4 * channels, 4 * channels),
        attention_resolutions=(32,),
        resolution=1024,
        num_layers=2,
        patch_size=4,
        patch_type="haar",
        spatial_compression_ratio=8,
        temporal_compression_ratio=8,
    )


def autoencode(vae, x):
    z = vae.encode(x).latent_dist.mode()
    return vae.decode(z).sample


def write_profile(path, step, sync, cuda, steps):
    """Per-kernel (on a GPU) or per-operator (on the CPU) self times of `steps` training steps,
    from torch.profiler, as JSON rows sorted by time."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    sync()
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step()
        sync()
    rows = []
    for e in prof.key_averages():
        dev_us = getattr(e, "self_device_time_total", None)
        if dev_us is None:
            dev_us = getattr(e, "self_cuda_time_total", 0.0)
        rows.append({"name": e.key, "count": e.count, "self_device_us": float(dev_us or 0.0),
                     "self_cpu_us": float(e.self_cpu_time_total or 0.0),
                     "device_type": str(getattr(e, "device_type", ""))})
    kernels = any(r["self_device_us"] > 0 for r in rows)
    key = "self_device_us" if kernels else "self_cpu_us"
    rows = sorted((r for r in rows if r[key] > 0), key=lambda r: -r[key])
    with open(path, "w") as f:
        json.dump({"impl": "pytorch", "steps": steps, "unit": "us", "time_key": key,
                   "what": "CUDA kernels" if kernels else "CPU operators", "rows": rows}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--vgg", default=os.path.join(REPO, "target/bench/vgg16_random.safetensors"))
    ap.add_argument("--perceptual", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the machine has 2 cores)")
    ap.add_argument("--write-vgg", metavar="PATH", help="only write the random VGG-16 safetensors and exit")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16-mixed"],
                    help="bf16-mixed: torch.autocast(bfloat16) around forward and loss, f32 weights")
    ap.add_argument("--checkpointing", type=int, default=0,
                    help="1: diffusers' gradient checkpointing of the VAE's blocks")
    ap.add_argument("--profile", metavar="PATH",
                    help="after the timed steps (and their memory reading), run --profile-steps more "
                         "under torch.profiler and write its per-kernel totals to PATH as JSON "
                         "(scripts/gpu_profile_summary.py reads it)")
    ap.add_argument("--profile-steps", type=int, default=2)
    args = ap.parse_args()
    if args.write_vgg:
        write_vgg(args.write_vgg)
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    autocast = (lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16)) \
        if args.precision == "bf16-mixed" else (lambda: torch.autocast(device_type=dev.type, enabled=False))
    t0 = time.perf_counter()
    vae = build_model(args.channels).train().to(dev)
    if args.checkpointing:
        vae.enable_gradient_checkpointing()
    perc = Perceptual(args.vgg).to(dev) if args.perceptual != 0.0 else None
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.5, 0.999), eps=1e-8, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    ema_beta = 0.9999
    loader = Loader(args.frames, args.height, args.width, args.batch)
    build_s = time.perf_counter() - t0
    num_params = sum(p.numel() for p in vae.parameters())

    def step():
        x = loader.next_batch().to(dev)
        with autocast():
            xhat = autoencode(vae, x)
            loss = (xhat.float() - x).abs().mean()
            if perc is not None:
                loss = loss + args.perceptual * perc(x, xhat)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in params], 1.0 - ema_beta)
        return loss.item()

    losses = [step() for _ in range(args.warmup)]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        sync()
        t = time.perf_counter()
        losses.append(step())
        sync()
        times.append(time.perf_counter() - t)
    peak_train = peak_rss_mib()
    gpu = {}
    if cuda:
        gpu = {
            "gpu_peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
            "gpu_peak_reserved_mib": torch.cuda.max_memory_reserved() / 2**20,
            "gpu_name": torch.cuda.get_device_name(),
        }
    if args.profile:
        write_profile(args.profile, step, sync, cuda, args.profile_steps)

    shape = [args.batch, 3, args.frames, args.height, args.width]
    x = (torch.rand(shape) * 2 - 1).to(dev)
    enc_t, dec_t = [], []
    vae.eval()
    with torch.no_grad(), autocast():
        for i in range(args.warmup + args.steps):
            sync()
            t = time.perf_counter()
            z = vae.encode(x).latent_dist.mode()
            sync()
            te = time.perf_counter() - t
            t = time.perf_counter()
            vae.decode(z).sample
            sync()
            td = time.perf_counter() - t
            if i >= args.warmup:
                enc_t.append(te)
                dec_t.append(td)

    print(
        json.dumps(
            {
                "impl": "pytorch",
                "backend": f"torch {torch.__version__} "
                + (torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"),
                "device": args.device,
                "precision": args.precision,
                "checkpointing": bool(args.checkpointing),
                "model": "diffusers AutoencoderKLCosmos, Cosmos-1.0 CV8x8x8 structure",
                "channels": args.channels,
                "input": shape,
                "num_params": num_params,
                "loss": f"L1 + {args.perceptual} x VGG16 perceptual",
                "warmup_steps": args.warmup,
                "timed_steps": args.steps,
                "build_s": build_s,
                "step_s": times,
                "step_mean_s": statistics.fmean(times),
                "step_median_s": statistics.median(times),
                "encode_median_s": statistics.median(enc_t),
                "decode_median_s": statistics.median(dec_t),
                "losses": losses,
                "peak_rss_train_mib": peak_train,
                "peak_rss_mib": peak_rss_mib(),
                **gpu,
            }
        )
    )


if __name__ == "__main__":
    main()
