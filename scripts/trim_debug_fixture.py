#!/usr/bin/env python3
"""Copy a shared/fixtures/debug/*.safetensors file into tests/fixtures/debug without the bulky
per-stage activations (`ref.act.*`), keeping weights, input, outputs, loss and gradients.

    python3 scripts/trim_debug_fixture.py ../shared/fixtures/debug/CV8x8x8.safetensors tests/fixtures/debug/

Needs `pip install numpy safetensors` (not torch). The tensors are copied bit-for-bit.
"""
import json
import shutil
import sys
from pathlib import Path

from safetensors.numpy import load_file, save_file

KEEP_ACT = ("ref.act.encoder.conv_out", "ref.act.decoder.conv_in")

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
tensors = load_file(str(src))
kept = {k: v for k, v in tensors.items() if not k.startswith("ref.act.") or k in KEEP_ACT}
save_file(kept, str(dst / src.name))
shutil.copy(src.with_suffix(".json"), dst / src.with_suffix(".json").name)
print(f"{src.name}: kept {len(kept)} of {len(tensors)} tensors")
