#!/usr/bin/env bash
# Loader benchmark: cosmotok's Loader (Rust) beside a PyAV + PyTorch loader doing the same work
# (decode a 17-frame clip, resize the shortest side to the bucket, random crop, float [-1, 1])
# on the bundled videos, at the 256 buckets (crop table 256) and the 720 buckets (validation
# crops), with 1 and 2 workers, in the same run. Prints every result and the ratios.
#
# usage: scripts/bench_loader.sh [CLIPS_256] [CLIPS_720]
# env: CARGO_TARGET_DIR as usual; PYTHON (default python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
N256=${1:-24}
N720=${2:-12}
PY=${PYTHON:-python3.11}
# cosmotok-data at opt-level 3 (the dev profile builds workspace crates at 1).
CARGO=(cargo run -q -p cosmotok-data --features video --example bench_loader
       --config 'profile.dev.package.cosmotok-data.opt-level=3')
"${CARGO[@]}" -- 256 256 1 1 >/dev/null  # build first, outside the timings
out=$(mktemp)
for cfg in "256 256 $N256" "720 0 $N720"; do
  set -- $cfg
  for w in 1 2; do
    "${CARGO[@]}" -- "$1" "$2" "$w" "$3" | tee -a "$out"
    "$PY" scripts/bench_loader.py "$1" "$2" "$w" "$3" | tee -a "$out"
  done
done
echo
echo "ratio = cosmotok clips/s / PyAV clips/s (> 1: cosmotok faster)"
"$PY" - "$out" <<'PYEOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT"):
        kv = dict(x.split("=", 1) for x in line.split()[1:])
        rows[(kv["impl"], kv["resolution"], kv["workers"])] = kv
print(f"{'bucket':>6} {'workers':>7} {'rust clips/s':>12} {'pyav clips/s':>12} {'rust MB/s':>9} {'pyav MB/s':>9} {'ratio':>6}")
for res in ("256", "720"):
    for w in ("1", "2"):
        r, p = rows[("rust", res, w)], rows[("pyav", res, w)]
        ratio = float(r["clips_per_s"]) / float(p["clips_per_s"])
        print(f"{res:>6} {w:>7} {r['clips_per_s']:>12} {p['clips_per_s']:>12} {r['mb_per_s']:>9} {p['mb_per_s']:>9} {ratio:>6.2f}")
PYEOF
rm -f "$out"
