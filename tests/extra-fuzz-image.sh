#!/usr/bin/env bash
# extra-fuzz-image.sh — fuzzes JPEG and PNG decoding (tests/fuzz_image.c over
# core/image/image.c, core/image/png.c, libturbojpeg and libpng) with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
# Builds the target with clang outside automake, seeds a corpus with small
# baseline, progressive, grayscale and CMYK JPEGs and RGB, palette, 16-bit
# gray and RGBA PNGs made by cjpeg/ffmpeg when
# they are installed, runs for FUZZ_SECONDS (default 30) and prints a last
# line "1 passed, 0 failed", or "0 passed, 1 failed" on a crash, a leak, a
# timeout or a build failure. The work directory (FUZZ_DIR, default
# build-fuzz-image/) keeps the corpus between runs and crashing inputs under
# artifacts/.
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz-image 30 build-fuzz-image
fuzz_build fuzz_image "$top/tests/fuzz_image.c" "$top/core/image/image.c" "$top/core/image/png.c" \
	"$top/core/util/file.c" "$top/core/util/error.c" -lturbojpeg $(pkg-config --cflags --libs libpng)

if command -v ffmpeg >/dev/null 2>&1 && command -v cjpeg >/dev/null 2>&1; then
	ffmpeg -v error -y -f lavfi -i testsrc=size=48x32 -frames:v 1 "$work/seeds/s.ppm"
	ffmpeg -v error -y -f lavfi -i testsrc=size=40x24 -frames:v 1 -pix_fmt gray "$work/seeds/g.pgm"
	cjpeg -quality 50 "$work/seeds/s.ppm" >"$work/seeds/base.jpg"
	cjpeg -quality 50 -progressive "$work/seeds/s.ppm" >"$work/seeds/prog.jpg"
	cjpeg -quality 50 -sample 1x1 -arithmetic "$work/seeds/s.ppm" >"$work/seeds/arith.jpg"
	cjpeg -quality 50 "$work/seeds/g.pgm" >"$work/seeds/gray.jpg"
	ffmpeg -v error -y -f lavfi -i testsrc=size=24x16 -frames:v 1 -pix_fmt rgb24 "$work/seeds/rgb.png"
	ffmpeg -v error -y -f lavfi -i testsrc=size=24x16 -frames:v 1 -pix_fmt pal8 "$work/seeds/pal.png"
	ffmpeg -v error -y -f lavfi -i testsrc=size=24x16 -frames:v 1 -pix_fmt gray16be "$work/seeds/g16.png"
	ffmpeg -v error -y -f lavfi -i testsrc=size=24x16 -frames:v 1 -pix_fmt rgba "$work/seeds/rgba.png"
	rm -f "$work/seeds/"*.ppm "$work/seeds/"*.pgm
fi

fuzz_run fuzz_image -max_len=8192
