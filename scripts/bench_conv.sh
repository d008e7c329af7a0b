#!/usr/bin/env bash
# The VGG-16 perceptual loss's 3×3 convolutions, one at a time: cosmotok (burn Flex) vs PyTorch
# CPU, same machine, same run, same thread count, and the ratio. The shapes are VGG-16's layers
# on 17 frames of 64×64 (the training-step benchmark's channels-8 input).
#
#   scripts/bench_conv.sh                    # THREADS=2 REPS=5
#   THREADS=1 scripts/bench_conv.sh          # one core each (steady on a loaded machine)
#   SHAPES="17:64:64:64 9:128:128:64" scripts/bench_conv.sh   # N:C_in:C_out:H
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
REPS=${REPS:-5}
SHAPES=${SHAPES:-"17:3:64:64 17:64:64:64 17:64:128:32 17:128:128:32 17:128:256:16 17:256:256:16 17:256:512:8 17:512:512:8 17:512:512:4"}

cargo build -p cosmotok-kernels --example bench_conv >&2
BIN=${CARGO_TARGET_DIR:-target}/debug/examples/bench_conv

rows=()
for s in $SHAPES; do
    IFS=: read -r n ci co h <<< "$s"
    rows+=("$(RAYON_NUM_THREADS="$THREADS" "$BIN" "$n" "$ci" "$co" "$h" "$REPS")")
    rows+=("$(python3 scripts/bench_conv.py "$n" "$ci" "$co" "$h" "$REPS" "$THREADS")")
done

printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print("| N×C_in×H×W → C_out | forward s cosmotok / PyTorch | ratio | fwd+bwd s cosmotok / PyTorch | ratio |")
print("|---|---|---|---|---|")
tot = {"cosmotok": [0.0, 0.0], "pytorch": [0.0, 0.0]}
for c, t in zip(rows[0::2], rows[1::2]):
    for r in (c, t):
        tot[r["impl"]][0] += r["forward_s"]
        tot[r["impl"]][1] += r["forward_backward_s"]
    shape = "{}×{}×{}×{} → {}".format(c["n"], c["c_in"], c["h"], c["h"], c["c_out"])
    f, b = (c["forward_s"], t["forward_s"]), (c["forward_backward_s"], t["forward_backward_s"])
    print("| {} | {:.4f} / {:.4f} | {:.2f}× | {:.4f} / {:.4f} | {:.2f}× |".format(
        shape, f[0], f[1], f[0] / f[1], b[0], b[1], b[0] / b[1]))
c, t = tot["cosmotok"], tot["pytorch"]
print("| **sum** | {:.4f} / {:.4f} | {:.2f}× | {:.4f} / {:.4f} | {:.2f}× |".format(
    c[0], t[0], c[0] / t[0], c[1], t[1], c[1] / t[1]))
'
