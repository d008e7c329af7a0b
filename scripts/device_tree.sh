#!/usr/bin/env bash
# What a device call carries is the working tree (tracked files and untracked files git does not
# ignore) plus the carried paths, at most 64 MiB in all. The test fixtures alone are about
# 56 MiB (PyTorch reference tensors), and the GPU check needs none of them, so for the call
# the checkout leaves them out of its working tree with git's sparse checkout (the files stay
# in git; `git status` stays clean):
#
#   scripts/device_tree.sh size [carried paths…]   # MiB that would travel, and whether it fits
#   scripts/device_tree.sh slim                    # leave tests/fixtures out of the working tree
#   scripts/device_tree.sh full                    # bring them back (git sparse-checkout disable)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=$((64 * 1024 * 1024))

size() {
    local bytes
    bytes=$( { git ls-files -z --cached --others --exclude-standard; for p in "$@"; do find "$p" -type f -print0; done; } |
        while IFS= read -r -d '' f; do [ -f "$f" ] && stat -c %s "$f"; done | awk '{s += $1} END {print s + 0}')
    awk -v b="$bytes" -v l="$LIMIT" 'BEGIN {printf "%.1f MiB of %.0f MiB: %s\n", b / 1048576, l / 1048576, b <= l ? "fits" : "TOO LARGE"}'
    [ "$bytes" -le "$LIMIT" ]
}

case "${1:-size}" in
    size) shift || true; size "$@" ;;
    slim)
        git sparse-checkout set --no-cone '/*' '!/tests/fixtures/'
        echo "tests/fixtures left out of the working tree (scripts/device_tree.sh full brings it back)"
        ;;
    full)
        git sparse-checkout disable
        echo "full working tree"
        ;;
    *) echo "usage: scripts/device_tree.sh size [paths…] | slim | full" >&2; exit 2 ;;
esac
