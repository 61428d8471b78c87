#!/usr/bin/env bash
# The whole test suite: builds denoised (plain, and with AddressSanitizer and
# UndefinedBehaviorSanitizer for the unit tests), runs every test, and prints
# one closing line "N passed, N failed". Exits non-zero when anything failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

[ -x configure ] || autoreconf -fi >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT

# count LOG: adds automake's summary counts from a test-suite.log.
count() {
	local log=$1 p f
	if [ ! -f "$log" ]; then
		failed=$((failed + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(awk '/^# (FAIL|ERROR|XPASS):/ {s += $3} END {print s + 0}' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + f))
}

# suite NAME CONFIGURE-FLAGS...: configures build-NAME, runs `make check`.
suite() {
	local name=$1
	shift
	local dir="$top/build-$name"
	mkdir -p "$dir"
	echo "== $name: configure $*"
	if ! (cd "$dir" && "$top/configure" -q "$@" >configure.out 2>&1); then
		cat "$dir/configure.out"
		failed=$((failed + 1))
		return
	fi
	echo "== $name: make check"
	(cd "$dir" && make -j"$jobs" check) || true
	count "$dir/test-suite.log"
	[ -f "$dir/test-suite.log" ] || return 0
	grep -E '^(FAIL|ERROR):' "$dir/test-suite.log" || true
	# each failure's failing checks and the end of its log, printed again
	# at the very end (CI shows only the tail of this output)
	local t
	grep -E '^(FAIL|ERROR):' "$dir/test-suite.log" | sed 's/^[A-Z]*: //' | while read -r t; do
		echo "== $name: $t failed; from $t.log:"
		grep -E 'check failed|^not ok|Sanitizer|runtime error' "$dir/$t.log" | head -n 20
		echo "-- its last lines:"
		tail -n 12 "$dir/$t.log"
	done >>"$failures"
}

# The CPU build, the CUDA build where CUDA is installed (its CPU tests all
# run; the GPU tests skip without a GPU), and the sanitizers on the CPU build.
suite plain --without-cuda
if [ -x "${CUDA_DIR:-/usr/local/cuda}/bin/nvcc" ]; then
	suite cuda --with-cuda="${CUDA_DIR:-/usr/local/cuda}"
else
	echo "== cuda: skipped (no nvcc under ${CUDA_DIR:-/usr/local/cuda})"
fi
suite sanitizers --without-cuda --enable-sanitizers CFLAGS="-O1 -g"

# Extra suites (fuzzing, service checks) are scripts tests/extra-*.sh; each
# prints its own "N passed, N failed" line last.
for extra in "$top"/tests/extra-*.sh; do
	[ -f "$extra" ] || continue
	echo "== $(basename "$extra")"
	line=$(bash "$extra" 2>&1 | tee >(cat >&2) >(grep -E '^(FAIL|FAILED|not ok)' | sed "s|^|== $(basename "$extra"): |" >>"$failures") | tail -1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
	else
		echo "$(basename "$extra") printed no summary line"
		failed=$((failed + 1))
	fi
done

cat "$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
