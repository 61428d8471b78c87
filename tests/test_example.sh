#!/usr/bin/env bash
# examples/denoise_example (public API only) runs on the shipped speech model
# and the denoised signal scores better than the noisy one.
set -u
ex="${DN_BUILDDIR:-.}/examples/denoise_example"
model="${DENOISE_DATADIR:-${DN_SRCDIR:-.}}/models/speech.safetensors"
if [ ! -f "$model" ]; then
	echo "SKIP: no shipped speech model ($model)"
	exit 77
fi
out=$("$ex" "$model") || { echo "FAIL: denoise_example exited $?"; echo "$out"; exit 1; }
echo "$out"
before=$(echo "$out" | awk '$1 == "noisy" {print $3}')
after=$(echo "$out" | awk '$1 == "denoised" {print $3}')
if awk -v a="$after" -v b="$before" 'BEGIN {exit !(a > b)}'; then
	echo "ok: SI-SDR $before dB -> $after dB"
else
	echo "FAIL: SI-SDR did not improve ($before dB -> $after dB)"
	exit 1
fi
