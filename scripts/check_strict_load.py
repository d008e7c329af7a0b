#!/usr/bin/env python3
"""Load a cosmotok-saved safetensors file into the OFFICIAL PyTorch modules with
`load_state_dict(strict=True)` (docs/architecture.md §7: the saved file must carry exactly the official keys).

Not run in CI (needs torch and the official Cosmos tokenizer code). Usage:

    pip install torch safetensors
    git clone https://github.com/NVIDIA/Cosmos-Tokenizer   # or cosmos-predict1
    cosmotok reconstruct ... # or any command that saves; e.g. the round trip test writes one:
    python3 scripts/check_strict_load.py OUT.safetensors tests/fixtures/parity/CV8x8x8.json \
        --repo /path/to/Cosmos-Tokenizer

The JSON is a fixture JSON (its `config` object) or a bare official config dict. Buffers that
the official modules register (wavelets, _arange, FSQ codebook) are filled from a freshly
built module, as cosmotok does not store non-learned buffers.
"""
import argparse
import json
import sys

from safetensors.torch import load_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("config_json")
    ap.add_argument("--repo", required=True, help="checkout of NVIDIA/Cosmos-Tokenizer")
    a = ap.parse_args()
    sys.path.insert(0, a.repo)
    from cosmos_tokenizer.networks import TokenizerConfigs  # noqa: F401 (import check)
    from cosmos_tokenizer.networks.continuous_image import ContinuousImageTokenizer
    from cosmos_tokenizer.networks.continuous_video import CausalContinuousVideoTokenizer
    from cosmos_tokenizer.networks.discrete_image import DiscreteImageTokenizer
    from cosmos_tokenizer.networks.discrete_video import CausalDiscreteVideoTokenizer

    cfg = json.load(open(a.config_json))
    cfg = cfg.get("config", cfg)
    name = cfg.get("name")
    cls = {
        "CI": ContinuousImageTokenizer,
        "DI": DiscreteImageTokenizer,
        "CV": CausalContinuousVideoTokenizer,
        "DV": CausalDiscreteVideoTokenizer,
    }[name]
    net = cls(**cfg)
    sd = load_file(a.weights)
    full = net.state_dict()
    # Non-learned buffers are not stored by cosmotok: take them from the fresh module.
    for k, v in full.items():
        if k not in sd and any(k.endswith(s) for s in ("wavelets", "_arange", "patch_size_buffer", "_levels", "_basis", "implicit_codebook")):
            sd[k] = v
    net.load_state_dict(sd, strict=True)
    print(f"strict load OK: {len(sd)} tensors into {cls.__name__}")


if __name__ == "__main__":
    main()
