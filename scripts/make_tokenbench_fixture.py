#!/usr/bin/env python3
"""Fixture for cosmotok's TokenBench-compatible paired evaluation (`cosmotok eval --videos DIR
--reconstructions DIR`). Writes tests/fixtures/tokenbench/:

  videos/<clip>/frame_000.png ...            ground truth (real footage from assets/media, downscaled)
  reconstructions/<clip>/frame_000.png ...   deterministic degradation (blur + JPEG round-trip)
  vgg16_narrow.safetensors                   VGG-16-*structured* trunk, narrow widths, seeded random
  lpips_narrow_lin.safetensors               matching non-negative random lin heads
  reference.json                             per-video / per-frame PSNR, SSIM, LPIPS + means

Clips are stored as PNG frame folders so no video decoder is involved in the test.

Metrics are computed with NVIDIA TokenBench's own functions: PSNR(), SSIM() and LPIPS() from
token_bench/metrics_cli.py (NVlabs/TokenBench @ dcbb7d5), copied verbatim below
(Apache-2.0, (c) NVIDIA) and exec'd; pass --tokenbench-src to check the copy against a checkout.
Per-video values are what TokenBench writes to psnr.csv/ssim.csv/lpips.csv; the means are its
"mean PSNR/SSIM/LPIPS" (np.mean over videos).

LPIPS: the pretrained VGG-16 (torchvision IMAGENET1K_V1) cannot be downloaded here, so the
reference uses a narrow VGG-16 (widths 8,16,32,64,64 instead of 64,128,256,512,512; identical
layer layout and torchvision key names features.N.weight/bias) and narrow lin heads. The lpips
package's own LPIPS module does the forward (ScalingLayer, its vgg16 slices, normalize_tensor,
NetLinLayer, spatial_average, sum): we only swap what `torchvision.models.vgg16()` returns to lpips
and replace the five lin layers. A self-check proves the swap is transparent: with a full-width
random VGG and the real lin heads, the patched path reproduces lpips.LPIPS(net='vgg',
pnet_rand=True)'s output bit for bit; an independent functional re-implementation (the formula
cosmotok implements) is also checked against the package.

Usage:  python3 scripts/make_tokenbench_fixture.py [--tokenbench-src /path/to/metrics_cli.py]
Needs: numpy, pillow, av, scikit-image, lpips, torch, torchvision, safetensors.
"""
import argparse
import ast
import hashlib
import io
import json
import os
import shutil
import sys
import types

import av
import lpips
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file
from skimage.metrics import structural_similarity as ssim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/fixtures/tokenbench")

# ---------------------------------------------------------------------------------------------
# Verbatim from NVlabs/TokenBench token_bench/metrics_cli.py (commit dcbb7d5), lines 46-47, 68-146.
TOKENBENCH_FUNCS = r'''
_FLOAT32_EPS = np.finfo(np.float32).eps
_UINT8_MAX_F = float(np.iinfo(np.uint8).max)


def PSNR(input0: np.ndarray, input1: np.ndarray) -> float:
    """Compute PSNR between two videos or two images.

    Args:
        input0: The first video or image, of shape [..., H, W, C], of [0..255].
        input1: The second video or image, of shape [..., H, W, C], of [0..255].

    Returns:
        The PSNR value.
    """
    assert input0.shape == input1.shape, "inputs should have the same shape"
    mse = ((input0 - input1) ** 2).mean()
    psnr = 20 * np.log10(_UINT8_MAX_F / (np.sqrt(mse) + _FLOAT32_EPS))
    return psnr.item()


def SSIM(input0: np.ndarray, input1: np.ndarray) -> float:
    """Compute SSIM between two videos or two images.

    Args:
        input0: The first video or image, of shape [..., H, W, C], of [0..255].
        input1: The second video or image, of shape [..., H, W, C], of [0..255].

    Returns:
        The SSIM value.
    """
    assert input0.shape == input1.shape, "inputs should have the same shape"
    if input0.ndim == 3:
        input0, input1 = np.array([input0]), np.array([input1])
    ssim_values = []
    from concurrent.futures import ThreadPoolExecutor

    def compute_ssim(pair):
        one_image0, one_image1 = pair
        return ssim(
            one_image0,
            one_image1,
            data_range=_UINT8_MAX_F,
            multichannel=True,
            channel_axis=-1,
        )

    with ThreadPoolExecutor() as executor:
        ssim_values = list(executor.map(compute_ssim, zip(input0, input1)))
    return np.mean(ssim_values)


def LPIPS(input0: np.ndarray, input1: np.ndarray, loss_fn_vgg: Callable) -> float:
    """Compute LPIPS between two videos or two images.

    Args:
        input0: The first video or image, of shape [..., H, W, C], of [0..255].
        input1: The second video or image, of shape [..., H, W, C], of [0..255].
        loss_fn_vgg: The LPIPS loss function.
        device: The device to run the computation.

    Returns:
        The LPIPS value.
    """
    assert input0.shape == input1.shape, "inputs should have the same shape"
    if input0.ndim == 3:
        input0, input1 = np.array([input0]), np.array([input1])

    # computing LPIPS needs to normalize input to [-1,1].
    input0 = torch.from_numpy(2 * (input0 / _UINT8_MAX_F - 0.5)).to(torch.float32)
    input1 = torch.from_numpy(2 * (input1 / _UINT8_MAX_F - 0.5)).to(torch.float32)

    input0 = input0.permute(0, 3, 1, 2)  # N, C, H, W
    input1 = input1.permute(0, 3, 1, 2)  # N, C, H, W

    # average LPIPS over all frames
    results = []
    for one_input0, one_input1 in zip(input0, input1):
        fm0 = one_input0.unsqueeze(0).to(args.device)
        fm1 = one_input1.unsqueeze(0).to(args.device)
        res = loss_fn_vgg(fm0, fm1).item()
        results.append(res)

    return np.mean(results)
'''
# ---------------------------------------------------------------------------------------------

