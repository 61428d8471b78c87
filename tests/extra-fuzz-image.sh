#!/usr/bin/env bash
# extra-fuzz-image.sh — fuzzes JPEG decoding (tests/fuzz_image.c over
# core/image.c and libturbojpeg) with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
# Builds the target with clang outside automake, seeds a corpus with small
# baseline, progressive, grayscale and CMYK JPEGs made by cjpeg/ffmpeg when
# they are installed, runs for FUZZ_SECONDS (default 30) and prints a last
# line "1 passed, 0 failed", or "0 passed, 1 failed" on a crash, a leak, a
# timeout or a build failure. The work directory (FUZZ_DIR, default
# build-fuzz-image/) keeps the corpus between runs and crashing inputs under
# artifacts/.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-30}
work=${FUZZ_DIR:-$top/build-fuzz-image}

fail() {
	echo "extra-fuzz-image: $*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v clang >/dev/null 2>&1 ||
	fail "clang not found: install the Debian packages clang and libclang-rt-14-dev"
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts" || fail "cannot create $work"
rm -f "$work/seeds/"* "$work/artifacts/"*

echo "== building $work/fuzz_image"
if ! clang -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$top" \
	"$top/tests/fuzz_image.c" "$top/core/image.c" "$top/core/error.c" -lturbojpeg \
	-o "$work/fuzz_image" >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	fail "build failed"
fi
if [ -s "$work/build.log" ]; then
	cat "$work/build.log"
	fail "the build gave warnings"
fi

if command -v ffmpeg >/dev/null 2>&1 && command -v cjpeg >/dev/null 2>&1; then
	ffmpeg -v error -y -f lavfi -i testsrc=size=48x32 -frames:v 1 "$work/seeds/s.ppm"
	ffmpeg -v error -y -f lavfi -i testsrc=size=40x24 -frames:v 1 -pix_fmt gray "$work/seeds/g.pgm"
	cjpeg -quality 50 "$work/seeds/s.ppm" >"$work/seeds/base.jpg"
	cjpeg -quality 50 -progressive "$work/seeds/s.ppm" >"$work/seeds/prog.jpg"
	cjpeg -quality 50 -sample 1x1 -arithmetic "$work/seeds/s.ppm" >"$work/seeds/arith.jpg"
	cjpeg -quality 50 "$work/seeds/g.pgm" >"$work/seeds/gray.jpg"
	rm -f "$work/seeds/"*.ppm "$work/seeds/"*.pgm
fi

echo "== fuzzing for ${secs}s"
"$work/fuzz_image" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$work/fuzz.log" | tail -2
grep -E 'stat::(number_of_executed_units|peak_rss_mb)' "$work/fuzz.log"
echo "corpus: $(find "$work/corpus" -type f | wc -l) inputs in $work/corpus"

if [ "$rc" -ne 0 ] || ls "$work/artifacts/" | grep -q .; then
	tail -40 "$work/fuzz.log"
	fail "the fuzzer found a problem (exit $rc); inputs in $work/artifacts/"
fi
echo "1 passed, 0 failed"
