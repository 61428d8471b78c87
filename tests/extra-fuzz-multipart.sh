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
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz-multipart 30 build-fuzz-multipart
fuzz_build fuzz_multipart "$top/tests/fuzz_multipart.c" "$top/api/multipart.c" "$top/core/util/error.c"

# Seeds: content type, newline, body.
seed() { printf '%s\n%b' "$2" "$3" >"$work/seeds/$1"; }
seed curl 'multipart/form-data; boundary=------------------------d74496d66958873e' \
	'--------------------------d74496d66958873e\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\0\0\0\0WAVE\r\n--------------------------d74496d66958873e\r\nContent-Disposition: form-data; name="model"\r\n\r\nspeech\r\n--------------------------d74496d66958873e--\r\n'
seed webkit 'multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW' \
	'------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name="format"\r\n\r\nflac\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n'
seed quoted 'multipart/form-data; boundary="a b:c"' \
	'preamble\r\n--a b:c \r\nContent-Disposition: form-data; name=x; filename="q\\"z"\r\n\r\n\r\n--a b:c--epilogue'

fuzz_run fuzz_multipart -max_len=4096
