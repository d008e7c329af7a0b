#!/usr/bin/env python3
"""Make the TorchScript / torch.save fixtures of `cosmotok-convert` (tests/fixtures/jit).

Not run in CI (needs torch); the small archives it writes are committed. Usage:

    python3 scripts/make_jit_fixtures.py            # writes tests/fixtures/jit/*

Written files:
* `structures.jit` — `torch.jit.trace` of a small module tree whose key names mimic the Cosmos
  ones: nested modules, Sequential / ModuleList indices, parameters and buffers in
  f32 / bf16 / f16 / f64 / i32 / i64 / u8 / bool, a tied parameter (one tensor under two keys),
  two buffers viewing one storage at different offsets, a transposed (non-contiguous) buffer, and
  a scripted sub-module with a plain tensor attribute and a List[int] attribute (neither is in
  `state_dict()`).
* `structures.pt` — `torch.save(module.state_dict())` of the same module (plain zip pickle).
* `CV8x8x8_autoencoder_bf16.jit` — an `autoencoder.jit`-like archive whose `state_dict()` is the
  parity fixture `tests/fixtures/parity/CV8x8x8.safetensors` (official keys) plus the Haar
  patcher buffers of the released files, cast to bf16 like the releases.
* `CV8x8x8_encoder_f32.jit` / `CV8x8x8_decoder_f32.jit` — `encoder.jit` (`encoder.*`,
  `quant_conv.*`) and `decoder.jit` (`post_quant_conv.*`, `decoder.*`) of the same weights, f32.
* `manifest.json` — for every archive above, what PyTorch's own loader gives
  (`torch.jit.load(p).state_dict()` or `torch.load(p)`): keys in order, dtype, shape and the
  SHA-256 of each tensor's contiguous little-endian bytes.
* `hostile_os_system.pt` — a zip whose `data.pkl` calls `os.system('touch /tmp/cosmotok_pwned')`
  through REDUCE (hand-written protocol-2 opcodes).
* `hostile_eval.jit` — a TorchScript-like archive whose `data.pkl` (protocol 4, STACK_GLOBAL)
  calls `builtins.eval` on a string that would run `touch /tmp/cosmotok_pwned`; pickled by
  `pickle.dumps` of an object with `__reduce__` (nothing is ever unpickled here).
* `missing_data_pkl.jit` — `structures.jit` without `structures/data.pkl`.
* `missing_storage.jit` — `structures.jit` without the storage `structures/data/3`.
"""

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import List

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "jit"
PARITY = ROOT / "tests" / "fixtures" / "parity" / "CV8x8x8.safetensors"

DTYPE_NAMES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.uint8: "U8",
    torch.bool: "BOOL",
    torch.int8: "I8",
    torch.int16: "I16",
}


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Contiguous little-endian bytes of a tensor (any dtype)."""
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.view(torch.uint8).numpy().tobytes()


def manifest_of(state_dict) -> list:
    return [
        {
            "key": k,
            "dtype": DTYPE_NAMES[v.dtype],
            "shape": list(v.shape),
            "sha256": hashlib.sha256(tensor_bytes(v)).hexdigest(),
        }
        for k, v in state_dict.items()
    ]


# ---------------------------------------------------------------- (a) structures


class CausalConv3d(torch.nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv3d = torch.nn.Conv3d(cin, cout, k)

    def forward(self, x):
        return self.conv3d(x)


class Patcher3D(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("wavelets", torch.tensor([0.7071067811865476] * 2))
        self.register_buffer("_arange", torch.arange(2), persistent=False)
        self.register_buffer("patch_size_buffer", 4 * torch.ones([1], dtype=torch.int32))

    def forward(self, x):
        return x * self.wavelets[0] + self._arange[0] + self.patch_size_buffer[0]


class Extras(torch.nn.Module):
    """Scripted: a plain tensor attribute and a List[int] attribute are not in state_dict."""

    def __init__(self):
        super().__init__()
        self.sizes: List[int] = [1, 2, 3]
        self.plain = torch.full([3], 7.0)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("octets", torch.arange(5, dtype=torch.uint8) * 50)
        self.register_buffer("halves", torch.linspace(-2, 2, 6, dtype=torch.float16).reshape(2, 3))
        base = torch.arange(10, dtype=torch.float64) / 3
        self.register_buffer("view_a", base[:4])  # shares storage with view_b
        self.register_buffer("view_b", base[4:].reshape(2, 3))  # storage offset 4
        self.register_buffer("transposed", (torch.arange(6.0) - 2.5).reshape(2, 3).t())

    def forward(self, x):
        return x + self.plain[0] + self.sizes[0]


class Structures(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        enc = torch.nn.Module()
        enc.patcher3d = Patcher3D()
        enc.conv_in = torch.nn.Sequential(CausalConv3d(3, 4, (1, 3, 3)), CausalConv3d(4, 4, (3, 1, 1)))
        enc.down = torch.nn.ModuleList([torch.nn.Module(), torch.nn.Module()])
        enc.down[1].block = torch.nn.ModuleList([CausalConv3d(4, 4, 1)])
        enc.norm_out = torch.nn.GroupNorm(1, 4)
        self.encoder = enc
        self.quant_conv = CausalConv3d(4, 2, 1).to(torch.bfloat16)
        self.extras = torch.jit.script(Extras())
        self.head = torch.nn.Linear(4, 4, bias=False)
        # Tied: one Parameter under two keys (`tied` and `head.weight`).
        self.tied = self.head.weight
        self.register_buffer("step", torch.tensor([123456789012], dtype=torch.int64))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g).to(p.dtype))

    def forward(self, x):
        return self.extras(x) + self.tied.sum() + self.step[0]


# ------------------------------------------------------- (b) parity-model archives


class Root(torch.nn.Module):
    def forward(self, x):
        return x * 2.0


def module_tree(tensors: dict, buffers: set) -> torch.nn.Module:
    """A module tree whose state_dict keys are exactly `tensors`' dotted keys."""
    root = Root()
    for key, value in tensors.items():
        *path, leaf = key.split(".")
        m = root
        for name in path:
            if not hasattr(m, name) or not isinstance(getattr(m, name), torch.nn.Module):
                m.add_module(name, torch.nn.Module())
            m = getattr(m, name)
        if key in buffers:
            m.register_buffer(leaf, value.clone())
        else:
            m.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    return root


