#!/usr/bin/env python3
"""Where a training step's device time goes, cosmotok beside PyTorch: the per-kernel profiles
that scripts/gpu_check.sh collects, summed per step, by kernel class and by kernel.

  scripts/gpu_profile_summary.py --cubecl cubecl_profile.log --steps 4 \
      [--torch torch_profile.json] [--step-cosmotok S] [--step-torch S] [--top 15] \
      [--md OUT.md] [--json OUT.json]

--cubecl: the profiling log cubecl writes when its cubecl.toml says
  `[profiling.logger] level = "basic"`, one line `| <duration> | <kernel name>` per launch
  (`cosmotok bench-step --train-only` under that configuration; gpu_check.sh writes it).
  `--steps` is how many training steps the log covers (warm-up included). Each kernel's first
  launch is left out (it carries the kernel's compilation, and autotune's trials), so the
  per-step numbers are the remaining time over steps − 1.
--torch: the JSON that `scripts/bench_train_step.py --profile` writes (torch.profiler's self
  device time per kernel over its own `steps`).
--step-cosmotok / --step-torch: the measured median step times (seconds) of the same
  configuration, to say how much of a step the device spends in kernels at all (the rest is
  host work: graph building, launches, synchronisation).
"""
import argparse
import collections
import json
import re
import sys

LINE = re.compile(r"^\| (\d[\d.]*)(ns|µs|us|ms|s)\s*\| (.+?)\s*$")
UNIT = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
HASH = re.compile(r"_[0-9a-f]{8}$")

# Kernel classes, checked in order, by (case-insensitive) name fragments. The same classes serve
# both sides so that the class table compares like with like.
CLASSES = [
    ("convolution / matmul", ("conv", "gemm", "matmul", "xmma", "cutlass", "cudnn", "wgmma", "mma")),
    ("normalisation / reduction", ("norm", "reduce", "welford", "softmax", "sum_", "mean")),
    ("copy / layout", ("copy", "slice", "cat", "permute", "transpose", "gather", "scatter", "pad", "index", "memcpy", "memset", "full", "fill")),
    ("element-wise (fused)", ("fuse", "elemwise", "trace")),
    ("element-wise", ("binop", "unary", "elementwise", "vectorized", "scalar", "silu", "sigmoid", "mul", "add", "lerp", "foreach", "adam", "clamp", "abs", "cast", "mask", "cmp",
                      "threshold", "relu", "sqrt", "div", "sub", "exp", "pow", "neg", "where", "sign", "to_copy")),
]


def classify(name):
    low = name.lower()
    for cls, frags in CLASSES:
        if any(f in low for f in frags):
            return cls
    return "other"


def cubecl_family(name):
    """`MatmulEntry | TensorArgs | … | SimpleMatmulFamily | …_1102cf4e` → `MatmulEntry · SimpleMatmulFamily`."""
    segs = [HASH.sub("", s.strip()) for s in name.split(" | ")]
    fam = segs[0]
    for s in segs[1:]:
        if s.endswith(("Family", "Op")) or ("Kernel" in s and s != fam):
            fam += " · " + s
            break
    return fam[:100]


def torch_family(name):
    n = name[5:] if name.startswith("void ") else name
    for stop in ("(", "<"):
        i = n.find(stop)
        if i > 0:
            n = n[:i]
    return n[:100]


def read_cubecl(path, steps):
    seen = set()
    fam_t = collections.defaultdict(float)
    fam_n = collections.Counter()
    first_t = 0.0
    lines = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            lines += 1
            secs = float(m.group(1)) * UNIT[m.group(2)]
            name = m.group(3)
            if name not in seen:
                seen.add(name)
                first_t += secs
                continue
            fam = cubecl_family(name)
            fam_t[fam] += secs
            fam_n[fam] += 1
    per = max(steps - 1, 1)
    return {
        "impl": "cosmotok",
        "source": "cubecl profiling log",
        "launches_logged": lines,
        "distinct_kernels": len(seen),
        "first_launches_s": first_t,
        "steps_counted": per,
        "families": {k: {"s_per_step": v / per, "launches_per_step": fam_n[k] / per} for k, v in fam_t.items()},
    }