CLIPS = [
    # name, source video, first frame, n frames, (W, H), blur radius, JPEG quality.
    # Different frame counts (6 vs 5) so "mean over videos" != "mean over all frames".
    # vtest_4x3 is 124x93 (4:3, odd height): exercises odd-size max-pool flooring (93->46->23->11->5).
    dict(name="vtest_4x3", src="assets/media/videos/vtest.mp4", start=4, n=6, size=(124, 93), blur=0.7, q=30),
    dict(name="city_16x9", src="assets/media/videos/city.mp4", start=10, n=5, size=(128, 72), blur=0.6, q=30),
]

NARROW = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M"]
FULL = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
NARROW_CHNS = [8, 16, 32, 64, 64]


def tokenbench_namespace(device="cpu"):
    ns = dict(np=np, torch=torch, ssim=ssim, Callable=object, args=types.SimpleNamespace(device=device))
    exec(compile(TOKENBENCH_FUNCS, "token_bench/metrics_cli.py", "exec"), ns)
    return ns


def check_tokenbench_copy(path):
    """Check that our copy is the same code as the given metrics_cli.py (compares AST dumps)."""
    src = open(path).read()
    theirs = {n.name: ast.dump(n) for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}
    ours = {n.name: ast.dump(n) for n in ast.parse(TOKENBENCH_FUNCS).body if isinstance(n, ast.FunctionDef)}
    for name in ("PSNR", "SSIM", "LPIPS"):
        assert theirs[name] == ours[name], f"{name} differs from {path}"
    for const in ("_FLOAT32_EPS = np.finfo(np.float32).eps", "_UINT8_MAX_F = float(np.iinfo(np.uint8).max)"):
        assert const in src, const
    print(f"TokenBench PSNR/SSIM/LPIPS copy matches {path}")


def decode_frames(path, start, n):
    frames = []
    with av.open(path) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i >= start:
                frames.append(fr.to_image())  # RGB24
            if len(frames) == n:
                break
    assert len(frames) == n, (path, len(frames))
    return frames


