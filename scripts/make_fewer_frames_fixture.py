#!/usr/bin/env python3
"""Make the "lying header" video fixture of crates/data/tests/frame_count.rs.

OpenCV's sample vtest.avi (MPEG-4 part 2 in AVI, 795 frames; Debian `opencv-doc`, Apache-2.0 /
BSD-3-Clause) cut after its first 350 000 bytes, as an interrupted copy or download leaves it:
the AVI header still says 795 frames, the stream holds far fewer. PyAV (its own FFmpeg build)
counts both, independently of cosmotok's decoder:

    python3 scripts/make_fewer_frames_fixture.py --src /path/to/vtest.avi

writes crates/data/tests/fixtures/vtest_cut.avi and vtest_cut.json. Needs `pip install av`.
"""
import argparse
import json
import os

import av

HERE = os.path.join(os.path.dirname(__file__), "..", "crates", "data", "tests", "fixtures")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", required=True, help="OpenCV's vtest.avi")
    ap.add_argument("--bytes", type=int, default=350_000)
    args = ap.parse_args()
    out = os.path.join(HERE, "vtest_cut.avi")
    with open(args.src, "rb") as f:
        data = f.read(args.bytes)
    with open(out, "wb") as f:
        f.write(data)
    with av.open(out) as c:
        header = c.streams.video[0].frames
        decoded = 0
        try:
            for _ in c.decode(video=0):
                decoded += 1
        except av.error.FFmpegError:
            pass
    ref = {"header_frames": header, "decoded_frames": decoded, "pyav": av.__version__}
    with open(os.path.join(HERE, "vtest_cut.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print(ref)


if __name__ == "__main__":
    main()
