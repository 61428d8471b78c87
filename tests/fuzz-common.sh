# fuzz-common.sh — the steps the extra-fuzz*.sh scripts share: each sets
# $top (the source tree), sources this file and calls, in order,
#   fuzz_init NAME SECONDS DIR   messages are prefixed "NAME: "; fuzzes for
#                                FUZZ_SECONDS (default SECONDS) in FUZZ_DIR
#                                (default $top/DIR), which keeps corpus/
#                                between runs; seeds/ and artifacts/ are
#                                emptied;
#   fuzz_build TARGET ARGS...    clang with libFuzzer, ASan and UBSan over
#                                ARGS (sources, flags, libraries); a warning
#                                fails the run like an error;
#   (its own seeds into $work/seeds)
#   fuzz_run TARGET FLAGS...     libFuzzer with the common limits plus FLAGS.
# Every way out prints a last line "1 passed, 0 failed" or "0 passed,
# 1 failed" (exit 1), as the other extra-*.sh scripts do. Sourced,
# not run: it has no #! line and is not executable.

fuzz_fail() {
	echo "$fuzz_name: $*"
	echo "0 passed, 1 failed"
	exit 1
}

fuzz_init() {
	fuzz_name=$1
	secs=${FUZZ_SECONDS:-$2}
	work=${FUZZ_DIR:-$top/$3}
	command -v clang >/dev/null 2>&1 ||
		fuzz_fail "clang not found: install the Debian packages clang and libclang-rt-14-dev"
	mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts" || fuzz_fail "cannot create $work"
	rm -f "$work/seeds/"* "$work/artifacts/"*
}

fuzz_build() {
	local target=$1
	shift
	echo "== building $work/$target"
	if ! clang -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$top" \
		"$@" -o "$work/$target" >"$work/build.log" 2>&1; then
		cat "$work/build.log"
		grep -q "clang_rt.fuzzer" "$work/build.log" &&
			fuzz_fail "libFuzzer runtime missing: install the Debian package libclang-rt-14-dev"
		fuzz_fail "build failed"
	fi
	if [ -s "$work/build.log" ]; then
		cat "$work/build.log"
		fuzz_fail "the build gave warnings"
	fi
}

fuzz_run() {
	local target=$1 rc
	shift
	echo "== fuzzing for ${secs}s"
	"$work/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "$@" \
		-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
		"$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$work/fuzz.log" | tail -2
	grep -E 'stat::(number_of_executed_units|peak_rss_mb)' "$work/fuzz.log"
	echo "corpus: $(find "$work/corpus" -type f | wc -l) inputs in $work/corpus"
	if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
		tail -n 60 "$work/fuzz.log"
		fuzz_fail "the fuzzer found a problem (exit $rc); inputs in $work/artifacts/"
	fi
	echo "1 passed, 0 failed"
}