def degrade(img, blur, q):
    b = img.filter(ImageFilter.GaussianBlur(blur))
    buf = io.BytesIO()
    b.save(buf, format="JPEG", quality=q, subsampling=2)  # 4:2:0, as a codec would
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def write_clips():
    for sub in ("videos", "reconstructions"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
    for c in CLIPS:
        frames = decode_frames(os.path.join(ROOT, c["src"]), c["start"], c["n"])
        for t, fr in enumerate(frames):
            gt = fr.resize(c["size"], Image.LANCZOS)
            rec = degrade(gt, c["blur"], c["q"])
            for sub, im in (("videos", gt), ("reconstructions", rec)):
                d = os.path.join(OUT, sub, c["name"])
                os.makedirs(d, exist_ok=True)
                im.save(os.path.join(d, f"frame_{t:03d}.png"), optimize=True)


def read_clip(d):
    names = sorted(f for f in os.listdir(d) if f.endswith(".png"))
    return names, np.stack([np.asarray(Image.open(os.path.join(d, f)).convert("RGB")) for f in names])  # T H W C uint8


# ---------------------------------------------------------------------------------------------
# Narrow VGG + LPIPS through the lpips package's code


def make_features(cfg, seed):
    feats = torchvision.models.vgg.make_layers(cfg, batch_norm=False)  # same indices as tv.vgg16().features
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in feats:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * 9
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) - 0.5) * 0.2)  # U(-0.1, 0.1)
    return feats.eval()


class _FakeTV:
    """Stands in for `torchvision.models` inside lpips.pretrained_networks: vgg16() returns our features."""

    def __init__(self, features):
        self.features = features

    def vgg16(self, pretrained=False, **kw):
        return types.SimpleNamespace(features=self.features)


def lpips_with(features, lin_weights):
    """lpips.LPIPS(net='vgg') whose trunk is `features` and whose lin heads are `lin_weights` (list of [1,C,1,1])."""
    pn = lpips.pretrained_networks
    real_tv = pn.tv
    pn.tv = _FakeTV(features)
    try:
        m = lpips.LPIPS(net="vgg", pretrained=False, pnet_rand=True, verbose=False)
    finally:
        pn.tv = real_tv
    chns = [w.shape[1] for w in lin_weights]
    m.chns = chns
    lins = [lpips.NetLinLayer(c, use_dropout=True) for c in chns]
    with torch.no_grad():
        for lin, w in zip(lins, lin_weights):
            lin.model[1].weight.copy_(w)
    for k, lin in enumerate(lins):
        setattr(m, f"lin{k}", lin)
    m.lins = nn.ModuleList(lins)
    return m.eval()


