#!/usr/bin/env bash
# Set up and run on a fresh Debian 12 machine: installs the Debian packages
# denoised needs, builds it in build/, and starts the daemon on
# 127.0.0.1:${PORT:-8080} with the shipped models (Ctrl-C stops it), jobs
# kept in build/state/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)"
# The built-in speech corpus (about a minute, cached in data/speech/): what
# `denoise eval`, `denoise train` and {"type":"eval"} jobs use by default.
/usr/bin/python3 ../scripts/make-speech-corpus.py --out ../data/speech
mkdir -p state
# Run from the build tree: the programs find the source tree's models/ and the
# corpus through the environment (an installed denoised uses $(pkgdatadir)).
export DENOISE_DATADIR="$top" DN_SPEECH_DIR="$top/data/speech"
echo "denoised: serving on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops it); jobs in build/state/"
exec daemon/denoised --listen 127.0.0.1 --port "${PORT:-8080}" --state-dir state --data-roots "$top/data"
