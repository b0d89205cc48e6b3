#!/usr/bin/env bash
# The reference recipe of issue 12: the best single tools, as a site without
# muscle-assets would run them. `python -m bench.web` runs this file with bash and
# times it as a whole; each tool call also appends its own CPU seconds (bash's
# `time`: user and system of that process and its children) to OUT/.cpu-<kind>.
#
#   bash bench/recipe.sh SRC OUT THUMB_BOX SETS_FILE GIFSKI
#
# SRC holds <SetId>-<k>.png, k = 1..16; SETS_FILE has one line per set:
# "<SetId> <GIF width> <animation width>" (our output sizes). Per frame:
# vipsthumbnail, cwebp -q 80, pngquant --quality 80-95 (the gallery PNG); per set:
# gifski --fps 10 -W <GIF width>, ffmpeg H.264 CRF 23 composited on white and
# VP9 CRF 32 with alpha, both scaled to the animation width. Frames two at a time,
# then sets two at a time.
set -euo pipefail

export SRC=$1 OUT=$2 BOX=$3 GIFSKI=$5
SETS_FILE=$4
mkdir -p "$OUT"

timed() {  # timed KIND COMMAND...: run it; its CPU seconds go to $OUT/.cpu-KIND
    local kind=$1 TIMEFORMAT="%U %S"
    shift
    { time "$@" 2>>"$OUT/.log"; } 2>>"$OUT/.cpu-$kind"
}

frame() {
    local f=$1 b
    b=$(basename "$f" .png)
    timed thumb-png vipsthumbnail "$f" -s "$BOX" -o "$OUT/$b-thumb.png"
    timed webp cwebp -quiet -q 80 "$f" -o "$OUT/$b.webp"
    # pngquant exits 99 when 80 is out of reach and writes nothing: the site
    # then ships the source PNG, as a script around it would.
    local status=0
    timed png pngquant --quality 80-95 --output "$OUT/$b.png" "$f" || status=$?
    if [ "$status" = 99 ]; then
        cp "$f" "$OUT/$b.png"
        echo "$b" >>"$OUT/.pngquant-kept-source"
    elif [ "$status" != 0 ]; then
        return "$status"
    fi
}

one_set() {
    local set_id=$1 gif_w=$2 anim_w=$3 frames=() width height
    for k in $(seq 1 16); do frames+=("$SRC/$set_id-$k.png"); done
    width=$(vipsheader -f width "${frames[0]}")
    height=$(vipsheader -f height "${frames[0]}")
    timed gif "$GIFSKI" --quiet --fps 10 -W "$gif_w" -o "$OUT/$set_id.gif" "${frames[@]}"
    local ff=(ffmpeg -nostdin -hide_banner -loglevel error -y -framerate 10 -i "$SRC/$set_id-%d.png")
    timed mp4 "${ff[@]}" -filter_complex \
        "color=c=white:s=${width}x${height}:r=10[bg];[bg][0:v]overlay=shortest=1,scale=$anim_w:-2" \
        -c:v libx264 -crf 23 -pix_fmt yuv420p -movflags +faststart "$OUT/$set_id.mp4"
    timed webm "${ff[@]}" -vf "scale=$anim_w:-2" \
        -c:v libvpx-vp9 -crf 32 -b:v 0 -pix_fmt yuva420p "$OUT/$set_id.webm"
}

export -f timed frame one_set
find "$SRC" -maxdepth 1 -name '*.png' -print0 | sort -z | xargs -0 -P2 -n1 bash -c 'frame "$1"' _
xargs -P2 -L1 bash -c 'one_set "$@"' _ <"$SETS_FILE"
