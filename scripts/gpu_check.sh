#!/usr/bin/env bash
# One call on a GPU machine proves cosmotok's GPU path (issue #16). Parts, most important first
# (a lent machine gives one call of at most 10 minutes, so the script keeps a time budget and
# every part has a time cap; what did not fit is reported as not run):
#   env         the GPU, driver, CUDA toolkit, and where NVRTC was found (cuda only);
#   check-device `cosmotok check-device --device DEV`: encode, decode, loss, gradients and one
#               AdamW step on DEV against Flex, same weights and batch (fails beyond tolerance);
#   bench       the training-step benchmark, cosmotok (`cosmotok bench-step`) vs PyTorch
#               (`scripts/bench_train_step.py`, diffusers' AutoencoderKLCosmos) on the same
#               device in the same run: the Cosmos-1.0 CV8x8x8 structure at full width (channels
#               128), 1×3×17×256×256, L1 + 0.1·perceptual, step time and peak device memory, in
#               bf16-mixed (PyTorch: torch.autocast(bfloat16)) and f32, without and with
#               activation checkpointing;
#   profile     where the bf16-mixed step's device time goes, per kernel class and per kernel:
#               cubecl's profiling log of a `bench-step --train-only` run beside torch.profiler's
#               kernels (scripts/gpu_profile_summary.py);
#   quickstart  the quickstart model trained on DEV: 20 steps and a checkpoint, then the same
#               command again resumes it to 30; the loss must fall, the resume start at step 20;
#   wgpu        the same step on wgpu (Vulkan), when the binary has the `wgpu` feature.
# Order: env, check-device, bench bf16-mixed, profile, bench bf16-mixed with checkpointing,
# quickstart, bench f32 (both), wgpu. Writes into OUT only the reports: gpu_check.json (every
# record), gpu_check.md (the tables), gpu_check.log, profile.md and profile.json; the
# scratch (runs, checkpoints, the raw profiling log) goes to --work.
#
# cosmotok runs from a scratch directory whose cubecl.toml turns on cubecl's persistent kernel
# cache; autotune results persist too (cubecl keeps both under target/environment of the
# outermost Cargo workspace above that directory: this repository's). So each kernel is
# compiled, and each convolution and matmul shape tuned, once per call rather than once per
# process.
#
#   scripts/gpu_check.sh --device cuda --bin dist/cosmotok --out "$OUT"    # on a GPU machine
#   scripts/gpu_check.sh --device flex                                     # dry run, here
#   scripts/gpu_check.sh --device wgpu:cpu --tiny --bin B --skip-torch     # cubecl rehearsal
#
# `--device flex` is the dry run: the same parts on the CPU at tiny shapes (the check against
# Flex is then trivial, the benchmark runs at 8 channels, 9×32×32; Flex has no per-kernel log,
# so the profile part reports itself skipped), so that every line of this script runs without a
# GPU (crates/cli/tests/gpu_check.rs runs it). `--tiny` gives any device those shapes: on
# `wgpu:cpu` (Mesa's lavapipe) it rehearses the cubecl parts (fusion, autotune, the caches, the
# profiling log) here. The PyTorch side runs where python3 imports torch, torchvision and
# diffusers (on the GPU machine: install the carried wheels first, see README "GPU");
# elsewhere it is reported as skipped.
#
# Options: --device D (cuda, cuda:N, wgpu, wgpu:cpu, flex), --bin PATH (default:
# target/release/cosmotok, else target/debug/cosmotok), --out DIR (default: $OUT or
# target/gpu_check), --work DIR (default: target/gpu_check_work), --steps N (timed steps,
# default 5), --python PY (default python3), --skip-torch, --quick (bf16-mixed rows only),
# --tiny, --no-profile, --budget SECONDS (default 540 on a device, none for the dry run),
# --autotune minimal|balanced|extensive|full (cubecl's autotune effort; default balanced),
# --precision P (the precision of the first rows and of the profile, default bf16-mixed; the
# other rows are f32; `--precision f32` on a device without bf16, such as lavapipe).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)

DEV=cuda
BIN=""
OUTDIR="${OUT:-target/gpu_check}"
WORK=""
STEPS=5
PY=python3
SKIP_TORCH=0
QUICK=0
TINY=0
PROFILE=1
BUDGET=""
MAIN=bf16-mixed
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEV=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --skip-torch) SKIP_TORCH=1; shift ;;
        --quick) QUICK=1; shift ;;
        --tiny) TINY=1; shift ;;
        --no-profile) PROFILE=0; shift ;;
        --budget) BUDGET=$2; shift 2 ;;
        --autotune) export CUBECL_AUTOTUNE_LEVEL=$2; shift 2 ;;
        --precision) MAIN=$2; shift 2 ;;
        *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    esac
