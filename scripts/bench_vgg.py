#!/usr/bin/env python3
"""PyTorch side of `scripts/bench_vgg.sh`: the perceptual loss of crates/losses (frozen
VGG-16 to relu5_3 behind the LPIPS scaling, Σ_l w_l · mean|f_l(x̂) − f_l(x)|, target under
no_grad) and its gradient w.r.t. x̂, on random clips [B, 3, T, H, W] in [-1, 1]. The Rust side
is the `bench_vgg_cpu` example (cosmotok's CpuVgg). Prints one JSON object (median seconds).

    python3 scripts/bench_vgg.py --vgg target/bench/vgg16_random.safetensors \\
        --batch 1 --frames 17 --height 64 --width 64 --reps 5 --threads 2
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train_step import Perceptual  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vgg", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    loss_fn = Perceptual(a.vgg)
    shape = (a.batch, 3, a.frames, a.height, a.width)
    x = torch.rand(shape) * 2 - 1
    xh = (torch.rand(shape) * 2 - 1).requires_grad_(True)

    def run():
        xh.grad = None
        loss = loss_fn(x, xh)
        loss.backward()
        return xh.grad

    run()
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({
        "impl": "pytorch",
        "backend": f"torch {torch.__version__} CPU, {a.threads} threads",
        "input": list(shape),
        "loss_and_grad_s": round(statistics.median(times), 4),
    }))


if __name__ == "__main__":
    main()
