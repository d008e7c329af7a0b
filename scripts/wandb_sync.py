#!/usr/bin/env python3
"""Replay or tail a cosmotok run's metrics.jsonl into Weights & Biases.

cosmotok writes one JSON object per log step to <run_dir>/metrics.jsonl
({"kind": "train"|"eval"|"skip"|"rollback", "step": N, "time": unix_seconds, ...values}).
There is no usable Rust W&B client, so this bridge does the upload:

    pip install wandb
    python3 scripts/wandb_sync.py checkpoints/quickstart --project cosmotok            # replay
    python3 scripts/wandb_sync.py checkpoints/quickstart --project cosmotok --follow   # tail a live run
    WANDB_MODE=offline python3 scripts/wandb_sync.py ...   # then `wandb sync wandb/offline-run-*`

Metrics are logged as "<kind>/<name>" at the record's step. The run id is stored in
<run_dir>/wandb_run_id so re-running (or --follow after a restart) resumes the same W&B run and
skips the lines already uploaded (their count is kept in <run_dir>/wandb_synced_lines).
The resolved config (<run_dir>/config.toml) is attached as the run config.
"""
import argparse
import json
import pathlib
import sys
import time


def load_config(run_dir: pathlib.Path) -> dict:
    path = run_dir / "config.toml"
    if not path.exists():
        return {}
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def records(path: pathlib.Path, skip: int, follow: bool):
    """Yields (line_number, record); with follow, waits for new lines forever."""
    n = 0
    with open(path) as f:
        while True:
            line = f.readline()
            if not line:
                if not follow:
                    return
                time.sleep(2.0)
                continue
            if not line.endswith("\n"):  # partial line being written
                f.seek(f.tell() - len(line))
                time.sleep(0.5)
                continue
            n += 1
            if n <= skip:
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError:
                print(f"{path}:{n}: not JSON, skipped", file=sys.stderr)


def to_wandb(rec: dict) -> tuple[int, dict]:
    kind = rec.get("kind", "train")
    step = int(rec.get("step", 0))
    out = {}
    for k, v in rec.items():
        if k in ("kind", "step", "time"):
            continue
        if isinstance(v, str):  # NaN/inf are written as strings
            try:
                v = float(v)
            except ValueError:
                continue
        out[f"{kind}/{k}"] = v
    return step, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=pathlib.Path)
    ap.add_argument("--project", default="cosmotok")
    ap.add_argument("--entity", default=None)
    ap.add_argument("--name", default=None, help="W&B run name (default: the run directory name)")
    ap.add_argument("--follow", action="store_true", help="keep tailing metrics.jsonl")
    ap.add_argument("--dry-run", action="store_true", help="print what would be logged; no wandb needed")
    args = ap.parse_args()

    metrics = args.run_dir / "metrics.jsonl"
    if not metrics.exists():
        print(f"{metrics}: no such file (is {args.run_dir} a cosmotok run directory?)", file=sys.stderr)
        return 1
    synced_file = args.run_dir / "wandb_synced_lines"
    skip = int(synced_file.read_text()) if synced_file.exists() and not args.dry_run else 0

    run = None
    if not args.dry_run:
        import wandb

        id_file = args.run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        id_file.write_text(run_id)
        run = wandb.init(
            project=args.project,
            entity=args.entity,
            name=args.name or args.run_dir.name,
            id=run_id,
            resume="allow",
            config=load_config(args.run_dir),
        )
    last_step = -1
    for n, rec in records(metrics, skip, args.follow):
        step, values = to_wandb(rec)
        if args.dry_run:
            print(step, json.dumps(values, sort_keys=True))
            continue
        # W&B steps must not go backwards (a roll-back re-does steps): log them as extra keys.
        if step < last_step:
            values["rollback/step"] = step
            step = last_step
        run.log(values, step=step)
        last_step = step
        synced_file.write_text(str(n))
    if run is not None:
        run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