done
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }
if [ -z "$BIN" ]; then
    for b in target/release/cosmotok target/debug/cosmotok; do
        [ -x "$b" ] && BIN=$b && break
    done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "gpu_check: no cosmotok binary (build one: cargo build --release -p cosmotok-cli --features cuda; or pass --bin)" >&2
    exit 2
fi
BIN=$(abspath "$BIN")
OUTDIR=$(abspath "$OUTDIR")
WORK=$(abspath "${WORK:-target/gpu_check_work}")
mkdir -p "$OUTDIR"
rm -rf "$WORK"
mkdir -p "$WORK"
RECORDS="$OUTDIR/gpu_check.jsonl"
: > "$RECORDS"
LOG="$OUTDIR/gpu_check.log"
: > "$LOG"
rm -f "$OUTDIR/profile.md" "$OUTDIR/profile.json"

# One JSON line per part: {"part": ..., "ok": true/false, ...}.
record() { echo "$1" >> "$RECORDS"; }
say() { echo "== $* ($(elapsed) s)" | tee -a "$LOG" >&2; }
# A part that could not run or was cut off: {"part", "ok": false, "note", ...extra fields}.
record_fail() {
    "$PY" -c 'import json, sys; r = {"part": sys.argv[1], "ok": False, "note": sys.argv[2]}
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1); r[k] = json.loads(v)
print(json.dumps(r))' "$@" >> "$RECORDS"
}

case "$DEV" in
    flex|cpu) DRY=1 ;;
    *) DRY=0 ;;
esac
if [ "$DRY" = 1 ] || [ "$TINY" = 1 ]; then
    CH=8; T=9; H=32; W=32; WARM=1; STEPS=${STEPS_DRY:-2}
else
    CH=128; T=17; H=256; W=256; WARM=2
fi

# ---- time budget ------------------------------------------------------------------------------
T0=$(date +%s)
if [ -z "$BUDGET" ]; then
    if [ "$DRY" = 1 ] || [ "$TINY" = 1 ]; then BUDGET=0; else BUDGET=540; fi
fi
RESERVE=15 # seconds kept for the report
elapsed() { echo $(( $(date +%s) - T0 )); }
left() {
    if [ "$BUDGET" = 0 ]; then echo 1000000; else echo $(( T0 + BUDGET - RESERVE - $(date +%s) )); fi
}
# limited CAP CMD...: CMD from the directory $CWD (default: the repository) under `timeout`,
# capped by CAP seconds and by what is left of the budget (no budget: no cap either, the dry
# run and the rehearsal take as long as they take). Status 124: cut off; 125: no time was left
# to start it.
limited() {
    local cap=$1 l
    shift
    if [ "$BUDGET" = 0 ]; then
        (cd "${CWD:-$REPO}" && "$@")
        return
    fi
    l=$(left)
    if [ "$l" -lt 20 ]; then
        echo "gpu_check: not started, the budget is spent: $*" >>"$LOG"
        return 125
    fi
    [ "$l" -lt "$cap" ] && cap=$l
    (cd "${CWD:-$REPO}" && timeout -k 10 "$cap" "$@")
}
# Why a limited command failed, for its record.
why() {
    case "$1" in
        124|137) echo "cut off by its time cap" ;;
        125) echo "not run: the time budget ($BUDGET s) was spent" ;;
        *)
            local e
            e=$(tail -n 200 "$LOG" | grep -a '^error\|panicked at\|Error:' | tail -n 1 | cut -c1-300)
            echo "exit status $1${e:+: $e}"
            ;;
    esac
}

# cosmotok runs from here: cubecl.toml turns on the persistent kernel cache (cubecl finds the
# file in the working directory; its caches go to $REPO/target/environment).
RUNCWD="$WORK/cwd"
mkdir -p "$RUNCWD"
printf '[compilation]\ncache = true\n' > "$RUNCWD/cubecl.toml"
# The profiled run: the same, plus cubecl's per-launch profiling log.
PROFCWD="$WORK/profile"
PROFLOG="$WORK/cubecl_profile.log"
mkdir -p "$PROFCWD"
printf '[compilation]\ncache = true\n\n[profiling.logger]\nlevel = "basic"\nfile = "%s"\n' "$PROFLOG" > "$PROFCWD/cubecl.toml"

