#!/usr/bin/env python3
"""Convert the LPIPS (VGG) linear heads shipped in the `lpips` PyPI package to safetensors.

LPIPS-VGG = torchvision VGG-16 `features` trunk + five learned 1x1 "lin" heads.

* The **trunk** is torchvision's VGG-16 IMAGENET1K_V1 `features` (lpips calls
  `tv.vgg16(pretrained=True).features`). It is NOT in the lpips package; convert it with the
  repo's `scripts/convert_vgg16.py` (keys `features.N.weight` / `features.N.bias`, N in
  0,2,5,7,10,12,14,17,19,21,24,26,28). That needs internet access once (torchvision download).
* The **lin heads** ship inside the lpips package as `lpips/weights/v0.1/vgg.pth`
  (keys `lin{k}.model.1.weight`, shape [1, C_k, 1, 1], C = 64, 128, 256, 512, 512, no bias;
  `model.0` is a Dropout, which is a no-op in eval mode). This script renames them to
  `lin{k}.weight` (f32, same shape) and writes one safetensors file.

Usage (works offline once `pip install lpips` is done, or with --pth pointing at vgg.pth):

    python3 scripts/convert_lpips.py                       # -> tests/fixtures/tokenbench/lpips_vgg_lin.safetensors
    python3 scripts/convert_lpips.py --out weights/lpips_vgg_lin.safetensors

The LPIPS forward that cosmotok mirrors (lpips 0.1.4, lpips/lpips.py, version '0.1'):
    x in [-1, 1] (normalize=False)  ->  (x - shift) / scale,
        shift = [-0.030, -0.088, -0.188], scale = [0.458, 0.448, 0.450]  (per RGB channel)
    feats = VGG-16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (features[:4], [4:9], [9:16], [16:23], [23:30])
    f_hat = f / (sqrt(sum_c f^2) + 1e-10)                       (normalize_tensor, per pixel)
    d_k   = mean_{h,w} conv1x1(lin_k, (f_hat0 - f_hat1)^2)       (spatial_average)
    LPIPS = sum_k d_k
"""
import argparse
import hashlib
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_pth():
    import lpips  # noqa: F401  (only to locate the package)

    return os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "vgg.pth")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pth", default=None, help="lpips weights/v0.1/vgg.pth (default: from the installed lpips package)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/tokenbench/lpips_vgg_lin.safetensors"))
    args = ap.parse_args()
    pth = args.pth or default_pth()
    sd = torch.load(pth, map_location="cpu")
    out = {}
    for k in range(5):
        w = sd[f"lin{k}.model.1.weight"].detach().to(torch.float32).contiguous()
        assert w.dim() == 4 and w.shape[0] == 1 and w.shape[2:] == (1, 1), w.shape
        out[f"lin{k}.weight"] = w
    extra = sorted(set(sd) - {f"lin{k}.model.1.weight" for k in range(5)})
    assert not extra, f"unexpected keys in {pth}: {extra}"
    sha = hashlib.sha256(open(pth, "rb").read()).hexdigest()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(out, args.out, metadata={"source": "lpips 0.1.4 weights/v0.1/vgg.pth", "source_sha256": sha})
    for k, v in out.items():
        print(f"{k}: shape {list(v.shape)} sum {float(v.double().sum()):.9f} min {float(v.min()):.6g}")
    print(f"wrote {len(out)} tensors to {args.out} (source sha256 {sha})")


if __name__ == "__main__":
    main()
