#!/bin/sh
# test_cli_stream.sh — `denoise stream`, stdin PCM to stdout PCM: as many
# bytes out as whole frames in; the same output whether stdin delivers the
# PCM at once or in 20 ms pieces written one by one (as arecord does) or
# with a sample split between writes; stereo f32le at 48 kHz; and the
# refusals (a model that is not causal, a bad format, rate or argument)
# with exit codes 1 and 2 and messages that say what to change.
set -u
bin="${DN_BUILDDIR:-.}/tools/denoise"
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/test_cli_stream.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check() { # check DESCRIPTION CMD...
	d=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d"; fail=$((fail + 1)); fi
}

# expect CODE PATTERN CMD...: exit code and a message matching PATTERN.
expect() {
	want=$1 pat=$2
	shift 2
	"$@" </dev/null >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ] || ! grep -Eq -- "$pat" "$tmp/out"; then
		echo "FAIL: $* exited $got (expected $want), output:"; cat "$tmp/out"; fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

"$bin" model-init --causal --filters 4 --depth 2 --seed 3 "$tmp/causal.safetensors" >/dev/null 2>&1
check "a causal model is written" test -s "$tmp/causal.safetensors"
"$bin" model-init --filters 4 --depth 2 "$tmp/plain.safetensors" >/dev/null 2>&1

# 1.2 s of a sine chord and noise, s16le mono 16 kHz and f32le stereo 48 kHz
$py - "$tmp" <<'PYEOF'
import math, random, struct, sys
random.seed(5)
d = sys.argv[1]
def sig(i, rate, c):
    t = i / rate
    return 0.3 * math.sin(2 * math.pi * (220 + 110 * c) * t) + 0.2 * math.sin(2 * math.pi * 1330 * t) + 0.1 * random.uniform(-1, 1)
with open(d + "/in16.raw", "wb") as f:
    f.write(b"".join(struct.pack("<h", int(32767 * sig(i, 16000, 0))) for i in range(19200)))
with open(d + "/in48.raw", "wb") as f:
    f.write(b"".join(struct.pack("<ff", sig(i, 48000, 0), sig(i, 48000, 1)) for i in range(57600)))
PYEOF

"$bin" stream --model "$tmp/causal.safetensors" <"$tmp/in16.raw" >"$tmp/out_all.raw" 2>"$tmp/err"
check "stream exits 0" test $? -eq 0
check "as many bytes out as in" test "$(wc -c <"$tmp/out_all.raw")" -eq 38400
check "the summary names the latency" grep -q "latency 32.0 ms" "$tmp/err"
check "the output is not silent" $py -c "
import struct, sys
b = open(sys.argv[1], 'rb').read()
sys.exit(0 if max(abs(v) for v in struct.unpack('<%dh' % (len(b) // 2), b)) > 100 else 1)" "$tmp/out_all.raw"

# 20 ms writes with pauses, then 7-byte writes (samples split across reads)
writer() { # writer FILE PIECE PAUSE
	$py -c "
import os, sys, time
b = open(sys.argv[1], 'rb').read()
n = int(sys.argv[2])
for i in range(0, len(b), n):
    os.write(1, b[i:i + n])
    time.sleep(float(sys.argv[3]))" "$@"
}
writer "$tmp/in16.raw" 640 0.002 | "$bin" stream --quiet --model "$tmp/causal.safetensors" >"$tmp/out_20ms.raw"
check "20 ms pieces give the same bytes" cmp -s "$tmp/out_all.raw" "$tmp/out_20ms.raw"
head -c 4001 "$tmp/in16.raw" | writer /dev/stdin 7 0 | "$bin" stream --quiet --model "$tmp/causal.safetensors" >"$tmp/out_7.raw"
check "7-byte pieces: whole frames only (4000 bytes)" test "$(wc -c <"$tmp/out_7.raw")" -eq 4000
head -c 4000 "$tmp/in16.raw" | "$bin" stream --quiet --model "$tmp/causal.safetensors" >"$tmp/out_4k.raw"
check "7-byte pieces give the same bytes" cmp -s "$tmp/out_4k.raw" "$tmp/out_7.raw"

"$bin" stream --quiet --model "$tmp/causal.safetensors" --rate 48000 --channels 2 --format f32le \
	<"$tmp/in48.raw" >"$tmp/out48.raw"
check "48 kHz stereo f32le exits 0" test $? -eq 0
check "48 kHz stereo: as many bytes out as in" test "$(wc -c <"$tmp/out48.raw")" -eq "$(wc -c <"$tmp/in48.raw")"

expect 1 "not causal.*--causal" "$bin" stream --model "$tmp/plain.safetensors"
expect 2 "unknown format 'u8'" "$bin" stream --model "$tmp/causal.safetensors" --format u8
expect 2 "--rate wants 8000..192000" "$bin" stream --model "$tmp/causal.safetensors" --rate 100
expect 2 "--channels wants 1..8" "$bin" stream --model "$tmp/causal.safetensors" --channels 0
expect 2 "unexpected argument" "$bin" stream --model "$tmp/causal.safetensors" in.raw
expect 1 "nowhere" "$bin" stream --model "$tmp/nowhere.safetensors"
expect 0 "usage: denoise stream" "$bin" stream --help

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
