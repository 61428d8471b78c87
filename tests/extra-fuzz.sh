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
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-60}
work=${FUZZ_DIR:-$top/build-fuzz}

fail() {
	echo "extra-fuzz: $*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v clang >/dev/null 2>&1 ||
	fail "clang not found: install the Debian packages clang and libclang-rt-14-dev"
jcflags=$(pkg-config --cflags jansson 2>/dev/null) && jlibs=$(pkg-config --libs jansson 2>/dev/null) ||
	fail "jansson not found: install the Debian package libjansson-dev"

mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts" || fail "cannot create $work"
rm -f "$work/seeds/"* "$work/artifacts/"*

# 1. Build: the target plus the core sources it needs.
echo "== building $work/fuzz_safetensors"
# shellcheck disable=SC2086
if ! clang -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$top" $jcflags \
	"$top/tests/fuzz_safetensors.c" "$top/core/safetensors.c" "$top/core/error.c" \
	$jlibs -o "$work/fuzz_safetensors" >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	if grep -q "clang_rt.fuzzer" "$work/build.log"; then
		fail "libFuzzer runtime missing: install the Debian package libclang-rt-14-dev"
	fi
	fail "build failed"
fi
if [ -s "$work/build.log" ]; then
	cat "$work/build.log"
	fail "the build gave warnings"
fi

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

# 3. Run.
echo "== fuzzing for ${secs}s"
"$work/fuzz_safetensors" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	-dict="$top/tests/fuzz_safetensors.dict" -artifact_prefix="$work/artifacts/" \
	-print_final_stats=1 "$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$work/fuzz.log" | tail -2
grep -E 'stat::(number_of_executed_units|peak_rss_mb)' "$work/fuzz.log"
echo "corpus: $(find "$work/corpus" -type f | wc -l) inputs in $work/corpus"

# 4. Verdict.
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	tail -n 60 "$work/fuzz.log"
	echo "extra-fuzz: libFuzzer exited $rc; inputs in $work/artifacts/"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
