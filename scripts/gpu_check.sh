#!/usr/bin/env bash
# One call on a GPU machine proves cosmotok's GPU path (issue #16). In order:
#   1. `cosmotok check-device --device DEV`: encode, decode, loss, gradients and one AdamW step
#      on DEV against Flex, same weights and batch (fails beyond tolerance);
#   2. the quickstart model trained on DEV: 20 steps, a checkpoint, then the same command again
#      resumes it to 30 steps; the loss must fall and the resume must start at step 20;
#   3. the training-step benchmark, cosmotok (`cosmotok bench-step`) vs PyTorch
#      (`scripts/bench_train_step.py`, diffusers' AutoencoderKLCosmos) on the same device in
#      the same run: the Cosmos-1.0 CV8x8x8 structure at full width (channels 128),
#      1×3×17×256×256, L1 + 0.1·perceptual, in f32 and bf16-mixed (PyTorch:
#      torch.autocast(bfloat16)), with and without activation checkpointing: step time and
#      peak device memory;
#   4. the same step on wgpu (Vulkan), when the binary has the `wgpu` feature.
# Writes gpu_check.json (every record) and gpu_check.md (the tables) into OUT.
#
#   scripts/gpu_check.sh --device cuda --bin dist/cosmotok --out "$OUT"    # on a GPU machine
#   scripts/gpu_check.sh --device flex                                     # dry run, here
#
# `--device flex` is the dry run: the same four parts on the CPU at tiny shapes (the check
# against Flex is then trivial, the benchmark runs at 8 channels, 9×32×32), so that every line
# of this script is exercised without a GPU (crates/cli/tests/gpu_check.rs runs it). The PyTorch
# side runs where python3 imports torch and diffusers (on the GPU machine: install the carried
# wheels first, see README "GPU"); elsewhere it is reported as skipped.
#
# Options: --device D (cuda, cuda:N, wgpu, flex), --bin PATH (default: target/release/cosmotok,
# else target/debug/cosmotok), --out DIR (default: $OUT or target/gpu_check), --steps N
# (timed steps, default 5), --python PY (default python3), --skip-torch, --quick (only the
# bf16-mixed rows of part 3).
set -uo pipefail
cd "$(dirname "$0")/.."

DEV=cuda
BIN=""
OUTDIR="${OUT:-target/gpu_check}"
STEPS=5
PY=python3
SKIP_TORCH=0
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEV=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --skip-torch) SKIP_TORCH=1; shift ;;
        --quick) QUICK=1; shift ;;
        *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$BIN" ]; then
    for b in target/release/cosmotok target/debug/cosmotok; do
        [ -x "$b" ] && BIN=$b && break
    done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "gpu_check: no cosmotok binary (build one: cargo build --release -p cosmotok-cli --features cuda; or pass --bin)" >&2
    exit 2
fi
mkdir -p "$OUTDIR"
WORK="$OUTDIR/work"
rm -rf "$WORK"
mkdir -p "$WORK"
RECORDS="$OUTDIR/gpu_check.jsonl"
: > "$RECORDS"
LOG="$OUTDIR/gpu_check.log"
: > "$LOG"
FAILED=0

# One JSON line per part: {"part": ..., "ok": true/false, ...}.
record() { echo "$1" >> "$RECORDS"; }
say() { echo "== $*" | tee -a "$LOG" >&2; }

case "$DEV" in
    flex|cpu) DRY=1 ;;
    *) DRY=0 ;;
esac
if [ "$DRY" = 1 ]; then
    CH=8; T=9; H=32; W=32; WARM=1; STEPS=${STEPS_DRY:-2}
else
    CH=128; T=17; H=256; W=256; WARM=2
fi

# ---- 1. numerics against Flex -------------------------------------------------------------
say "1. check-device --device $DEV"
t0=$(date +%s.%N)
if "$BIN" check-device --device "$DEV" --input assets/media/frames/episode_000 >"$WORK/check.txt" 2>>"$LOG"; then ok=true; else ok=false; FAILED=1; fi
cat "$WORK/check.txt" | tee -a "$LOG" >&2
record "$("$PY" - "$WORK/check.txt" "$ok" "$t0" <<'EOF'
import json, sys, time
text = open(sys.argv[1]).read()
print(json.dumps({"part": "check-device", "ok": sys.argv[2] == "true",
                  "seconds": time.time() - float(sys.argv[3]), "output": text}))
EOF
)"

