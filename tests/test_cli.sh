#!/bin/sh
# test_cli.sh — the `denoise` tool as a user runs it: exit codes (0 ok,
# 1 failure, 2 usage), messages that name the problem, the default model
# search, output formats, and no output file left behind on failure.
set -u
bin="${DN_BUILDDIR:-.}/tools/denoise"
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/test_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect CODE PATTERN CMD...: runs CMD, checks its exit code and that stderr
# (or stdout) matches PATTERN (grep -E; empty: not checked).
expect() {
	want=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $* exited $got, expected $want"; cat "$tmp/out"; fail=$((fail + 1)); return
	fi
	if [ -n "$pat" ] && ! grep -Eq -- "$pat" "$tmp/out"; then
		echo "FAIL: $*: output lacks /$pat/"; cat "$tmp/out"; fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

check() { # check DESCRIPTION CMD...
	d=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d"; fail=$((fail + 1)); fi
}

# a 1.5 s stereo 44.1 kHz WAV, written with Python's standard library
$py - "$tmp/in.wav" <<'PYEOF'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb")
w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
frames = b"".join(struct.pack("<hh", int(8000 * math.sin(2 * math.pi * 440 * i / 44100)),
                              int(6000 * math.sin(2 * math.pi * 660 * i / 44100))) for i in range(66150))
w.writeframes(frames); w.close()
PYEOF

expect 2 "usage: denoise COMMAND" "$bin"
expect 0 "audio" "$bin" --help
expect 0 "^blas: OpenBLAS .* kernel [A-Za-z0-9_]+ on a CPU with" "$bin" --version
# on AVX2 / AVX-512 CPUs the kernel reported is never a generic one
if grep -Eq '^flags.* avx2' /proc/cpuinfo 2>/dev/null; then
	check "denoise --version: no generic kernel on an AVX2 CPU" \
		sh -c '! "$1" --version | grep -Eiq "kernel (Prescott|Core2|Katmai|Penryn|Nehalem|Atom|Dunnington|Northwood|Coppermine|Banias|Unknown) |WARNING"' sh "$bin"
fi
expect 2 "unknown command 'nope'" "$bin" nope
expect 2 "expected IN and OUT" "$bin" audio "$tmp/in.wav"
expect 2 "unknown format 'mp3'" "$bin" audio "$tmp/in.wav" "$tmp/o.wav" --format mp3
expect 2 "depth wants 1..6" "$bin" model-init "$tmp/m.safetensors" --depth 9
expect 2 "audio or frame" "$bin" model-init "$tmp/m.safetensors" --kind video
expect 2 "expected one OUT" "$bin" model-init

expect 0 "wrote" "$bin" model-init "$tmp/speech.safetensors" --filters 4 --depth 2 --seed 5
expect 0 "wrote" "$bin" model-init "$tmp/frame.safetensors" --filters 2 --depth 1 --kind frame
expect 1 "not an audio model" "$bin" audio "$tmp/in.wav" "$tmp/o.wav" --model "$tmp/frame.safetensors"
expect 1 "nothere.safetensors" "$bin" audio "$tmp/in.wav" "$tmp/o.wav" --model "$tmp/nothere.safetensors"
expect 1 "missing.wav" "$bin" audio "$tmp/missing.wav" "$tmp/o.wav" --model "$tmp/speech.safetensors"
head -c 5000 /dev/urandom >"$tmp/junk.wav"
expect 1 "not a readable audio file" "$bin" audio "$tmp/junk.wav" "$tmp/o.wav" --model "$tmp/speech.safetensors"
check "no output after a failure" test ! -e "$tmp/o.wav"
check "no temporary left behind" test -z "$(ls "$tmp" | grep tmp)"

# the default model: found through DENOISE_MODEL_DIR
expect 0 "real time" env DENOISE_MODEL_DIR="$tmp" "$bin" audio "$tmp/in.wav" "$tmp/o.wav"
check "same rate, channels and length" $py -c "
import sys, wave
a, b = wave.open(sys.argv[1]), wave.open(sys.argv[2])
sys.exit(0 if a.getparams()[:4] == b.getparams()[:4] else 1)" "$tmp/in.wav" "$tmp/o.wav"
# with none anywhere (only checkable while the tree ships no trained model)
mkdir "$tmp/empty"
if [ ! -e "${DN_SRCDIR:-..}/models/speech.safetensors" ]; then
	expect 1 "none found.*model-init" env DENOISE_MODEL_DIR="$tmp/empty" "$bin" audio "$tmp/in.wav" "$tmp/o2.wav"
	check "no output without a model" test ! -e "$tmp/o2.wav"
fi
expect 0 "" "$bin" audio "$tmp/in.wav" "$tmp/o.flac" --model "$tmp/speech.safetensors"
check "FLAC by extension" test "$(head -c 4 "$tmp/o.flac")" = "fLaC"
expect 0 "" "$bin" audio "$tmp/in.wav" "$tmp/o.f32" --model "$tmp/speech.safetensors" --format wavf32
check "float WAV" $py -c "
import struct, sys
h = open(sys.argv[1], 'rb').read(64)
sys.exit(0 if h[:4] == b'RIFF' and struct.unpack('<H', h[20:22])[0] in (3, 0xfffe) else 1)" "$tmp/o.f32"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
