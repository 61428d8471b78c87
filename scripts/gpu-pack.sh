#!/usr/bin/env bash
# gpu-pack.sh BUILD_DIR — what a run on the GPU machine needs, into .carry/:
# the CUDA build's programs (denoise, denoised, test_cuda, parity_driver,
# bench_train_gpu)
# and the Debian libraries they link that the GPU machine (Ubuntu, CUDA 13,
# cuDNN 9, cuBLAS) lacks, as one xz archive (OpenBLAS alone is 35 MB).
# glibc, libstdc++, libgcc and the CUDA libraries stay behind: the machine
# has its own. scripts/gpu-run.sh unpacks and runs it there.
set -euo pipefail
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/.carry
rm -rf "$out/pkg" && mkdir -p "$out/pkg/bin" "$out/pkg/lib"
progs="tools/denoise daemon/denoised tests/test_cuda tests/parity_driver bench/bench_train_gpu"
for p in $progs; do
	strip -o "$out/pkg/bin/$(basename "$p")" "$build/$p"
done
for p in $progs; do ldd "$build/$p"; done | awk '/=>/ {print $3}' | sort -u |
	grep -vE '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libcud[a-z]*|libcublas[A-Za-z]*|ld-linux[^/]*)\.so' |
	while read -r lib; do cp -L "$lib" "$out/pkg/lib/"; done
tar -C "$out" -cJf "$out/pkg.tar.xz" pkg
rm -rf "$out/pkg"
du -sh "$out/pkg.tar.xz"
