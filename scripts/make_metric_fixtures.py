#!/usr/bin/env python3
"""Reference PSNR/SSIM values for cosmotok's metrics tests (TokenBench formulas, docs/architecture.md §11).

Ground truth: frames 1-3 of assets/media/frames/episode_000 (real photos, 256x192).
"Reconstruction": the same frames blurred and JPEG-compressed with Pillow (saved as PNG so the
test reads exactly these pixels). Reference values come from scikit-image's
structural_similarity (data_range 255, channel_axis -1, defaults otherwise) and the TokenBench
PSNR formula in numpy. Run once; commits tests/fixtures/metrics/*.
"""
import io
import json
import pathlib

import numpy as np
from PIL import Image, ImageFilter
from skimage.metrics import structural_similarity

root = pathlib.Path(__file__).resolve().parents[1]
src = root / "assets/media/frames/episode_000"
out = root / "tests/fixtures/metrics"
out.mkdir(parents=True, exist_ok=True)

gts, recs = [], []
for i, q in zip(range(1, 4), (20, 35, 60)):
    img = Image.open(src / f"frame_{i}.png").convert("RGB")
    blurred = img.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    blurred.save(buf, format="JPEG", quality=q)
    rec = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    rec.save(out / f"recon_{i}.png")
    gts.append(np.asarray(img))
    recs.append(np.asarray(rec))

gt = np.stack(gts).astype(np.float32)  # T H W C
rec = np.stack(recs).astype(np.float32)
mse = np.mean((gt - rec) ** 2)
psnr = 20 * np.log10(255.0 / (np.sqrt(mse) + 1e-8))
ssim_frames = [
    float(structural_similarity(g, r, data_range=255, channel_axis=-1))
    for g, r in zip(np.stack(gts), np.stack(recs))
]
ref = {
    "frames": [f"frame_{i}.png" for i in range(1, 4)],
    "recon": [f"recon_{i}.png" for i in range(1, 4)],
    "psnr": float(psnr),
    "ssim_per_frame": ssim_frames,
    "ssim": float(np.mean(ssim_frames)),
}
(out / "reference.json").write_text(json.dumps(ref, indent=2) + "\n")
print(json.dumps(ref, indent=2))
