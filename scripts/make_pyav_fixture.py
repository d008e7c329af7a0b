#!/usr/bin/env python3
"""SHA-256 of PyAV-decoded RGB24 frames of the bundled videos, for crates/data/tests/video.rs
(an independent decode reference: frame N of a full PyAV decode, `to_ndarray(format="rgb24")`).
Writes crates/data/tests/fixtures/pyav_frames.json."""
import hashlib
import json
import os

import av

ROOT = os.path.join(os.path.dirname(__file__), "..")
# H.264 only: its decoding is bit-exact by specification, so PyAV's bundled FFmpeg and the
# system FFmpeg 5.1 must agree to the byte. (MPEG-4 Part 2, e.g. vtest_short.avi, is not: its
# IDCT may differ between FFmpeg builds, and frame 4 of that file does differ.)
WANT = {"city.mp4": [0, 13, 40, 74], "bigbuckbunny.mp4": [5, 37], "vtest.mp4": [0, 11, 12, 29]}
out = {"pyav": av.__version__, "frames": {}}
for name, idx in WANT.items():
    with av.open(os.path.join(ROOT, "assets/media/videos", name)) as c:
        hashes = {}
        for i, fr in enumerate(c.decode(video=0)):
            if i in idx:
                hashes[str(i)] = hashlib.sha256(fr.to_ndarray(format="rgb24").tobytes()).hexdigest()
        out["frames"][name] = hashes
with open(os.path.join(ROOT, "crates/data/tests/fixtures/pyav_frames.json"), "w") as f:
    json.dump(out, f, indent=1)
print(out)