# ---- 2. quickstart steps with a resume ------------------------------------------------------
say "2. quickstart model on $DEV: 20 steps, then resume to 30"
RUN="$WORK/quickstart"
# Images and the bundled frame folders only: a GPU binary may be built without `video`.
common=(--config configs/recipes/quickstart.toml --quiet
    --set "run.out_dir=\"$RUN\"" --set "run.device=\"$DEV\"" --set run.checkpoint_every=10
    --set run.log_every=1 --set eval.every=0 --set eval.videos=false --set eval.max_clips=2
    --set 'data.sources=[{ path = "assets/media/images" }, { path = "assets/media/frames/episode_000" }]'
    --set data.image_ratio=0.3 --set data.workers=0)
t0=$(date +%s.%N)
ok=true
"$BIN" train "${common[@]}" --set run.iterations=20 >>"$LOG" 2>&1 || { ok=false; FAILED=1; }
"$BIN" train "${common[@]}" --set run.iterations=30 >>"$LOG" 2>&1 || { ok=false; FAILED=1; }
record "$("$PY" - "$RUN" "$ok" "$t0" <<'EOF'
import json, os, sys, time
run, ok, t0 = sys.argv[1], sys.argv[2] == "true", float(sys.argv[3])
rows = []
p = os.path.join(run, "metrics.jsonl")
if os.path.exists(p):
    rows = [json.loads(l) for l in open(p) if l.strip()]
train = [r for r in rows if r.get("kind") == "train"]
steps = [r["step"] for r in train]
loss = [r["loss"] for r in train]
ckpts = sorted(os.listdir(os.path.join(run, "checkpoints"))) if os.path.isdir(os.path.join(run, "checkpoints")) else []
first = sum(loss[:5]) / max(len(loss[:5]), 1)
last = sum(loss[-5:]) / max(len(loss[-5:]), 1)
# The second command resumed at step 20: steps 21..30 follow 1..20 with no restart at 1.
resumed = steps == list(range(1, 31))
mem = {k: v for k, v in (train[-1] if train else {}).items() if "mem" in k or "rss" in k}
falls = bool(loss) and last < first
print(json.dumps({"part": "quickstart", "ok": ok and resumed and falls and "step_00000030" in ckpts,
                  "seconds": time.time() - t0, "steps": steps[-1] if steps else 0,
                  "loss_first5": first, "loss_last5": last, "resumed_at_20": resumed,
                  "checkpoints": ckpts, "memory": mem}))
EOF
)"
tail -n 1 "$RECORDS" | grep -q '"ok": true' || FAILED=1

# ---- 3. training step, cosmotok vs PyTorch ---------------------------------------------------
say "3. train step ${CH} channels, 1x3x${T}x${H}x${W}, cosmotok vs PyTorch on $DEV"
VGG="$WORK/vgg16_random.safetensors"
HAVE_TORCH=0
if [ "$SKIP_TORCH" = 0 ] && "$PY" -c 'import torch, torchvision, diffusers' 2>/dev/null; then
    HAVE_TORCH=1
    "$PY" scripts/bench_train_step.py --write-vgg "$VGG" >>"$LOG" 2>&1 || HAVE_TORCH=0
fi
if [ ! -f "$VGG" ]; then
    # No PyTorch here: cosmotok still runs, with the perceptual term dropped.
    PERC=0.0
else
    PERC=0.1
fi
TORCH_DEV=$DEV
case "$DEV" in cuda:*) TORCH_DEV=$DEV ;; flex|cpu) TORCH_DEV=cpu ;; esac
variants=("f32 0" "f32 1" "bf16-mixed 0" "bf16-mixed 1")
[ "$QUICK" = 1 ] && variants=("bf16-mixed 0" "bf16-mixed 1")
for v in "${variants[@]}"; do
    read -r prec ck <<< "$v"
    args=(--channels "$CH" --frames "$T" --height "$H" --width "$W" --batch 1
          --warmup "$WARM" --steps "$STEPS" --vgg "$VGG" --perceptual "$PERC")
    ckflag=(); [ "$ck" = 1 ] && ckflag=(--checkpointing)
    say "   cosmotok $prec checkpointing=$ck"
    if out=$("$BIN" bench-step --device "$DEV" --precision "$prec" "${ckflag[@]}" "${args[@]}" 2>>"$LOG"); then
        record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="bench"; r["ok"]=True; print(json.dumps(r))')"
    else
        FAILED=1
        record "{\"part\": \"bench\", \"impl\": \"cosmotok\", \"ok\": false, \"precision\": \"$prec\", \"checkpointing\": $([ "$ck" = 1 ] && echo true || echo false)}"
    fi
    if [ "$HAVE_TORCH" = 1 ]; then
        say "   pytorch $prec checkpointing=$ck"
        if out=$("$PY" scripts/bench_train_step.py "${args[@]}" --device "$TORCH_DEV" --precision "$prec" --checkpointing "$ck" 2>>"$LOG"); then
            record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="bench"; r["ok"]=True; print(json.dumps(r))')"
        else
            record "{\"part\": \"bench\", \"impl\": \"pytorch\", \"ok\": false, \"precision\": \"$prec\", \"checkpointing\": $([ "$ck" = 1 ] && echo true || echo false)}"
        fi
    fi
