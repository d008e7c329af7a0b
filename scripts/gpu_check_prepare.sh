#!/usr/bin/env bash
# Prepares what scripts/gpu_check.sh needs on a GPU machine that has no Rust and no network
# (the lent H100/H200: CUDA toolkit, PyTorch 2.11 + cu130, Python 3.12), here, where both are:
#   dist/cosmotok.gz  the release CLI built with `cuda,wgpu` (no `video`: that machine has no
#                   FFmpeg libraries; gpu_check trains on images and frame folders), stripped and
#                   gzipped (stripped, a `cuda,video` build is 66 MiB and this `cuda,wgpu` one
#                   74 MiB, over the 64 MiB that travels; gzipped 16 and 19 MiB; the clean
#                   release build took 15 min here);
#   .whl/           the wheels PyTorch's side needs beyond that machine's packages (diffusers and
#                   importlib_metadata), for Python 3.12.
# Both are git-ignored; carry them (`carry: ["dist", ".whl"]`) and run, in one call:
#   gunzip -kf dist/cosmotok.gz && \
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \
#     PYTHONPATH=/tmp/site scripts/gpu_check.sh --device cuda --bin dist/cosmotok --out "$OUT"
# Part 4 (wgpu on the GPU) also needs the Vulkan loader carried: see the device tool's notes
# (`.gl/` with libvulkan1 and friends, unpacked at the start of the call).
# Idempotent: an existing build is reused by cargo, wheels already downloaded are kept.
#
#   FEATURES=cuda,wgpu scripts/gpu_check_prepare.sh     # default features
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES=${FEATURES:-cuda,wgpu}

cargo build --release -p cosmotok-cli --features "$FEATURES"
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/release/cosmotok" dist/cosmotok
strip dist/cosmotok
gzip -kf dist/cosmotok
rm dist/cosmotok
ls -l dist/cosmotok.gz

mkdir -p .whl
for spec in diffusers importlib_metadata; do
    if ! ls .whl/"${spec}"-*.whl >/dev/null 2>&1; then
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux2014_x86_64 --platform any -d .whl "$spec"
    fi
done
ls -l .whl
du -sh dist .whl
