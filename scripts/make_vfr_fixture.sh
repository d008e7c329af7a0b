#!/usr/bin/env bash
# The variable-frame-rate fixture of crates/data/tests/timestamps.rs: the bundled vtest.mp4
# (30 frames) at 192x144 with presentation times 0.0, 0.1, ..., 1.4 s (10 fps) then 1.5, 1.55,
# ..., 2.2 s (20 fps), H.264 in MP4 with a 1 ms time base. Needs the ffmpeg CLI
# (apt-get install ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
ffmpeg -y -loglevel error -i assets/media/videos/vtest.mp4 \
    -vf "scale=192:144,setpts='if(lt(N\,15)\,N*0.1\,1.5+(N-15)*0.05)/TB'" \
    -fps_mode vfr -enc_time_base 1/1000 -video_track_timescale 1000 \
    -c:v libx264 -crf 28 -preset medium -pix_fmt yuv420p -an \
    crates/data/tests/fixtures/vtest_vfr.mp4
