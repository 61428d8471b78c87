#!/usr/bin/env bash
# gpu-run.sh STEP... — run on the GPU machine (the device tool), from the
# repository root, after scripts/gpu-pack.sh packed .carry/pkg.tar.xz here.
# Steps, in the order given; each writes its log under $OUT (or /tmp/out):
#   test     tests/test_cuda (parity with the CPU path, training, determinism)
#   bench    bench_train_gpu beside PyTorch (bench/bench_train_torch_gpu.py)
#   seed     the seed recipe on the GPU: denoise train on .carry/speech, timed
#   train:NAME:ARGS  denoise train ARGS (comma-separated) --out $OUT/NAME.safetensors
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/dn
[ -d /tmp/dn/pkg ] || tar -C /tmp/dn -xJf .carry/pkg.tar.xz || exit 1
bin=/tmp/dn/pkg/bin
# Only our programs see the carried Debian libraries; the machine's own
# tools (python3, nvidia-smi) keep theirs.
# OpenMP waits passively: spinning OpenMP and OpenBLAS threads on 16 cores
# starve each other.
dn() { LD_LIBRARY_PATH=/tmp/dn/pkg/lib OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=8 OMP_NUM_THREADS=8 "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
dn "$bin/denoise" devices
status=0
for step in "$@"; do
	echo "=== $step ($(date -u +%T))"
	case $step in
	test)
		dn timeout 200 "$bin/test_cuda" 2>&1 | tee "$out/test_cuda.log"
		[ "${PIPESTATUS[0]}" = 0 ] || status=1
		;;
	bench)
		dn timeout 150 "$bin/bench_train_gpu" >"$out/bench_ours.txt" 2>&1
		timeout 120 python3 bench/bench_train_torch_gpu.py >"$out/bench_torch.txt" 2>&1
		cat "$out/bench_ours.txt" "$out/bench_torch.txt"
		;;
	seed)
		t0=$(date +%s)
		dn timeout "${SEED_TIMEOUT:-300}" "$bin/denoise" train --data .carry/speech --snr 0:30 --noise white,pink,brown --seed 1 \
			--device cuda --out "$out/seed_gpu.safetensors" --quiet 2>&1 | tee "$out/seed.log"
		echo "seed recipe wall: $(($(date +%s) - t0)) s" | tee -a "$out/seed.log"
		;;
	train:*)
		IFS=: read -r _ name args <<<"$step"
		dn "$bin/denoise" train --data .carry/speech --device cuda --out "$out/$name.safetensors" \
			--quiet ${args//,/ } 2>&1 | tee "$out/$name.log"
		;;
	*) echo "unknown step $step"; status=2 ;;
	esac
done
exit $status