done

# ---- 4. the same step on wgpu ---------------------------------------------------------------
WGPU_DEV=wgpu
[ "$DRY" = 1 ] && WGPU_DEV=wgpu:cpu
probe=$("$BIN" bench-step --device "$WGPU_DEV" --steps 0 2>&1 || true)
if grep -q "which this build lacks" <<< "$probe"; then
    say "4. wgpu: this binary has no wgpu feature (skipped)"
    record '{"part": "wgpu", "ok": true, "skipped": "binary built without the wgpu feature"}'
else
    say "4. train step on $WGPU_DEV (f32)"
    if out=$("$BIN" bench-step --device "$WGPU_DEV" --channels "$CH" --frames "$T" --height "$H" --width "$W" \
            --warmup "$WARM" --steps "$STEPS" --vgg "$VGG" --perceptual "$PERC" 2>>"$LOG"); then
        record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="wgpu"; r["ok"]=True; print(json.dumps(r))')"
    else
        record '{"part": "wgpu", "ok": false, "note": "see gpu_check.log"}'
    fi
fi

# ---- report ---------------------------------------------------------------------------------
"$PY" - "$RECORDS" "$OUTDIR" "$DEV" <<'EOF'
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, dev = sys.argv[2], sys.argv[3]
json.dump(recs, open(os.path.join(out, "gpu_check.json"), "w"), indent=1)
md = [f"# gpu_check on `{dev}`", ""]
for r in recs:
    if r["part"] == "check-device":
        md += ["## 1. check-device", "", f"ok: {r['ok']}", "", "```", r["output"].strip(), "```", ""]
    elif r["part"] == "quickstart":
        md += ["## 2. quickstart steps with resume", "",
               f"ok: {r['ok']}; steps {r['steps']}, loss (mean of first 5 / last 5) "
               f"{r['loss_first5']:.4f} → {r['loss_last5']:.4f}; resumed at 20: {r['resumed_at_20']}; "
               f"memory {r['memory']}", ""]
bench = [r for r in recs if r["part"] == "bench" and r.get("ok")]
if bench:
    md += ["## 3. train step, cosmotok vs PyTorch (same device, same run)", "",
           "| precision | checkpointing | step cosmotok s (median) | step PyTorch s (median) | ratio | "
           "peak memory cosmotok MiB | peak memory PyTorch MiB (allocated / reserved) | params c / t |",
           "|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r.get("precision"), bool(r.get("checkpointing")))
    groups = {}
    for r in bench:
        groups.setdefault(key(r), {})[r["impl"]] = r
    for (prec, ck), g in groups.items():
        c, t = g.get("cosmotok"), g.get("pytorch")
        cm = (c or {}).get("gpu_mem_peak_mib", (c or {}).get("peak_rss_train_mib"))
        tm = f"{t['gpu_peak_allocated_mib']:.0f} / {t['gpu_peak_reserved_mib']:.0f}" if t and "gpu_peak_allocated_mib" in t else \
             (f"{t['peak_rss_train_mib']:.0f} (RSS)" if t else "—")
        ratio = f"{c['step_median_s'] / t['step_median_s']:.2f}×" if c and t else "—"
        md.append(f"| {prec} | {ck} | {c['step_median_s']:.3f} | " if c else f"| {prec} | {ck} | failed | ")
        md[-1] += (f"{t['step_median_s']:.3f} | " if t else "— | ") + f"{ratio} | " + \
                  (f"{cm:.0f} | " if isinstance(cm, (int, float)) else "— | ") + f"{tm} | " + \
                  f"{(c or {}).get('num_params', '—')} / {(t or {}).get('num_params', '—')} |"
    md.append("")
failed = [r for r in recs if not r.get("ok")]
md += ["## Failures" if failed else "All parts passed.", ""]
md += [f"- {r['part']} {r.get('impl', '')} {r.get('precision', '')}: {r.get('note', 'failed')}" for r in failed]
open(os.path.join(out, "gpu_check.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
if grep -q '"ok": false' "$RECORDS"; then FAILED=1; fi
exit $FAILED
