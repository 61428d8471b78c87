#!/usr/bin/env bash
# extra-fuzz-multipart.sh — fuzzes the multipart/form-data parser
# (tests/fuzz_multipart.c over api/multipart.c) with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Builds the target with clang outside automake, seeds a corpus with forms as
# browsers and curl send them, runs for FUZZ_SECONDS (default 30) and prints
# a last line "1 passed, 0 failed", or "0 passed, 1 failed" on a crash, a
# leak, a timeout or a build failure. The work directory (FUZZ_DIR, default
# build-fuzz-multipart/) keeps the corpus between runs and any crashing input
# under artifacts/; replay one with:
#   build-fuzz-multipart/fuzz_multipart build-fuzz-multipart/artifacts/crash-...
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-30}
work=${FUZZ_DIR:-$top/build-fuzz-multipart}

fail() {
	echo "extra-fuzz-multipart: $*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v clang >/dev/null 2>&1 ||
	fail "clang not found: install the Debian packages clang and libclang-rt-14-dev"
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts" || fail "cannot create $work"
rm -f "$work/seeds/"* "$work/artifacts/"*

echo "== building $work/fuzz_multipart"
if ! clang -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$top" \
	"$top/tests/fuzz_multipart.c" "$top/api/multipart.c" "$top/core/error.c" \
	-o "$work/fuzz_multipart" >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	grep -q "clang_rt.fuzzer" "$work/build.log" &&
		fail "libFuzzer runtime missing: install the Debian package libclang-rt-14-dev"
	fail "build failed"
fi
if [ -s "$work/build.log" ]; then
	cat "$work/build.log"
	fail "the build gave warnings"
fi

# Seeds: content type, newline, body.
seed() { printf '%s\n%b' "$2" "$3" >"$work/seeds/$1"; }
seed curl 'multipart/form-data; boundary=------------------------d74496d66958873e' \
	'--------------------------d74496d66958873e\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\0\0\0\0WAVE\r\n--------------------------d74496d66958873e\r\nContent-Disposition: form-data; name="model"\r\n\r\nspeech\r\n--------------------------d74496d66958873e--\r\n'
seed webkit 'multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW' \
	'------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name="format"\r\n\r\nflac\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n'
seed quoted 'multipart/form-data; boundary="a b:c"' \
	'preamble\r\n--a b:c \r\nContent-Disposition: form-data; name=x; filename="q\\"z"\r\n\r\n\r\n--a b:c--epilogue'

echo "== fuzzing for ${secs}s"
"$work/fuzz_multipart" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
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
