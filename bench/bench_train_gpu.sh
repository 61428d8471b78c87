#!/usr/bin/env bash
# bench_train_gpu.sh — GPU training throughput of the seed U-Net, ours beside
# PyTorch eager on the same GPU in the same run, as a table with the ratio.
#   bash bench/bench_train_gpu.sh [BUILD_DIR] [extra bench_train_gpu options]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
shift || true
ours=$("$build/bench/bench_train_gpu" "$@")
echo "$ours" | grep '^#'
theirs=$(python3 "$top/bench/bench_train_torch_gpu.py" "$@")
echo "$theirs" | grep '^#'
python3 - "$ours" "$theirs" <<'PY'
import json, sys
rows = {}
for text in sys.argv[1:]:
    for line in text.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            rows.setdefault((r["precision"], r["batch"]), {})[r["impl"]] = r
print(f"{'precision':9} {'batch':>5} | {'ours samp/s':>11} {'ms/step':>8} {'TFLOP/s':>8} {'of peak':>7} | "
      f"{'torch samp/s':>12} {'ms/step':>8} | {'ours/torch':>10}")
for (prec, b), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    o, t = r.get("denoised"), r.get("pytorch")
    if not o or not t:
        continue
    print(f"{prec:9} {b:5d} | {o['samples_per_s']:11.1f} {o['ms_per_step']:8.2f} {o['tflops']:8.2f} "
          f"{100 * o['share_of_peak']:6.1f}% | {t['samples_per_s']:12.1f} {t['ms_per_step']:8.2f} | "
          f"{o['samples_per_s'] / t['samples_per_s']:10.2f}")
PY
