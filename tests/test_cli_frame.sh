#!/bin/sh
# test_cli_frame.sh — `denoise frame` and `denoise train-frame` as a user
# runs them: exit codes (0 ok, 1 failure, 2 usage), messages that name the
# problem, output of the input's size and colour kind, no output file left
# behind on failure, and a tiny training run that writes a loadable model.
# Test pictures come from ffmpeg's test source, the grayscale and progressive
# ones through cjpeg (libjpeg-turbo-progs), since ffmpeg's MJPEG encoder
# writes neither.
set -u
bin="${DN_BUILDDIR:-.}/tools/denoise"
tmp=$(mktemp -d /tmp/test_cli_frame.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

expect() {
	want=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $* exited $got, expected $want"; cat "$tmp/out"; fail=$((fail + 1)); return
	fi
	if [ -n "$pat" ] && ! grep -Eq -- "$pat" "$tmp/out"; then
		echo "FAIL: $*: output lacks /$pat/"; cat "$tmp/out"; fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

check() { # check DESCRIPTION CMD...
	d=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d"; fail=$((fail + 1)); fi
}

probe() { # probe FILE: "W,H,PIX_FMT"
	ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 "$1"
}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v cjpeg >/dev/null 2>&1; then
	echo "SKIP: ffmpeg or cjpeg (libjpeg-turbo-progs) is not installed"
	exit 77
fi
ffmpeg -v error -f lavfi -i testsrc=size=200x136 -frames:v 1 -q:v 3 "$tmp/in.jpg"
ffmpeg -v error -f lavfi -i testsrc=size=96x64 -frames:v 1 -pix_fmt gray "$tmp/gray.pgm"
cjpeg -quality 90 "$tmp/gray.pgm" >"$tmp/gray.jpg"
ffmpeg -v error -f lavfi -i testsrc=size=130x90 -frames:v 1 "$tmp/rgb.ppm"
cjpeg -quality 90 -progressive "$tmp/rgb.ppm" >"$tmp/prog.jpg"

expect 2 "expected IN and OUT" "$bin" frame "$tmp/in.jpg"
expect 2 "quality wants 1..100" "$bin" frame "$tmp/in.jpg" "$tmp/o.jpg" --quality 0
expect 0 "usage: denoise frame" "$bin" frame --help
expect 0 "wrote" "$bin" model-init "$tmp/frame.safetensors" --filters 4 --depth 2 --kind frame
expect 0 "wrote" "$bin" model-init "$tmp/speech.safetensors" --filters 2 --depth 1
expect 1 "not a frame model" "$bin" frame "$tmp/in.jpg" "$tmp/o.jpg" --model "$tmp/speech.safetensors"
expect 1 "missing.jpg" "$bin" frame "$tmp/missing.jpg" "$tmp/o.jpg" --model "$tmp/frame.safetensors"
head -c 3000 /dev/urandom >"$tmp/junk.jpg"
expect 1 "neither a JPEG .* nor a PNG" "$bin" frame "$tmp/junk.jpg" "$tmp/o.jpg" --model "$tmp/frame.safetensors"
head -c 1500 "$tmp/in.jpg" >"$tmp/cut.jpg"
expect 1 "corrupt or truncated|not a readable" "$bin" frame "$tmp/cut.jpg" "$tmp/o.jpg" --model "$tmp/frame.safetensors"
check "no output after failures" test ! -e "$tmp/o.jpg"

expect 0 "200x136, 3 channel" "$bin" frame "$tmp/in.jpg" "$tmp/o.jpg" --model "$tmp/frame.safetensors"
check "RGB output of the input's size" test "$(probe "$tmp/o.jpg" | cut -d, -f1,2)" = "200,136"
expect 0 "" "$bin" frame "$tmp/in.jpg" "$tmp/o0.jpg" --model "$tmp/frame.safetensors" --tile 0 --quality 70
check "whole-frame output is a JPEG too" test "$(probe "$tmp/o0.jpg" | cut -d, -f1,2)" = "200,136"
expect 0 "1 channel" "$bin" frame "$tmp/gray.jpg" "$tmp/og.jpg" --model "$tmp/frame.safetensors"
check "grayscale stays grayscale" test "$(probe "$tmp/og.jpg")" = "96,64,gray"
expect 0 "130x90, 3 channel" "$bin" frame "$tmp/prog.jpg" "$tmp/op.jpg" --model "$tmp/frame.safetensors"

# PNG in and out: the format by OUT's extension or --format, JPEG chroma.
codec() { ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$1"; }
ffmpeg -v error -f lavfi -i testsrc=size=200x136 -frames:v 1 -pix_fmt rgb24 "$tmp/in.png"
ffmpeg -v error -f lavfi -i testsrc=size=64x40 -frames:v 1 -pix_fmt rgba "$tmp/rgba.png"
ffmpeg -v error -f lavfi -i testsrc=size=64x40 -frames:v 1 -pix_fmt gray16be "$tmp/g16.png"
expect 0 "200x136, 3 channel" "$bin" frame "$tmp/in.png" "$tmp/o.png" --model "$tmp/frame.safetensors"
check "PNG in, .png out: an RGB PNG" test "$(codec "$tmp/o.png"),$(probe "$tmp/o.png")" = "png,200,136,rgb24"
expect 0 "" "$bin" frame "$tmp/in.png" "$tmp/o2.jpg" --model "$tmp/frame.safetensors"
check "PNG in, .jpg out: a 4:4:4 JPEG" test "$(codec "$tmp/o2.jpg"),$(probe "$tmp/o2.jpg")" = "mjpeg,200,136,yuvj444p"
expect 0 "" "$bin" frame "$tmp/in.png" "$tmp/o3.jpg" --model "$tmp/frame.safetensors" --subsampling 420
check "--subsampling 420" test "$(probe "$tmp/o3.jpg" | cut -d, -f3)" = "yuvj420p"
expect 0 "" "$bin" frame "$tmp/in.jpg" "$tmp/o4.out" --model "$tmp/frame.safetensors" --format png
check "--format png over an unknown extension" test "$(codec "$tmp/o4.out")" = "png"
expect 0 "" "$bin" frame "$tmp/in.png" "$tmp/o5.out" --model "$tmp/frame.safetensors"
check "no extension: the input's format" test "$(codec "$tmp/o5.out")" = "png"
expect 0 "64x40, 3 channel" "$bin" frame "$tmp/rgba.png" "$tmp/o6.png" --model "$tmp/frame.safetensors"
expect 0 "64x40, 1 channel" "$bin" frame "$tmp/g16.png" "$tmp/o7.png" --model "$tmp/frame.safetensors"
check "16-bit gray PNG: 8-bit gray out" test "$(probe "$tmp/o7.png" | cut -d, -f3)" = "gray"
expect 2 "format wants png or jpeg" "$bin" frame "$tmp/in.png" "$tmp/o8.png" --format gif
expect 2 "subsampling wants 444 or 420" "$bin" frame "$tmp/in.png" "$tmp/o8.jpg" --subsampling 422
head -c 900 "$tmp/in.png" >"$tmp/cut.png" # of 1.4 kB
expect 1 "corrupt or truncated PNG" "$bin" frame "$tmp/cut.png" "$tmp/o8.png" --model "$tmp/frame.safetensors"
check "no output after PNG failures" test ! -e "$tmp/o8.png"

# train-frame: usage, then a run of two steps on two tiny pictures.
expect 2 "--data and --out are required" "$bin" train-frame --out "$tmp/t.safetensors"
expect 2 "unknown option" "$bin" train-frame --data "$tmp" --out "$tmp/t.safetensors" --nope 1
mkdir -p "$tmp/data/train" "$tmp/data/val"
cp "$tmp/in.jpg" "$tmp/data/train/a.jpg"
cp "$tmp/gray.jpg" "$tmp/data/train/b.jpg"
cp "$tmp/in.png" "$tmp/data/train/d.png"
cp "$tmp/in.jpg" "$tmp/data/val/c.jpg"
expect 1 "cannot open .*nodata/train" "$bin" train-frame --data "$tmp/nodata" --out "$tmp/t.safetensors"
expect 0 "best epoch 1" "$bin" train-frame --data "$tmp/data" --out "$tmp/t.safetensors" --filters 2 \
	--depth 1 --epochs 1 --steps 2 --batch 2 --patch 16 --threads 1
expect 0 "200x136" "$bin" frame "$tmp/in.jpg" "$tmp/ot.jpg" --model "$tmp/t.safetensors"
# The camera-like noise options: Poisson-Gaussian noise and JPEG inputs.
expect 0 "best epoch 1" "$bin" train-frame --data "$tmp/data" --out "$tmp/pj.safetensors" --filters 2 \
	--depth 1 --epochs 1 --steps 2 --batch 2 --patch 16 --threads 1 --poisson-max 0.02 --jpeg-prob 0.5 \
	--jpeg-quality-min 40
expect 2 "jpeg-prob" "$bin" train-frame --data "$tmp/data" --out "$tmp/pj.safetensors" --jpeg-prob 2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
