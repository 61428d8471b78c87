#!/bin/sh
# bench_unet.sh — the seed U-Net in libdenoise (bench/bench_unet) and in
# PyTorch (bench/bench_unet_torch.py, the model of tests/torch_unet.py), one
# after the other on the same machine, at the same input size and thread
# counts, printed as one table with the ratios ours/PyTorch (below 1: we are
# faster) and the issue's targets beside them. Prints figures, never fails on
# time.
#
#   bench/bench_unet.sh [--threads 1,2] [--runs N] [--train-runs N] [--batch N]
#                       [--height H] [--width W] [--warmup N]
#
# The C program is looked up in $DN_BUILDDIR, then ./build, then the source
# tree (an in-tree build); $DN_PYTHON picks the interpreter (default
# /usr/bin/python3, which has Debian's python3-torch).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
py=${DN_PYTHON:-/usr/bin/python3}
bin=
for d in "${DN_BUILDDIR:-}" "$PWD/build" "$src/build" "$src"; do
	if [ -n "$d" ] && [ -x "$d/bench/bench_unet" ]; then
		bin=$d/bench/bench_unet
		break
	fi
done
[ -n "$bin" ] || { echo "bench_unet.sh: build bench/bench_unet first (make)" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "bench_unet.sh: $py cannot import torch" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dn-bench-unet.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Each side sets its own thread counts (openblas_set_num_threads,
# torch.set_num_threads): no environment variable overrides them.
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
"$bin" --json "$@" >"$work/c.txt"
"$py" "$src/bench/bench_unet_torch.py" "$@" >"$work/torch.json"
"$py" - "$work/c.txt" "$work/torch.json" <<'EOF'
import json, sys
c = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
tres = {r["threads"]: r for r in t["results"]}
print(f"cpu: {c.get('cpu', '?')}; libdenoise BLAS: {c.get('blas', '?')} kernel {c.get('kernel', '?')}")
print(f"libdenoise convolutions by default: {c.get('conv', '?')}; PyTorch in fp32, its default")
print(f"seed U-Net, input {c['height']}x{c['width']}; libdenoise vs PyTorch {t['version']} "
      f"(oneDNN {'on' if t['mkldnn'] else 'off'}), same machine, one run")
print(f"parameters: libdenoise {c['params']}, PyTorch {t['params']}"
      f"{'' if c['params'] == t['params'] else '  (MISMATCH)'}")
print(f"forward: {c['gflop']:.4f} GFLOP per image (2*cout*H*W*cin*k*k per conv GEMM, padded size); "
      f"GEMMs issued {c['gemm_gflop_issued']:.4f} (Winograd units 16/36)")
print(f"times in ms: median [min-max] of {c['runs']} inference / {c['train_runs']} training runs "
      "after warm-up; 'cpu' rows: median process CPU ms, the steadier figure on a shared machine")
def fmt(s):
    return f"{s[0]:9.2f} [{s[1]:.1f}-{s[2]:.1f}]"
hdr = f"{'what':<30} {'thr':>3}  {'libdenoise':>26}  {'PyTorch':>26}  {'ours/PyTorch':>12}  target"
print(hdr)
print("-" * len(hdr))
def row(what, n, ours, theirs, target):
    r = ours[0] / theirs[0]
    f = (lambda s: fmt(s)) if len(ours) == 3 else (lambda s: f"{s[0]:9.2f}")
    print(f"{what:<30} {n:>3}  {f(ours):>26}  {f(theirs):>26}  {r:12.3f}  {target}")
for r in c["results"]:
    n = r["threads"]
    p = tres.get(n)
    if not p:
        continue
    row("forward, batch 1", n, r["infer_ms"], p["infer_ms"], "<= 0.667 (1.5x faster)")
    row("  cpu", n, [r["infer_cpu_ms"]], [p["infer_cpu_ms"]], "")
    if "infer_fp32_ms" in r:
        row("forward, batch 1, ours fp32", n, r["infer_fp32_ms"], p["infer_ms"], "")
        row("  cpu", n, [r["infer_fp32_cpu_ms"]], [p["infer_cpu_ms"]], "")
    if c["train_runs"] and "train_ms" in p:
        row(f"train step, batch {c['batch']}", n, r["train_ms"], p["train_ms"], "<= 1.0")
        row("  cpu", n, [r["train_cpu_ms"]], [p["train_cpu_ms"]], "")
    share = r["infer_gflops"] / r["gemm_gflops"]
    ours = f"{r['infer_gflops']:.1f} / {r['gemm_gflops']:.1f} GFLOP/s"
    print(f"{'forward / sgemm ' + str(r['gemm_n']) + '^3':<30} {n:>3}  {ours:>26}  {'':>26}  "
          f"{share:12.3f}  >= 0.60 (share of peak, direct-equivalent FLOPs)")
    issued = r["issued_gflops"] / r["gemm_gflops"]
    print(f"{'  on GEMM FLOPs issued':<30} {n:>3}  {r['issued_gflops']:>17.1f} GFLOP/s  {'':>26}  "
          f"{issued:12.3f}")
EOF
