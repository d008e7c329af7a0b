#!/usr/bin/env python3
"""PyAV + PyTorch clip loader doing the work of cosmotok's Loader on the bundled videos.

Per clip: seek to the keyframe at or before a random start, decode and drop frames up to
it (what cosmotok's read_video does), keep 17 frames, resize the
shortest side so the frame covers the bucket's resize target (bilinear, antialias), random
crop, convert to float in [-1, 1] as a [3, T, H, W] tensor. Workers are processes
(multiprocessing), each single-threaded (torch.set_num_threads(1), FFmpeg thread_count=1).

usage: bench_loader.py RESOLUTION CROP WORKERS CLIPS   -> prints one RESULT line
"""
import glob
import math
import os
import random
import sys
import time
from multiprocessing import Pool

import av
import numpy as np
import torch
import torch.nn.functional as F

# (ratio W/H, resize W, resize H) per key, docs/architecture.md §9.2 (only the classes the
# videos use).
RESIZE = {
    256: {"4:3": (320, 256), "16:9": (320, 192)},
    720: {"4:3": (960, 720), "16:9": (1280, 720)},
}
# crop 0 at 720: the spec validation crops; crop 256: the spec 256 crop table.
CROP = {
    (256, 256): {"4:3": (256, 192), "16:9": (256, 144)},
    (720, 0): {"4:3": (944, 704), "16:9": (1264, 704)},
}
T = 17


def bucket(w, h):
    r = math.log(w / h)
    return min(["4:3", "16:9"], key=lambda k: abs(math.log({"4:3": 4 / 3, "16:9": 16 / 9}[k]) - r))


def init():
    torch.set_num_threads(1)


def load(job):
    path, start, seed, res, crop = job
    rng = random.Random(seed)
    with av.open(path) as c:
        st = c.streams.video[0]
        st.thread_count = 1
        tb, fps = float(st.time_base), float(st.average_rate)
        t0 = st.start_time or 0
        # Seek to the keyframe at or before the start, then decode and drop up to it.
        if start > 0:
            c.seek(t0 + int((start - 0.5) / fps / tb), stream=st, backward=True)
        frames = []
        for fr in c.decode(st):
            i = round((fr.pts - t0) * tb * fps)
            if i >= start:
                frames.append(fr.to_ndarray(format="rgb24"))
            if len(frames) == T:
                break
    assert len(frames) == T, (path, start, len(frames))
    x = torch.from_numpy(np.stack(frames))  # [T, H, W, 3] uint8
    h, w = x.shape[1], x.shape[2]
    b = bucket(w, h)
    rw, rh = RESIZE[res][b]
    cw, ch = CROP[(res, crop)][b]
    s = max(rw / w, rh / h)
    sw, sh = max(round(w * s), cw), max(round(h * s), ch)
    x = x.permute(0, 3, 1, 2).float()  # [T, 3, H, W]
    x = F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True, align_corners=False)
    ox, oy = rng.randint(0, sw - cw), rng.randint(0, sh - ch)
    x = x[:, :, oy : oy + ch, ox : ox + cw]
    if rng.random() < 0.5:
        x = x.flip(3)
    x = (x / 127.5 - 1.0).clamp(-1, 1).permute(1, 0, 2, 3).contiguous()  # [3, T, H, W]
    return x.numel() * 4, f"{cw}x{ch}"


def main():
    res, crop, workers, clips = (int(a) for a in sys.argv[1:5])
    root = os.path.join(os.path.dirname(__file__), "..", "assets", "media", "videos")
    files = []
    for p in sorted(glob.glob(os.path.join(root, "*"))):
        with av.open(p) as c:
            n = c.streams.video[0].frames
        if n >= T:
            files.append((p, n))
    rng = random.Random(1)
    jobs = []
    for i in range(clips + 1):
        p, n = files[i % len(files)]
        jobs.append((p, rng.randint(0, n - T), i, res, crop))
    with Pool(workers, initializer=init) as pool:
        pool.map(load, jobs[:workers])  # warm-up: imports, FFmpeg init
        t0 = time.perf_counter()
        out = list(pool.imap(load, jobs[1:], chunksize=1))
        secs = time.perf_counter() - t0
    nbytes = sum(o[0] for o in out)
    crops = ",".join(sorted({o[1] for o in out}))
    print(
        f"RESULT impl=pyav resolution={res} crop={crop} workers={workers} clips={clips} "
        f"secs={secs:.3f} clips_per_s={clips / secs:.2f} mb_per_s={nbytes / 1e6 / secs:.1f} crops={crops}"
    )


if __name__ == "__main__":
    main()
