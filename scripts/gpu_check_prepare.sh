#!/usr/bin/env bash
# Prepares what scripts/gpu_check.sh needs on a GPU machine that has no Rust and no network
# (the lent H100/H200: CUDA toolkit, PyTorch 2.11 + cu130, torchvision, Python 3.12), here,
# where both are:
#   dist/cosmotok.gz  the release CLI built with `cuda,wgpu` (no `video`: that machine has no
#                   FFmpeg libraries; gpu_check trains on images and frame folders), stripped and
#                   gzipped (with burn's autotune and fusion it is 113 MiB stripped, over the
#                   64 MiB that travels, and 33 MiB gzipped; a clean release build takes about
#                   15-20 min on 2 cores);
#   .whl/           the wheels PyTorch's side needs beyond that machine's packages (diffusers and
#                   importlib_metadata), for Python 3.12;
#   .gl/            the Vulkan loader and GL dispatch libraries (Debian amd64 packages) for the
#                   wgpu part, which that machine lacks (see the device tool's notes).
# All three are git-ignored. The call also carries the working tree, and with the test fixtures
# (56 MiB) it would not fit: this script leaves them out of the working tree
# (`scripts/device_tree.sh slim`, git's sparse checkout; `scripts/device_tree.sh full` brings
# them back after the call). Then ONE device call (timeout_s 600), carrying them:
#   carry: ["dist", ".whl", ".gl"]
#   command:
#     for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; gunzip -kf dist/cosmotok.gz &&
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade
#       --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site scripts/gpu_check.sh
#       --device cuda --bin dist/cosmotok --out "$OUT" --budget 540
# and copy the tables of $OUT/gpu_check.md into BENCHMARKS.md.
# Idempotent: cargo reuses an existing build, downloaded wheels and packages are kept.
#
#   FEATURES=cuda,wgpu scripts/gpu_check_prepare.sh     # default features
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES=${FEATURES:-cuda,wgpu}

cargo build --release -p cosmotok-cli --features "$FEATURES"
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/release/cosmotok" dist/cosmotok
strip dist/cosmotok
# The binary runs and names its devices before it travels.
dist/cosmotok bench-step --device cuda --steps 0 2>&1 | grep -q "which this build lacks" &&
    { echo "gpu_check_prepare: dist/cosmotok was built without cuda" >&2; exit 1; }
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

# The Vulkan loader for part `wgpu` (the device tool's recipe: amd64 packages, unpacked on the
# device machine at the start of the call).
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update -qq
    (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
ls -l .gl
du -shc dist .whl .gl
# The call carries the working tree too: without the test fixtures (56 MiB) it fits.
if ! scripts/device_tree.sh size dist .whl .gl; then
    scripts/device_tree.sh slim
    scripts/device_tree.sh size dist .whl .gl
    echo "After the call: scripts/device_tree.sh full"
fi
cat <<'CMD'
Now one device call, timeout_s 600, carry ["dist", ".whl", ".gl"], command:
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; gunzip -kf dist/cosmotok.gz && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site scripts/gpu_check.sh --device cuda --bin dist/cosmotok --out "$OUT" --budget 540
CMD
