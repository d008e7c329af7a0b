#!/usr/bin/env bash
# Issue #5's benchmark: one full training step (generator forward + L1 + 0.1·VGG16 perceptual,
# backward, global-norm clipping, AdamW, EMA) of a small CV8x8x8-structured tokenizer,
# cosmotok (burn Flex, CPU) vs PyTorch (diffusers AutoencoderKLCosmos, CPU), same machine,
# same run, same input sizes and the same (random) VGG-16 weights.
#
#   scripts/bench_train_step.sh            # default sizes
#   WARMUP=2 STEPS=5 scripts/bench_train_step.sh
#   SIZES="8:17:64:64:1 32:9:128:128:1" scripts/bench_train_step.sh   # channels:frames:h:w:batch
#   PERCEPTUAL=0 scripts/bench_train_step.sh   # L1 only (no VGG): the tokenizer's share
#   CPU_VGG=0 scripts/bench_train_step.sh      # VGG through burn's autodiff, not CpuVgg
#   KEEP_FREED=0 scripts/bench_train_step.sh   # glibc malloc left at its defaults
#
# The Rust example is built with the workspace's dev profile (dependencies — burn's kernels —
# at opt-level 3, workspace crates at 1; see Cargo.toml). A release build of burn takes ~16 min
# on the 2-core development machine. Set PROFILE=release to use `cargo --release` anyway.
# Both sides use THREADS threads (default 2): PyTorch through torch.set_num_threads, Flex through
# RAYON_NUM_THREADS (its rayon pool). On a loaded machine THREADS=1 gives much steadier times.
# Needs python3 with torch, torchvision, diffusers, safetensors, numpy and pillow.
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${WARMUP:-2}
STEPS=${STEPS:-5}
THREADS=${THREADS:-2}
SIZES=${SIZES:-"8:17:64:64:1 32:9:128:128:1"}
PROFILE=${PROFILE:-dev}
PERCEPTUAL=${PERCEPTUAL:-0.1}   # 0 drops the VGG term (to see where the time goes)
OUT=${OUT:-target/bench}
VGG="$OUT/vgg16_random.safetensors"
mkdir -p "$OUT"

python3 scripts/bench_train_step.py --write-vgg "$VGG" >&2

cargo_flags=(-p cosmotok-train --example bench_train_step)
[ "$PROFILE" = release ] && cargo_flags+=(--release)
cargo build "${cargo_flags[@]}" >&2
bin_dir=${CARGO_TARGET_DIR:-target}/$([ "$PROFILE" = release ] && echo release || echo debug)
BIN="$bin_dir/examples/bench_train_step"

results="$OUT/bench_train_step.jsonl"
: > "$results"
for size in $SIZES; do
    IFS=: read -r ch t h w b <<< "$size"
    args=(--channels "$ch" --frames "$t" --height "$h" --width "$w" --batch "$b"
          --warmup "$WARMUP" --steps "$STEPS" --vgg "$VGG" --perceptual "$PERCEPTUAL")
    echo "== channels $ch, input ${b}x3x${t}x${h}x${w}: cosmotok" >&2
    RAYON_NUM_THREADS="$THREADS" "$BIN" "${args[@]}" \
        --cpu-vgg "${CPU_VGG:-1}" --keep-freed-memory "${KEEP_FREED:-1}" | tee -a "$results" >&2
    echo "== channels $ch, input ${b}x3x${t}x${h}x${w}: pytorch" >&2
    python3 scripts/bench_train_step.py "${args[@]}" --threads "$THREADS" | tee -a "$results" >&2
done

python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["channels"], tuple(r["input"])), {})[r["impl"]] = r
print("| channels | input B×C×T×H×W | params (cosmotok / torch) | step cosmotok s (median / mean) "
      "| step PyTorch s (median / mean) | ratio cosmotok/PyTorch (median) | encode s c / t "
      "| decode s c / t | peak RSS MiB c / t |")
print("|---|---|---|---|---|---|---|---|---|")
for (ch, shape), d in by.items():
    c, t = d.get("cosmotok"), d.get("pytorch")
    if not (c and t):
        continue
    print(f"| {ch} | {'×'.join(map(str, shape))} | {c['num_params']} / {t['num_params']} "
          f"| {c['step_median_s']:.3f} / {c['step_mean_s']:.3f} "
          f"| {t['step_median_s']:.3f} / {t['step_mean_s']:.3f} "
          f"| {c['step_median_s'] / t['step_median_s']:.2f}× "
          f"| {c['encode_median_s']:.3f} / {t['encode_median_s']:.3f} "
          f"| {c['decode_median_s']:.3f} / {t['decode_median_s']:.3f} "
          f"| {c['peak_rss_train_mib']:.0f} / {t['peak_rss_train_mib']:.0f} |")
EOF
