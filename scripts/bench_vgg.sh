#!/usr/bin/env bash
# The perceptual loss's VGG-16 (forward on x and x̂, gradient w.r.t. x̂): cosmotok's CpuVgg
# (`bench_vgg_cpu` example) vs PyTorch (`scripts/bench_vgg.py`), same machine, same run, same
# thread count, random weights and inputs. Prints a Markdown table with the ratio.
#
#   scripts/bench_vgg.sh                                  # default sizes
#   SIZES="1:17:64:64 1:9:128:128" THREADS=1 scripts/bench_vgg.sh   # batch:frames:h:w
#
# The Rust side runs with glibc malloc tuned as `cosmotok` tunes it at start-up
# (cosmotok_train::memory::keep_freed_memory), through the equivalent GLIBC_TUNABLES.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
THREADS=${THREADS:-2}
SIZES=${SIZES:-"1:17:64:64 1:9:128:128"}
OUT=${OUT:-target/bench}
VGG="$OUT/vgg16_random.safetensors"
mkdir -p "$OUT"
[ -f "$VGG" ] || python3 scripts/bench_train_step.py --write-vgg "$VGG" >&2
cargo build -p cosmotok-losses --example bench_vgg_cpu >&2
BIN=${CARGO_TARGET_DIR:-target}/debug/examples/bench_vgg_cpu

echo "| input B×C×T×H×W | cosmotok CpuVgg s | PyTorch s | ratio |"
echo "|---|---|---|---|"
for size in $SIZES; do
    IFS=: read -r b t h w <<< "$size"
    c=$(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647 \
        RAYON_NUM_THREADS="$THREADS" "$BIN" "$b" "$t" "$h" "$w" "$REPS")
    p=$(python3 scripts/bench_vgg.py --vgg "$VGG" --batch "$b" --frames "$t" --height "$h" \
        --width "$w" --reps "$REPS" --threads "$THREADS")
    python3 - "$c" "$p" <<'PY'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
shape = "×".join(str(v) for v in p["input"])
print(f"| {shape} | {c['loss_and_grad_s']:.3f} | {p['loss_and_grad_s']:.3f} | "
      f"{c['loss_and_grad_s'] / p['loss_and_grad_s']:.2f}× |")
PY
done