def lpips_functional(x0, x1, features, lin_weights):
    """Independent re-implementation (what cosmotok implements). x in [-1,1], NCHW."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    taps = {3, 8, 15, 22, 29}  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3

    def feats(x):
        out, h = [], (x - shift) / scale
        for i, layer in enumerate(features):
            if i > 29:
                break
            if isinstance(layer, nn.Conv2d):
                h = F.conv2d(h, layer.weight, layer.bias, padding=1)
            elif isinstance(layer, nn.ReLU):
                h = F.relu(h)
            else:
                h = F.max_pool2d(h, 2, 2)
            if i in taps:
                out.append(h)
        return out

    total = 0.0
    for f0, f1, w in zip(feats(x0), feats(x1), lin_weights):
        n0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        n1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + ((n0 - n1) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
    return total


def features_state(features):
    return {f"features.{k}": v.detach().float().contiguous() for k, v in features.state_dict().items()}


def self_check(tb, clip_gt, clip_rec):
    """Full-width random VGG + real lin heads: package LPIPS == patched path == functional."""
    torch.manual_seed(0)
    ref = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()  # real lins, random trunk
    full = nn.Sequential(*[m for s in (ref.net.slice1, ref.net.slice2, ref.net.slice3, ref.net.slice4, ref.net.slice5) for m in s])
    full2 = make_features(FULL, seed=0)
    full2.load_state_dict({k.replace("features.", ""): v for k, v in features_state(full).items()}, strict=False)
    lins_real = [getattr(ref, f"lin{k}").model[1].weight.detach().clone() for k in range(5)]
    patched = lpips_with(full2, lins_real)
    with torch.no_grad():
        a = tb["LPIPS"](clip_gt, clip_rec, ref)
        b = tb["LPIPS"](clip_gt, clip_rec, patched)
        x0 = torch.from_numpy(2 * (clip_gt / 255.0 - 0.5)).float().permute(0, 3, 1, 2)
        x1 = torch.from_numpy(2 * (clip_rec / 255.0 - 0.5)).float().permute(0, 3, 1, 2)
        c = float(np.mean([float(lpips_functional(x0[i:i + 1], x1[i:i + 1], full2, lins_real)) for i in range(len(x0))]))
    print(f"self-check full-width random VGG + real lins: package {a!r} patched {b!r} functional {c!r}")
    assert a == b, (a, b)
    assert abs(a - c) < 1e-5 * max(1.0, abs(a)), (a, c)
    return dict(lpips_package=float(a), lpips_patched=float(b), lpips_functional=c)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenbench-src", default=None, help="path to TokenBench token_bench/metrics_cli.py to verify the copy")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.tokenbench_src:
        check_tokenbench_copy(args.tokenbench_src)
    tb = tokenbench_namespace("cpu")
    os.makedirs(OUT, exist_ok=True)

    write_clips()

    # narrow trunk + lins (seeded)
    narrow = make_features(NARROW, seed=1234)
    g = torch.Generator().manual_seed(4321)
    lins_narrow = [(torch.rand((1, c, 1, 1), generator=g) * 2.0 + 0.1) for c in NARROW_CHNS]  # U(0.1, 2.1) >= 0
    vgg_path = os.path.join(OUT, "vgg16_narrow.safetensors")
    lin_path = os.path.join(OUT, "lpips_narrow_lin.safetensors")
    save_file(features_state(narrow), vgg_path,
              metadata={"what": "VGG-16 layout, widths 8,16,32,64,64, seeded random (make_tokenbench_fixture.py)"})
    save_file({f"lin{k}.weight": w.contiguous() for k, w in enumerate(lins_narrow)}, lin_path,
              metadata={"what": "LPIPS lin heads for vgg16_narrow, seeded U(0.1,2.1) (10x lpips scale so values are O(0.1) with a random trunk)"})
    # reload from disk so the reference uses exactly the stored f32 values
    narrow.load_state_dict({k.replace("features.", ""): v for k, v in load_file(vgg_path).items()})
    lsd = load_file(lin_path)
    lins_narrow = [lsd[f"lin{k}.weight"] for k in range(5)]
    loss_fn = lpips_with(narrow, lins_narrow)

    videos, checks = {}, None
    per_frame_lpips_check = []
    for c in sorted(CLIPS, key=lambda c: c["name"]):  # TokenBench pairs sorted(glob) lists
        name = c["name"]
        names0, gt = read_clip(os.path.join(OUT, "videos", name))
        names1, rec = read_clip(os.path.join(OUT, "reconstructions", name))
        assert names0 == names1
        gt_f, rec_f = gt.astype(np.float32), rec.astype(np.float32)  # main_psnr_ssim casts to float32
        psnr = tb["PSNR"](gt_f, rec_f)
        ssim_v = tb["SSIM"](gt_f, rec_f)
        ssim_frames = [float(tb["SSIM"](gt_f[t], rec_f[t])) for t in range(len(gt))]
        with torch.no_grad():
            lp = tb["LPIPS"](gt, rec, loss_fn)  # main_lpips passes the uint8 arrays
            lp_frames = [float(tb["LPIPS"](gt[t], rec[t], loss_fn)) for t in range(len(gt))]
            x0 = torch.from_numpy(2 * (gt / 255.0 - 0.5)).float().permute(0, 3, 1, 2)
            x1 = torch.from_numpy(2 * (rec / 255.0 - 0.5)).float().permute(0, 3, 1, 2)
            fn = [float(lpips_functional(x0[i:i + 1], x1[i:i + 1], narrow, lins_narrow)) for i in range(len(x0))]
            _, per_layer = loss_fn(x0[:1], x1[:1], retPerLayer=True)  # debugging aid: frame 0, per VGG tap
            per_layer = [float(r) for r in per_layer]
        per_frame_lpips_check.append(max(abs(a - b) for a, b in zip(lp_frames, fn)))
        # float64 variants (how far a careful f64 implementation may land from TokenBench's f32 path)
        d = gt.astype(np.float64) - rec.astype(np.float64)
        psnr64 = float(20 * np.log10(255.0 / (np.sqrt(np.mean(d * d)) + np.finfo(np.float32).eps)))
        ssim64 = float(np.mean([ssim(gt[t].astype(np.float64), rec[t].astype(np.float64), data_range=255.0, channel_axis=-1)
                                for t in range(len(gt))]))
        T, H, W, C = gt.shape
        videos[name] = dict(
            frames=names0, num_frames=T, height=H, width=W,
            mse=float(np.mean(d * d)),
            psnr=float(psnr), ssim=float(ssim_v), lpips=float(lp),
            ssim_per_frame=ssim_frames, lpips_per_frame=lp_frames,
            psnr_f64=psnr64, ssim_f64=ssim64,
            lpips_frame0_per_layer=per_layer,
        )
        print(f"{name} ({T}x{H}x{W}) PSNR {psnr:.6f} SSIM {ssim_v:.6f} LPIPS(narrow) {lp:.6f}")
    assert max(per_frame_lpips_check) < 1e-5, per_frame_lpips_check

    names = sorted(videos)
    checks = self_check(tb, *[read_clip(os.path.join(OUT, s, names[0]))[1] for s in ("videos", "reconstructions")])

    real_lin = load_file(os.path.join(OUT, "lpips_vgg_lin.safetensors")) if os.path.exists(
        os.path.join(OUT, "lpips_vgg_lin.safetensors")) else None
    lpips_dir = os.path.dirname(lpips.__file__)
    real_sd = torch.load(os.path.join(lpips_dir, "weights/v0.1/vgg.pth"), map_location="cpu")
    real_sums = {f"lin{k}.weight": float(real_sd[f"lin{k}.model.1.weight"].double().sum()) for k in range(5)}
    if real_lin is not None:
        for k in range(5):
            assert torch.equal(real_lin[f"lin{k}.weight"], real_sd[f"lin{k}.model.1.weight"].float())

    ref = dict(
        description=("TokenBench (NVlabs/TokenBench token_bench/metrics_cli.py @ dcbb7d5) PSNR/SSIM/LPIPS for the "
                     "pairs videos/<clip> vs reconstructions/<clip>. psnr/ssim/lpips per video; mean_* = np.mean over "
                     "videos (sorted by name). LPIPS uses vgg16_narrow.safetensors + lpips_narrow_lin.safetensors "
                     "through the lpips package's forward. *_f64 = same formulas in float64 (informational)."),
        generator="scripts/make_tokenbench_fixture.py",
        versions=dict(numpy=np.__version__, torch=torch.__version__, lpips="0.1.4",
                      skimage=__import__("skimage").__version__, pillow=Image.__version__, av=av.__version__),
        formulas=dict(
            psnr="20*log10(255/(sqrt(mean((gt_f32-rec_f32)^2 over T*H*W*C)) + 1.1920929e-07)), float32",
            ssim="mean over frames of skimage structural_similarity(gt_f32, rec_f32, data_range=255, channel_axis=-1) "
                 "(7x7 uniform window, K1=0.01, K2=0.03, sample covariance 49/48, 3-px border cropped, mean over RGB)",
            lpips="mean over frames of lpips.LPIPS(net='vgg', v0.1)(x0, x1), x = float32(2*(u8/255 - 0.5))",
        ),
        clips=names,
        videos=videos,
        mean_psnr=float(np.mean([videos[n]["psnr"] for n in names])),
        mean_ssim=float(np.mean([videos[n]["ssim"] for n in names])),
        mean_lpips=float(np.mean([videos[n]["lpips"] for n in names])),
        narrow_vgg=dict(
            file="vgg16_narrow.safetensors", sha256=sha256(vgg_path), cfg=[str(x) for x in NARROW],
            conv_keys=[f"features.{i}" for i, m in enumerate(narrow) if isinstance(m, nn.Conv2d)],
            lpips_taps=dict(relu1_2=3, relu2_2=8, relu3_3=15, relu4_3=22, relu5_3=29),
            lin_file="lpips_narrow_lin.safetensors", lin_sha256=sha256(lin_path),
            lin_channels=NARROW_CHNS,
            lin_weight_sums={f"lin{k}.weight": float(w.double().sum()) for k, w in enumerate(lins_narrow)},
            conv_weight_sums={k: float(v.double().sum()) for k, v in features_state(narrow).items()},
        ),
        real_lpips_vgg_lin=dict(
            file="lpips_vgg_lin.safetensors", source="lpips 0.1.4 lpips/weights/v0.1/vgg.pth",
            source_sha256=sha256(os.path.join(lpips_dir, "weights/v0.1/vgg.pth")),
            channels=[64, 128, 256, 512, 512], weight_sums=real_sums,
        ),
        self_check_full_width_random_vgg_real_lins=dict(clip=names[0], **checks),
    )
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps({k: ref[k] for k in ("mean_psnr", "mean_ssim", "mean_lpips")}, indent=2))


if __name__ == "__main__":
    main()
