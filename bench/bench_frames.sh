#!/bin/sh
# bench_frames.sh [MODEL] — frame denoising: PSNR, SSIM and ms per megapixel
# of our model (through `denoise frame`) against OpenCV's fastNlMeans and
# ffmpeg's nlmeans, hqdn3d and bm3d, on the test photographs at σ = 15, 25
# and 50 (fixed seed). Prints one Markdown table; never passes or fails on
# the figures. Run from the build directory (or set DN_BUILDDIR); the data
# cache is made by scripts/make-frame-data.py when missing. Extra options go
# to bench/bench_frames.py (e.g. --sigmas 25 --mp 0.25).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${DN_BUILDDIR:-$(pwd)}
model=${1:-$src/models/frame.safetensors}
[ $# -gt 0 ] && shift
data=$src/data/frames
[ -d "$data/test" ] || /usr/bin/python3 "$src/scripts/make-frame-data.py" --out "$data"
exec /usr/bin/python3 "$src/bench/bench_frames.py" --denoise "$build/tools/denoise" --model "$model" \
	--data "$data" "$@"