# ---- env: what the CUDA runtime will find ------------------------------------------------------
case "$DEV" in
    cuda*)
        say "env"
        if [ -z "${CUDA_PATH:-}" ]; then
            nvcc_dir=$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /x/x/x)")")
            for d in /usr/local/cuda "$nvcc_dir" /usr/local/cuda-*; do
                if [ -f "$d/include/cuda.h" ]; then export CUDA_PATH=$d; break; fi
            done
        fi
        # cudarc opens libnvrtc.so / libnvrtc.so.13 by name: make sure the loader can see one.
        nvrtc=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libnvrtc\.so[.0-9]*$' | head -n 1)
        if [ -z "$nvrtc" ]; then
            pyn=$("$PY" -c 'import nvidia, os; print(" ".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p)))' 2>/dev/null)
            for d in "${CUDA_PATH:-/usr/local/cuda}/lib64" "${CUDA_PATH:-/usr/local/cuda}/targets/x86_64-linux/lib" $pyn; do
                f=$(ls "$d"/libnvrtc.so* 2>/dev/null | head -n 1)
                if [ -n "$f" ]; then
                    nvrtc=$f
                    export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
                    break
                fi
            done
        fi
        gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 1)
        nvcc_v=$(nvcc --version 2>/dev/null | tail -n 1)
        echo "gpu: $gpu; nvcc: $nvcc_v; CUDA_PATH=${CUDA_PATH:-unset}; nvrtc: ${nvrtc:-not found}; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" | tee -a "$LOG" >&2
        "$PY" -c 'import json, sys; print(json.dumps({"part": "env", "ok": bool(sys.argv[4]), "gpu": sys.argv[1], "nvcc": sys.argv[2], "cuda_path": sys.argv[3], "nvrtc": sys.argv[4] or None}))' \
            "$gpu" "$nvcc_v" "${CUDA_PATH:-}" "${nvrtc:-}" >> "$RECORDS"
        ;;
esac

# ---- check-device: numerics against Flex ------------------------------------------------------
say "check-device --device $DEV"
t0=$(date +%s.%N)
CWD=$RUNCWD limited 120 "$BIN" check-device --device "$DEV" --input "$REPO/assets/media/frames/episode_000" >"$WORK/check.txt" 2>>"$LOG"
st=$?
if [ "$st" = 0 ]; then ok=true; else ok=false; fi
tee -a "$LOG" < "$WORK/check.txt" >&2
record "$("$PY" - "$WORK/check.txt" "$ok" "$t0" "$(why "$st")" <<'EOF'
import json, sys, time
text = open(sys.argv[1]).read()
r = {"part": "check-device", "ok": sys.argv[2] == "true", "seconds": time.time() - float(sys.argv[3]), "output": text}
if not r["ok"]:
    r["note"] = sys.argv[4]
print(json.dumps(r))
EOF
)"

# ---- bench: training step, cosmotok vs PyTorch -------------------------------------------------
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
case "$DEV" in flex|cpu|wgpu*) TORCH_DEV=cpu ;; esac
SHAPE_ARGS=(--channels "$CH" --frames "$T" --height "$H" --width "$W" --batch 1
    --vgg "$VGG" --perceptual "$PERC")
BENCH_ARGS=("${SHAPE_ARGS[@]}" --warmup "$WARM" --steps "$STEPS")
ckjson() { [ "$1" = 1 ] && echo true || echo false; }

# bench_pair PRECISION CHECKPOINTING CAP [profile]: one cosmotok row (at most CAP seconds: the
# first run of a precision autotunes every convolution shape) and one PyTorch row.
bench_pair() {
    local prec=$1 ck=$2 cap=$3 prof=${4:-} out st ckflag=()
    [ "$ck" = 1 ] && ckflag=(--checkpointing)
    say "bench: cosmotok $prec checkpointing=$ck"
    out=$(CWD=$RUNCWD limited "$cap" "$BIN" bench-step --device "$DEV" --precision "$prec" "${ckflag[@]}" \
        "${BENCH_ARGS[@]}" --clip-dir "$REPO/assets/media/frames/episode_000" 2>>"$LOG")
    st=$?
    if [ "$st" = 0 ]; then
        record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="bench"; r["ok"]=True; print(json.dumps(r))')"
    else
        record_fail bench "$(why "$st")" impl='"cosmotok"' precision="\"$prec\"" checkpointing="$(ckjson "$ck")"
    fi
    [ "$HAVE_TORCH" = 1 ] || return 0
    say "bench: pytorch $prec checkpointing=$ck"
    local pargs=()
    [ -n "$prof" ] && pargs=(--profile "$WORK/torch_profile.json")
    out=$(limited 150 "$PY" scripts/bench_train_step.py "${BENCH_ARGS[@]}" --device "$TORCH_DEV" \
        --precision "$prec" --checkpointing "$ck" "${pargs[@]}" 2>>"$LOG")
    st=$?
    if [ "$st" = 0 ]; then
        record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="bench"; r["ok"]=True; print(json.dumps(r))')"
    else
        record_fail bench "$(why "$st")" impl='"pytorch"' precision="\"$prec\"" checkpointing="$(ckjson "$ck")"
    fi
}

