#!/usr/bin/env bash
# Set up and run on a fresh Debian 12 machine: installs the Debian packages
# denoised needs, builds it in build/, and starts the daemon on
# 127.0.0.1:${PORT:-8080} with the shipped models (Ctrl-C stops it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)"
if [ -x daemon/denoised ]; then
	echo "denoised: serving on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops it)"
	exec daemon/denoised --listen 127.0.0.1 --port "${PORT:-8080}"
fi
if [ -x tools/denoise ]; then
	echo "The daemon is not built yet; the command-line tool is: build/tools/denoise"
	exec tools/denoise --help
fi
echo "Built libdenoise (build/core/libdenoise.a); the daemon and CLI are not part of this version yet."
