#!/usr/bin/env python3
"""PyTorch side of `scripts/bench_conv.sh`: one 3x3 conv (stride 1, padding 1), no-grad forward
and forward + backward (input and weight gradients), median of REPS runs after one warm-up.

    python3 scripts/bench_conv.py N C_IN C_OUT H REPS THREADS
"""
import json
import sys
import time

import torch


def median_time(f, reps):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    n, c_in, c_out, h, reps, threads = map(int, sys.argv[1:7])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(n, c_in, h, h)
    w = torch.randn(c_out, c_in, 3, 3) * 0.1
    b = torch.zeros(c_out)
    with torch.no_grad():
        forward = median_time(lambda: torch.nn.functional.conv2d(x, w, b, padding=1), reps)
    xa, wa, ba = (t.clone().requires_grad_() for t in (x, w, b))

    def step():
        torch.nn.functional.conv2d(xa, wa, ba, padding=1).sum().backward()
        xa.grad = wa.grad = ba.grad = None

    forward_backward = median_time(step, reps)
    print(json.dumps(dict(impl="pytorch", n=n, c_in=c_in, c_out=c_out, h=h,
                          forward_s=round(forward, 5), forward_backward_s=round(forward_backward, 5))))


if __name__ == "__main__":
    main()