def read_torch(path):
    d = json.load(open(path))
    steps = max(int(d.get("steps", 1)), 1)
    key = d.get("time_key", "self_device_us")
    fam_t = collections.defaultdict(float)
    fam_n = collections.Counter()
    for r in d["rows"]:
        # On a GPU the rows with device time are kernels; the CPU-side operators that launched
        # them (aten::…) carry no self device time and drop out here.
        t = r.get(key, 0.0) * 1e-6
        if t <= 0:
            continue
        fam = torch_family(r["name"])
        fam_t[fam] += t
        fam_n[fam] += r.get("count", 0)
    return {
        "impl": "pytorch",
        "source": f"torch.profiler ({d.get('what', key)})",
        "steps_counted": steps,
        "families": {k: {"s_per_step": v / steps, "launches_per_step": fam_n[k] / steps} for k, v in fam_t.items()},
    }


def by_class(p):
    out = collections.defaultdict(lambda: [0.0, 0.0])
    for fam, v in p["families"].items():
        c = out[classify(fam)]
        c[0] += v["s_per_step"]
        c[1] += v["launches_per_step"]
    return out


def total(p):
    return sum(v["s_per_step"] for v in p["families"].values())


def launches(p):
    return sum(v["launches_per_step"] for v in p["families"].values())


def markdown(c, t, step_c, step_t, top):
    md = []
    sides = [(n, p, s) for n, p, s in (("cosmotok", c, step_c), ("PyTorch", t, step_t)) if p]
    md += ["| | " + " | ".join(n for n, _, _ in sides) + " |", "|---|" + "---|" * len(sides)]
    md.append("| device time in kernels, ms per step | " + " | ".join(f"{total(p) * 1e3:.1f}" for _, p, _ in sides) + " |")
    md.append("| kernel launches per step | " + " | ".join(f"{launches(p):.0f}" for _, p, _ in sides) + " |")
    if any(s for _, _, s in sides):
        md.append("| measured step, ms (median, unprofiled run) | " + " | ".join(f"{s * 1e3:.1f}" if s else "—" for _, _, s in sides) + " |")
        md.append("| share of the step spent in kernels | " + " | ".join(
            f"{min(total(p) / s, 9.99):.0%}" if s else "—" for _, p, s in sides) + " |")
    md.append("")
    classes = {n: by_class(p) for n, p, _ in sides}
    names = sorted({k for v in classes.values() for k in v}, key=lambda k: -max(v.get(k, [0])[0] for v in classes.values()))
    md += ["| kernel class | " + " | ".join(f"{n} ms/step (launches)" for n, _, _ in sides) + " |",
           "|---|" + "---|" * len(sides)]
    for k in names:
        cells = []
        for n, _, _ in sides:
            v = classes[n].get(k)
            cells.append(f"{v[0] * 1e3:.1f} ({v[1]:.0f})" if v else "—")
        md.append(f"| {k} | " + " | ".join(cells) + " |")
    md.append("")
    for n, p, _ in sides:
        tot = total(p) or 1.0
        md += [f"Top kernels, {n} ({p['source']}):", "", "| kernel | class | ms/step | share | launches/step |", "|---|---|---|---|---|"]
        rows = sorted(p["families"].items(), key=lambda kv: -kv[1]["s_per_step"])[:top]
        for fam, v in rows:
            md.append(f"| `{fam}` | {classify(fam)} | {v['s_per_step'] * 1e3:.2f} | {v['s_per_step'] / tot:.1%} | {v['launches_per_step']:.0f} |")
        md.append("")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cubecl")
    ap.add_argument("--steps", type=int, default=2, help="training steps the cubecl log covers")
    ap.add_argument("--torch")
    ap.add_argument("--step-cosmotok", type=float)
    ap.add_argument("--step-torch", type=float)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--md")
    ap.add_argument("--json")
    a = ap.parse_args()
    c = read_cubecl(a.cubecl, a.steps) if a.cubecl else None
    t = read_torch(a.torch) if a.torch else None
    if not c and not t:
        sys.exit("gpu_profile_summary: give --cubecl and/or --torch")
    if c and not c["families"]:
        sys.exit(f"gpu_profile_summary: no kernel lines in {a.cubecl} (was cubecl's profiling logger on?)")
    md = markdown(c, t, a.step_cosmotok, a.step_torch, a.top)
    print(md)
    if a.md:
        open(a.md, "w").write(md + "\n")
    if a.json:
        json.dump({"cosmotok": c, "pytorch": t, "step_cosmotok_s": a.step_cosmotok, "step_torch_s": a.step_torch},
                  open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
