#!/usr/bin/env bash
# `denoise metrics`: JSON values equal the reference values of the shared
# test vectors, and bad invocations fail with a message and the right code.
set -u
denoise="${DN_BUILDDIR:-.}/tools/denoise"
vectors="${DN_TESTVECTORS:-${DN_SRCDIR:-.}/../shared/testvectors/metrics}"
[ -d "$vectors" ] || vectors=/work/shared/testvectors/metrics
if [ ! -f "$vectors/expected.json" ]; then
	echo "SKIP: no test vectors (set DN_TESTVECTORS, or put shared/ beside the source tree)"
	exit 77
fi
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check DESCRIPTION COMMAND...
	if "${@:2}"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}

id=tts2_brown_+5dB
"$denoise" metrics "$vectors/$id.clean.wav" "$vectors/$id.degraded.wav" >"$tmp/out.json"
check "metrics exits 0" test $? -eq 0
check "values match expected.json" /usr/bin/python3 - "$tmp/out.json" "$vectors/expected.json" "$id" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
ref = next(c for c in json.load(open(sys.argv[2]))["cases"] if c["id"] == sys.argv[3])
tol = {"pesq_wb": 0.05, "pesq_nb": 0.05, "stoi": 0.005, "estoi": 0.005,
       "si_sdr_db": 0.01, "snr_db": 0.01, "seg_snr_db": 0.01}
bad = [k for k, t in tol.items() if not abs(got[k] - ref[k]) <= t]
print("mismatches:", bad or "none")
sys.exit(1 if bad else 0)
PY

"$denoise" metrics "$vectors/$id.clean.wav" >/dev/null 2>"$tmp/err"
check "one file is a usage error (2)" test $? -eq 2
sox "$vectors/$id.clean.wav" "$tmp/short.wav" trim 0 1 2>/dev/null || cp "$vectors/$id.clean.wav" "$tmp/short.wav"
"$denoise" metrics "$vectors/$id.clean.wav" "$tmp/short.wav" >/dev/null 2>"$tmp/err"
check "different lengths refused (1)" test $? -eq 1
check "...with a message naming --trim" grep -q -- "--trim" "$tmp/err"
"$denoise" metrics --trim "$vectors/$id.clean.wav" "$tmp/short.wav" >/dev/null
check "--trim compares the common prefix" test $? -eq 0
printf 'not audio' >"$tmp/bad.wav"
"$denoise" metrics "$tmp/bad.wav" "$vectors/$id.clean.wav" >/dev/null 2>"$tmp/err"
check "corrupt file refused (1)" test $? -eq 1
check "...naming the file" grep -q "bad.wav" "$tmp/err"
exit $fail
