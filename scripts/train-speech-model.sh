#!/usr/bin/env bash
# The exact training commands behind models/: `shipped` makes the default
# speech model (mask output, log1p-compressed input), `seed` the seed's
# configuration (magnitude output, ReLU, 32 base filters, linear input).
#
#   scripts/train-speech-model.sh shipped|seed [DATA] [OUT] [extra denoise-train flags]
#
# DATA is a corpus from scripts/make-speech-corpus.py (default data/speech);
# OUT the model file (default models/speech.safetensors or models/seed.safetensors).
# THREADS sets OpenBLAS threads (default: every core); DENOISE the binary.
# Stopped (Ctrl-C, SIGTERM), it keeps its checkpoint; add --resume to go on.
set -euo pipefail
which=${1:?usage: train-speech-model.sh shipped|seed [DATA] [OUT] [flags]}
shift
data=${1:-data/speech}
[ $# -gt 0 ] && shift
denoise=${DENOISE:-build/tools/denoise}
threads=${THREADS:-$(nproc)}
# Eval covers 5..25 dB input SNR; training spans a little beyond on both sides.
common=(--data "$data" --snr 0:30 --noise white,pink,brown --seed 1 --threads "$threads")
case $which in
shipped)
	out=${1:-models/speech.safetensors}
	[ $# -gt 0 ] && shift
	exec "$denoise" train "${common[@]}" --out "$out" \
		--filters 16 --depth 3 --output mask --act sigmoid --scaling log1p "$@"
	;;
seed)
	out=${1:-models/seed.safetensors}
	[ $# -gt 0 ] && shift
	exec "$denoise" train "${common[@]}" --out "$out" \
		--filters 32 --depth 3 --output magnitude --act relu --scaling none "$@"
	;;
*)
	echo "train-speech-model.sh: unknown configuration '$which' (shipped or seed)" >&2
	exit 2
	;;
esac