def save_traced(module: torch.nn.Module, path: Path) -> None:
    traced = torch.jit.trace(module, torch.zeros(1, 3, 1, 2, 2), check_trace=False)
    torch.jit.save(traced, str(path))


def haar_buffers(prefix: str, with_patch_size: bool) -> dict:
    b = {
        f"{prefix}.wavelets": torch.tensor([0.7071067811865476, 0.7071067811865476]),
        f"{prefix}._arange": torch.arange(2),
    }
    if with_patch_size:
        b[f"{prefix}.patch_size_buffer"] = 4 * torch.ones([1], dtype=torch.int32)
    return b


# -------------------------------------------------------------- (c) hostile pickles


def write_zip(path: Path, entries: dict) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(name, data)


class EvalPayload:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch /tmp/cosmotok_pwned')",))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {}

    torch.manual_seed(0)
    s = Structures().eval()
    save_traced(s, OUT / "structures.jit")
    torch.save(s.state_dict(), OUT / "structures.pt")

    fx = {k: v for k, v in load_file(str(PARITY)).items() if not k.startswith("ref.")}
    bufs = {**haar_buffers("encoder.patcher3d", True), **haar_buffers("decoder.unpatcher3d", False)}
    full = {**fx, **bufs}
    ae = module_tree(full, set(bufs)).to(torch.bfloat16)
    save_traced(ae, OUT / "CV8x8x8_autoencoder_bf16.jit")
    enc = {k: v for k, v in full.items() if k.split(".")[0] in ("encoder", "quant_conv")}
    dec = {k: v for k, v in full.items() if k.split(".")[0] in ("post_quant_conv", "decoder")}
    save_traced(module_tree(enc, set(bufs)), OUT / "CV8x8x8_encoder_f32.jit")
    save_traced(module_tree(dec, set(bufs)), OUT / "CV8x8x8_decoder_f32.jit")

    for name in [
        "structures.jit",
        "CV8x8x8_autoencoder_bf16.jit",
        "CV8x8x8_encoder_f32.jit",
        "CV8x8x8_decoder_f32.jit",
    ]:
        manifest[name] = manifest_of(torch.jit.load(str(OUT / name)).state_dict())
    manifest["structures.pt"] = manifest_of(torch.load(OUT / "structures.pt", weights_only=True))
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    # os.system through GLOBAL + REDUCE, protocol 2, inside a torch.save-like zip.
    cmd = b"touch /tmp/cosmotok_pwned"
    evil = (
        b"\x80\x02"  # PROTO 2
        + b"cos\nsystem\n"  # GLOBAL 'os system'
        + b"X" + len(cmd).to_bytes(4, "little") + cmd  # BINUNICODE
        + b"\x85"  # TUPLE1
        + b"R"  # REDUCE
        + b"."  # STOP
    )
    write_zip(
        OUT / "hostile_os_system.pt",
        {
            "hostile_os_system/data.pkl": evil,
            "hostile_os_system/byteorder": b"little",
            "hostile_os_system/version": b"3\n",
        },
    )
    # builtins.eval through STACK_GLOBAL + REDUCE, protocol 4 (pickled, never loaded).
    evil4 = pickle.dumps({"weight": EvalPayload()}, protocol=4)
    assert b"eval" in evil4
    write_zip(
        OUT / "hostile_eval.jit",
        {
            "hostile_eval/data.pkl": evil4,
            "hostile_eval/constants.pkl": pickle.dumps((), protocol=2),
            "hostile_eval/version": b"3\n",
            "hostile_eval/byteorder": b"little",
        },
    )

    # Broken archives.
    with zipfile.ZipFile(OUT / "structures.jit") as z:
        entries = {i.filename: z.read(i.filename) for i in z.infolist()}
    write_zip(
        OUT / "missing_data_pkl.jit",
        {k.replace("structures/", "missing_data_pkl/", 1): v for k, v in entries.items() if k != "structures/data.pkl"},
    )
    write_zip(
        OUT / "missing_storage.jit",
        {k.replace("structures/", "missing_storage/", 1): v for k, v in entries.items() if k != "structures/data/3"},
    )
    for p in sorted(OUT.iterdir()):
        print(f"{p.name:36} {p.stat().st_size:>9} bytes")
    assert not os.path.exists("/tmp/cosmotok_pwned")


if __name__ == "__main__":
    main()
