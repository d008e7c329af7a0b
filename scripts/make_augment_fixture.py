#!/usr/bin/env python3
"""Reference resize-then-crop outputs from PyTorch for crates/data/tests/augment.rs.

Each case: a bundled PNG, resized so it covers the bucket's resize target
(torch.nn.functional.interpolate, bilinear, antialias=True, align_corners=False) to (sh, sw),
then the crop window at (ox, oy), in [-1, 1], layout [3, H, W]. Writes
crates/data/tests/fixtures/augment_torch.json (cases) and augment_torch.f32 (values, LE f32).
The sizes/offsets follow cosmotok's plan: s = max(RW/w, RH/h), sw = round(w*s), sh = round(h*s),
ox = floor((sw - cw) * fx), oy = floor((sh - ch) * fy).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..")
CASES = [
    # image, resize [W, H], crop [W, H], offset fractions (fx, fy)
    ("assets/media/frames/episode_000/frame_1.png", [96, 72], [64, 48], [0.5, 0.25]),  # down 0.375
    ("assets/media/frames/episode_000/frame_1.png", [512, 384], [64, 48], [0.3, 0.7]),  # up 2x
    ("assets/media/images/chelsea.png", [320, 256], [64, 48], [1.0, 0.0]),  # non-integer
    ("assets/media/images/coffee.png", [64, 64], [64, 48], [0.0, 1.0]),  # strong downscale
]

out = []
values = []
for path, resize, crop, (fx, fy) in CASES:
    img = np.asarray(Image.open(os.path.join(ROOT, path)).convert("RGB"))
    h, w = img.shape[:2]
    s = max(resize[0] / w, resize[1] / h)
    sw, sh = max(round(w * s), crop[0]), max(round(h * s), crop[1])
    ox, oy = math.floor((sw - crop[0]) * fx), math.floor((sh - crop[1]) * fy)
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].double()
    y = F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True, align_corners=False)
    y = y[0, :, oy : oy + crop[1], ox : ox + crop[0]]
    y = (y.clamp(0, 255) / 255.0 * 2.0 - 1.0).float().numpy()
    out.append({"image": path, "resize": resize, "crop": crop, "offset": [fx, fy],
                "resized": [sw, sh], "origin": [ox, oy], "start": len(values), "len": y.size})
    values.extend(y.ravel().tolist())

d = os.path.join(ROOT, "crates/data/tests/fixtures")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "augment_torch.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": out}, f, indent=1)
np.asarray(values, dtype="<f4").tofile(os.path.join(d, "augment_torch.f32"))
print(f"{len(out)} cases, {len(values)} values")