# The median step of a recorded bench row (for the profile's "share of the step" line).
row_median() {
    "$PY" - "$RECORDS" "$1" "$MAIN" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("part") == "bench" and r.get("ok") and r.get("impl") == sys.argv[2] \
            and r.get("precision") == sys.argv[3] and not r.get("checkpointing"):
        print(r["step_median_s"])
        break
EOF
}

# ---- profile: where the main precision's step time goes on the device -------------------------
profile_part() {
    local st tm cm
    if [ "$DRY" = 1 ]; then
        record '{"part": "profile", "ok": true, "skipped": "Flex is not a cubecl runtime: no per-kernel log"}'
        return
    fi
    say "profile: cosmotok $MAIN, cubecl's per-kernel log"
    rm -f "$PROFLOG"
    # One warm-up step and two more: the summary leaves out each kernel's first launch.
    CWD=$PROFCWD limited 150 "$BIN" bench-step --device "$DEV" --precision "$MAIN" --train-only \
        "${SHAPE_ARGS[@]}" --warmup 1 --steps 2 --clip-dir "$REPO/assets/media/frames/episode_000" \
        >"$WORK/profile_bench.json" 2>>"$LOG"
    st=$?
    if [ "$st" != 0 ] || [ ! -s "$PROFLOG" ]; then
        record_fail profile "cosmotok's profiled run: $(why "$st")$([ -s "$PROFLOG" ] || echo '; no profiling log was written')"
        return
    fi
    gzip -c "$PROFLOG" > "$WORK/cubecl_profile.log.gz"
    tm=$(row_median pytorch)
    cm=$(row_median cosmotok)
    local targs=()
    [ -f "$WORK/torch_profile.json" ] && targs=(--torch "$WORK/torch_profile.json")
    if "$PY" scripts/gpu_profile_summary.py --cubecl "$PROFLOG" --steps 3 "${targs[@]}" \
        ${cm:+--step-cosmotok "$cm"} ${tm:+--step-torch "$tm"} \
        --md "$OUTDIR/profile.md" --json "$OUTDIR/profile.json" >>"$LOG" 2>&1; then
        record '{"part": "profile", "ok": true}'
    else
        record_fail profile "gpu_profile_summary.py failed, see gpu_check.log"
    fi
}

# ---- quickstart: 20 steps, then resume to 30 --------------------------------------------------
quickstart_part() {
    say "quickstart model on $DEV: 20 steps, then resume to 30"
    local run="$WORK/quickstart" frames="$REPO/assets/media/frames/episode_000" ok=true st t0
    # Images and the bundled frame folders only: a GPU binary may be built without `video`.
    local common=(--config "$REPO/configs/recipes/quickstart.toml" --quiet
        --set "run.out_dir=\"$run\"" --set "run.device=\"$DEV\"" --set run.checkpoint_every=10
        --set run.log_every=1 --set eval.every=0 --set eval.videos=false --set eval.max_clips=2
        --set "data.sources=[{ path = \"$REPO/assets/media/images\" }, { path = \"$frames\" }]"
        --set "data.eval_sources=[{ path = \"$frames\" }]"
        --set data.image_ratio=0.3 --set data.workers=0)
    t0=$(date +%s.%N)
    CWD=$RUNCWD limited 120 "$BIN" train "${common[@]}" --set run.iterations=20 >>"$LOG" 2>&1
    st=$?
    [ "$st" = 0 ] || ok=false
    if [ "$st" = 0 ]; then
        CWD=$RUNCWD limited 90 "$BIN" train "${common[@]}" --set run.iterations=30 >>"$LOG" 2>&1
        st=$?
        [ "$st" = 0 ] || ok=false
    fi
    record "$("$PY" - "$run" "$ok" "$t0" "$(why "$st")" <<'EOF'
import json, os, sys, time
run, ok, t0 = sys.argv[1], sys.argv[2] == "true", float(sys.argv[3])
rows = []
p = os.path.join(run, "metrics.jsonl")
if os.path.exists(p):
    rows = [json.loads(l) for l in open(p) if l.strip()]
train = [r for r in rows if r.get("kind") == "train"]
steps = [r["step"] for r in train]
loss = [r["loss"] for r in train]
ckdir = os.path.join(run, "checkpoints")
ckpts = sorted(os.listdir(ckdir)) if os.path.isdir(ckdir) else []
first = sum(loss[:5]) / max(len(loss[:5]), 1)
last = sum(loss[-5:]) / max(len(loss[-5:]), 1)
# The second command resumed at step 20: steps 21..30 follow 1..20 with no restart at 1.
resumed = steps == list(range(1, 31))
mem = {k: v for k, v in (train[-1] if train else {}).items() if "mem" in k or "rss" in k}
falls = bool(loss) and last < first
r = {"part": "quickstart", "ok": ok and resumed and falls and "step_00000030" in ckpts,
     "seconds": time.time() - t0, "steps": steps[-1] if steps else 0,
     "loss_first5": first, "loss_last5": last, "resumed_at_20": resumed,
     "checkpoints": ckpts, "memory": mem}
if not ok:
    r["note"] = sys.argv[4]
print(json.dumps(r))
EOF
)"
}

