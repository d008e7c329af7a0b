#!/usr/bin/env bash
# Installs what building cosmotok needs on a fresh Debian 12 machine; does nothing when it is
# all there (safe to run before every command, as the README's two set-up commands do).
#
#   scripts/setup.sh && <command>
#
# - FFmpeg 5.1 development libraries, pkg-config and clang for the `video` feature (video-rs
#   binds FFmpeg through bindgen), from Debian with apt (as root, or through sudo);
# - a Rust toolchain (cargo, edition 2024: Rust >= 1.95): checked, not installed (see
#   https://rustup.rs).
set -euo pipefail

pkgs=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev libavfilter-dev
      pkg-config clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup.sh: missing ${missing[*]} and no apt-get: install the FFmpeg 5.1+ development" \
         "libraries, pkg-config and clang with your package manager" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup.sh: no cargo on PATH: install Rust 1.95 or newer (https://rustup.rs)" >&2
  exit 1
fi
