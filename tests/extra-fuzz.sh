#!/usr/bin/env bash
# extra-fuzz.sh — fuzzes the safetensors reader (tests/fuzz_safetensors.c)
# with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Builds the target with clang outside automake, seeds a corpus with valid
# files, runs for FUZZ_SECONDS (default 60) and prints a last line
# "1 passed, 0 failed", or "0 passed, 1 failed" on a crash, a leak, a timeout
# or a build failure. The work directory (FUZZ_DIR, default build-fuzz/)
# keeps the corpus between runs and any crashing input under artifacts/;
# replay one with: build-fuzz/fuzz_safetensors build-fuzz/artifacts/crash-...
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz 60 build-fuzz
jcflags=$(pkg-config --cflags jansson 2>/dev/null) && jlibs=$(pkg-config --libs jansson 2>/dev/null) ||
	fuzz_fail "jansson not found: install the Debian package libjansson-dev"

# 1. Build: the target plus the core sources it needs.
# shellcheck disable=SC2086
fuzz_build fuzz_safetensors $jcflags "$top/tests/fuzz_safetensors.c" "$top/core/model/safetensors.c" \
	"$top/core/util/error.c" "$top/core/util/file.c" $jlibs

# 2. Seeds: valid files of every dtype, plus the numpy/PyTorch-made one.
# seed NAME JSON HEXDATA: writes length (u64 LE), JSON, then the data bytes.
seed() {
	local n=${#2} i
	{
		for i in 0 1 2 3 4 5 6 7; do
			printf "\\x$(printf %02x $(((n >> (8 * i)) & 255)))"
		done
		printf '%s' "$2"
		printf '%b' "$(printf '%s' "$3" | sed 's/../\\x&/g')"
	} >"$work/seeds/$1"
}
seed empty '{}      ' ''
seed f32 '{"__metadata__":{"kind":"audio","version":"1"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} ' \
	'0000803f000000c0'
seed mixed '{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},"q":{"dtype":"I64","shape":[],"data_offsets":[24,32]},"i":{"dtype":"I32","shape":[1],"data_offsets":[12,16]},"u":{"dtype":"U8","shape":[0,5],"data_offsets":[32,32]}}' \
	'003c00c0ff7b0100803f20c0050000000000000000000840ffffffffffffffff'
seed meta '{"__metadata__":{"snow":"\u2603","q":"a\"b"},"x.y":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}' \
	'010203'
cp "$top/tests/data/"*.safetensors "$work/seeds/" 2>/dev/null

# 3. Run and verdict.
fuzz_run fuzz_safetensors -max_len=8192 -dict="$top/tests/fuzz_safetensors.dict"