# ---- wgpu: the same step through Vulkan -------------------------------------------------------
wgpu_part() {
    local wdev=wgpu probe out st
    [ "$DRY" = 1 ] && wdev=wgpu:cpu
    case "$DEV" in wgpu*) wdev=$DEV ;; esac
    probe=$("$BIN" bench-step --device "$wdev" --steps 0 2>&1 || true)
    if grep -q "which this build lacks" <<< "$probe"; then
        say "wgpu: this binary has no wgpu feature (skipped)"
        record '{"part": "wgpu", "ok": true, "skipped": "binary built without the wgpu feature"}'
        return
    fi
    # NVIDIA's Vulkan driver manifest, where the device machine keeps it (see the device notes).
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    say "wgpu: train step on $wdev (f32)"
    out=$(CWD=$RUNCWD limited 150 "$BIN" bench-step --device "$wdev" "${BENCH_ARGS[@]}" \
        --clip-dir "$REPO/assets/media/frames/episode_000" 2>>"$LOG")
    st=$?
    if [ "$st" = 0 ]; then
        record "$(echo "$out" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["part"]="wgpu"; r["ok"]=True; print(json.dumps(r))')"
    else
        record_fail wgpu "$(why "$st")"
    fi
}

bench_pair "$MAIN" 0 300 profile
[ "$PROFILE" = 1 ] && profile_part
bench_pair "$MAIN" 1 150
quickstart_part
if [ "$QUICK" = 0 ] && [ "$MAIN" != f32 ]; then
    bench_pair f32 0 240
    bench_pair f32 1 150
fi
wgpu_part
say "parts done"

# ---- report -----------------------------------------------------------------------------------
"$PY" - "$RECORDS" "$OUTDIR" "$DEV" "$BUDGET" "$(elapsed)" "$MAIN" <<'EOF'
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, dev, budget, spent, main = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
json.dump(recs, open(os.path.join(out, "gpu_check.json"), "w"), indent=1)
md = [f"# gpu_check on `{dev}`", "", f"{spent} s (budget: {budget if budget != '0' else 'none'})", ""]
for r in recs:
    if r["part"] == "env":
        md += ["## Machine", "", f"{r['gpu']}; {r['nvcc']}; CUDA_PATH {r['cuda_path'] or 'unset'}; NVRTC {r['nvrtc'] or 'NOT FOUND'}", ""]
    elif r["part"] == "check-device":
        md += ["## check-device", "", f"ok: {r['ok']}", "", "```", r["output"].strip(), "```", ""]
    elif r["part"] == "quickstart" and "loss_first5" in r:
        md += ["## quickstart steps with resume", "",
               f"ok: {r['ok']}; steps {r['steps']}, loss (mean of first 5 / last 5) "
               f"{r['loss_first5']:.4f} → {r['loss_last5']:.4f}; resumed at 20: {r['resumed_at_20']}; "
               f"memory {r['memory']}", ""]
bench = [r for r in recs if r["part"] == "bench" and r.get("ok")]
if bench:
    md += ["## train step, cosmotok vs PyTorch (same device, same run)", "",
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
prof = os.path.join(out, "profile.md")
if os.path.exists(prof):
    md += [f"## where the {main} step's device time goes", "", open(prof).read().strip(), ""]
failed = [r for r in recs if not r.get("ok")]
md += ["## Failures" if failed else "All parts passed.", ""]
md += [f"- {r['part']} {r.get('impl', '')} {r.get('precision', '')}: {r.get('note', 'failed')}" for r in failed]
open(os.path.join(out, "gpu_check.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
if grep -q '"ok": false' "$RECORDS"; then exit 1; fi
exit 0
