#!/usr/bin/env bash
# gpu-run.sh STEP... — run on the GPU machine (the device tool), from the
# repository root, after scripts/gpu-pack.sh packed .carry/pkg.tar.xz here.
# Steps, in the order given; each writes its log under $OUT (or /tmp/out):
#   test     tests/test_cuda (parity with the CPU path, training, determinism)
#   bench    bench_train_gpu beside PyTorch (bench/bench_train_torch_gpu.py)
#   seed     the seed recipe on the GPU: denoise train on .carry/speech, timed
#   frame    denoise train-frame on .carry/frames (scripts/make-frame-data.py), 2 minutes
#   job      the daemon on a loopback port, a training job with "device": "cuda"
#   frame-job  the daemon, a "train-frame" job with "device": "cuda" on .carry/frames
#              (register_as), then an "eval-frame" job of its model on frames/test
#            submitted over HTTP and followed to its end
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
# The daemon's HTTP API from Python (the port is argv[1]), for the job steps.
jobs_py=$(cat <<'PY'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
PY
)

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
	frame)
		dn timeout 200 "$bin/denoise" train-frame --data .carry/frames --device cuda --filters 32 \
			--batch 32 --patch 128 --steps 200 --minutes 2 --out "$out/frame_gpu.safetensors" 2>&1 |
			tee "$out/frame.log"
		;;
	job)
		rm -rf /tmp/st && mkdir -p /tmp/st
		DN_SPEECH_DIR=$PWD/.carry/speech dn "$bin/denoised" --listen 127.0.0.1 --port 0 \
			--port-file /tmp/st/port --state-dir /tmp/st --models "$PWD/models" >"$out/job_daemon.log" 2>&1 &
		dpid=$!
		for _ in $(seq 50); do [ -s /tmp/st/port ] && break; sleep 0.2; done
		timeout 150 python3 -c "$jobs_py
$(cat <<'PY'
print("ready:", call("GET", "/v1/health/ready")[1].get("devices"))
print("bad precision:", call("POST", "/v1/jobs", {"type": "train", "device": "cuda", "precision": "fp8"}))
code, job = call("POST", "/v1/jobs", {"type": "train", "device": "cuda", "precision": "tf32",
                                       "params": {"epochs": 4, "filters": 16}})
print("submit:", code, job.get("id"), job.get("spec", {}).get("device"), job.get("spec", {}).get("precision"))
while True:
    code, j = call("GET", f"/v1/jobs/{job['id']}")
    if j.get("state") in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(1)
print("final:", j.get("state"), json.dumps(j.get("result", j.get("error")))[:600])
PY
)" "$(cat /tmp/st/port)" 2>&1 | tee "$out/job.log"
		kill "$dpid"; wait "$dpid" 2>/dev/null
		tail -5 "$out/job_daemon.log"
		;;
	frame-job)
		rm -rf /tmp/stf && mkdir -p /tmp/stf
		dn "$bin/denoised" --listen 127.0.0.1 --port 0 --port-file /tmp/stf/port --state-dir /tmp/stf \
			--data-roots "$PWD/.carry" --models "$PWD/models" >"$out/frame_job_daemon.log" 2>&1 &
		dpid=$!
		for _ in $(seq 50); do [ -s /tmp/stf/port ] && break; sleep 0.2; done
		timeout "${FRAME_JOB_TIMEOUT:-400}" python3 -c "$jobs_py
$(cat <<'PY'
def wait(jid):
    while True:
        code, j = call("GET", f"/v1/jobs/{jid}")
        if j.get("state") in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(2)
code, job = call("POST", "/v1/jobs", {"type": "train-frame", "dataset": "frames", "device": "cuda",
                                       "register_as": "frame-gpu",
                                       "params": {"filters": 32, "batch": 32, "patch": 128,
                                                  "steps_per_epoch": 200, "max_minutes": 2}})
print("submit:", code, job.get("id"), job.get("spec", {}).get("device"), job.get("detail"))
j = wait(job["id"])
m = j.get("metrics") or {}
print("train-frame:", j.get("state"), j.get("error"), m.get("device"), "epochs", m.get("epochs"),
      "best val PSNR", m.get("best_val_psnr"), "noisy", m.get("noisy_val_psnr"))
for c in m.get("by_sigma", []):
    print("  val sigma %g: PSNR %.2f (noisy %.2f) SSIM %.4f" % (c["sigma"], c["psnr"]["model"]["mean"],
          c["psnr"]["noisy"]["mean"], c["ssim"]["model"]["mean"]))
code, ev = call("POST", "/v1/jobs", {"type": "eval-frame", "model": "frame-gpu", "dataset": "frames"})
e = wait(ev["id"]) if code == 202 else ev
for c in (e.get("metrics") or {}).get("by_sigma", []):
    print("  test sigma %g: PSNR %.2f (noisy %.2f) SSIM %.4f" % (c["sigma"], c["psnr"]["model"]["mean"],
          c["psnr"]["noisy"]["mean"], c["ssim"]["model"]["mean"]))
print("eval-frame:", e.get("state"), e.get("error"))
PY
)" "$(cat /tmp/stf/port)" 2>&1 | tee "$out/frame_job.log"
		kill "$dpid"; wait "$dpid" 2>/dev/null
		tail -5 "$out/frame_job_daemon.log"
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
