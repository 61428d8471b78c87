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
#   train:NAME:ARGS  denoise train ARGS (comma-separated) --out NAME.safetensors
#   bg:NAME:ARGS     the same in the background (several trainings share the GPU), for
#                    at most $BG_TIMEOUT s (the best model so far stays); `wait` waits for them
#   bgframe:NAME:ARGS  denoise train-frame ARGS in the background, likewise
#   detach:NAME:ARGS / detachframe:NAME:ARGS  bg/bgframe in a new process session: the
#                    training outlives this call and runs on while the machine is held
#                    (a later call on the warm machine finds it); `join` waits for them
#   hold:S           wait until S seconds after the script began (keeps a call, and the
#                    machine, busy while detached trainings run)
#   prog:NAME:ARGS   a carried program of pkg/bin (a debugging aid) with ARGS
#   eval:NAME:ARGS   denoise eval --model NAME.safetensors ARGS --json NAME.eval.json
#   parity64         the GPU step against PyTorch's float64 reference (tests/torch_parity.py)
#   oom              a resumed run that finds the GPU's memory taken: a clear error, the checkpoint intact
#   serve            the daemon with device = cuda beside one on the CPU: 32 concurrent
#                    requests each (60 s of noisy speech, made by denoise eval --write-mixes),
#                    wall time, and how far the GPU's answers are from the CPU's
# Everything a step writes lands in one folder that comes back as $OUT/results.tgz
# and, for models over 6 MiB, $OUT/NAME.part.* (see the end).
set -uo pipefail
final=${OUT:-/tmp/out}
out=/tmp/res
mkdir -p "$final" "$out" /tmp/dn
# A warm machine keeps the unpacked programs (detached trainings run them);
# PKG=NAME unpacks .carry/NAME.tar.xz beside them instead (a rebuilt set).
pkg=/tmp/dn/${PKG:-pkg}
if [ ! -d "$pkg" ]; then
	mkdir -p "$pkg.tmp" && tar -C "$pkg.tmp" -xJf ".carry/${PKG:-pkg}.tar.xz" && mv "$pkg.tmp/pkg" "$pkg" || exit 1
fi
bin=$pkg/bin
t_begin=$(date +%s)
# Only our programs see the carried Debian libraries; the machine's own
# tools (python3, nvidia-smi) keep theirs.
# OpenMP waits passively: spinning OpenMP and OpenBLAS threads on 16 cores
# starve each other.
dn() { LD_LIBRARY_PATH=$pkg/lib OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=${DN_BLAS:-8} OMP_NUM_THREADS=${DN_BLAS:-8} "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
dn "$bin/denoise" devices
status=0
bg_pids=()
pids=()
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
		dn timeout "${TEST_TIMEOUT:-200}" "$bin/test_cuda" 2>&1 | tee "$out/test_cuda.log"
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
		DN_SPEECH_DIR=$PWD/${JOB_DATA:-.carry/speech} dn "$bin/denoised" --listen 127.0.0.1 --port 0 \
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
		dn "$bin/denoise" train --device cuda --out "$out/$name.safetensors" \
			--quiet ${args//,/ } 2>&1 | tee "$out/$name.log"
		;;
	bg:*)
		IFS=: read -r _ name args <<<"$step"
		DN_BLAS=1 dn timeout "${BG_TIMEOUT:-330}" "$bin/denoise" train --device cuda \
			--out "$out/$name.safetensors" --quiet ${args//,/ } >"$out/$name.log" 2>&1 &
		bg_pids+=($!)
		;;
	bgframe:*)
		IFS=: read -r _ name args <<<"$step"
		DN_BLAS=1 dn timeout "${BG_TIMEOUT:-330}" "$bin/denoise" train-frame --device cuda \
			--out "$out/$name.safetensors" ${args//,/ } >"$out/$name.log" 2>&1 &
		bg_pids+=($!)
		;;
	detach:* | detachframe:*)
		IFS=: read -r kind name args <<<"$step"
		cmd=train && [ "$kind" = detachframe ] && cmd=train-frame
		extra=--quiet && [ "$cmd" = train-frame ] && extra=
		# The shell writes its own pid (setsid may fork) and becomes timeout.
		DN_BLAS=1 dn setsid sh -c 'echo $$ >"$0"; exec "$@"' "/tmp/dn/$name.pid" \
			timeout "${BG_TIMEOUT:-330}" "$bin/denoise" $cmd --device cuda \
			--out "$out/$name.safetensors" $extra ${args//,/ } >"$out/$name.log" 2>&1 </dev/null &
		;;
	join)
		for f in /tmp/dn/*.pid; do
			[ -e "$f" ] || continue
			while kill -0 "$(cat "$f")" 2>/dev/null; do sleep 5; done
			rm -f "$f"
		done
		for f in "$out"/*.log; do echo "--- $f"; tail -3 "$f"; done
		;;
	hold:*) # until S seconds after the start, showing the detached trainings
		until [ $(($(date +%s) - t_begin)) -ge "${step#hold:}" ]; do sleep 10; done
		for f in "$out"/*.log; do echo "--- $f"; tail -2 "$f"; done
		;;
	prog:*)
		IFS=: read -r _ name args <<<"$step"
		dn timeout 300 "$bin/$name" ${args//,/ } 2>&1 | tee "$out/$name.out"
		;;
	wait)
		for p in "${bg_pids[@]}"; do wait "$p"; done # a timeout ends a sweep run: not a failure
		bg_pids=()
		for f in "$out"/*.log; do echo "--- $f"; tail -4 "$f"; done
		;;
	eval:*)
		IFS=: read -r _ name args <<<"$step"
		dn "$bin/denoise" eval --model "$out/$name.safetensors" --threads 1 ${args//,/ } \
			${EVAL_SNRS:+--snrs "$EVAL_SNRS"} \
			--json "$out/$name.eval.json" >"$out/$name.eval.txt" 2>&1 &
		bg_pids+=($!)
		;;
	parity64)
		printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$pkg/lib" "$bin/parity_driver" >/tmp/dn/driver
		chmod +x /tmp/dn/driver
		for size in 257x131:4 57x43:16; do
			timeout 200 python3 tests/torch_parity.py --driver /tmp/dn/driver --device cuda \
				--train-size "${size%:*}" --batch "${size#*:}" -v 2>&1 | tee "$out/parity64_${size%:*}.log"
		done
		;;
	oom)
		d=$out/oom && mkdir -p "$d"
		dn timeout 120 "$bin/denoise" train --data "${OOM_DATA:-.carry/real}" --device cuda --epochs 1 \
			--filters 16 --out "$d/m.safetensors" --quiet >"$d/first.log" 2>&1
		sum0=$(sha256sum "$d/m.safetensors.ckpt" | cut -d' ' -f1)
		# A resumed run must keep its batch, so the memory runs out another
		# way: a second process holds all but 256 MiB of the GPU.
		python3 -c 'import torch, time
free, _ = torch.cuda.mem_get_info()
x = torch.empty(free - (256 << 20), dtype=torch.uint8, device="cuda")
open("/tmp/dn/hog", "w").write(str(free))
time.sleep(100)' &
		hog=$!
		for _ in $(seq 60); do [ -s /tmp/dn/hog ] && break; sleep 1; done
		dn timeout 120 "$bin/denoise" train --data "${OOM_DATA:-.carry/real}" --device cuda --epochs 2 \
			--filters 16 --out "$d/m.safetensors" --resume --quiet >"$d/second.log" 2>&1
		echo "oom: second run exit $?; $(tail -2 "$d/second.log")"
		kill "$hog"; wait "$hog" 2>/dev/null; rm -f /tmp/dn/hog
		[ "$(sha256sum "$d/m.safetensors.ckpt" | cut -d' ' -f1)" = "$sum0" ] &&
			echo "oom: checkpoint unchanged" || echo "oom: CHECKPOINT CHANGED"
		rm -f "$d"/*.safetensors*
		;;
	serve)
		d=$out/serve && mkdir -p "$d/st_cpu" "$d/st_cuda"
		dn "$bin/denoise" eval --model models/speech.safetensors --data "${SERVE_DATA:-.carry/real}" --split valid --max-files 20 --snrs 5 \
			--write-mixes /tmp/mixes >/dev/null 2>&1
		python3 - /tmp/mixes /tmp/serve_in.wav <<'PY'
# The mixes are 32-bit float WAV (format 3), which Python's wave module
# does not read: the chunks are walked by hand.
import sys, glob, struct
def chunks(b):
    i = 12
    while i + 8 <= len(b):
        tag, n = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        yield tag, b[i + 8:i + 8 + n]
        i += 8 + n + (n & 1)
samples, fmt = b"", None
for f in sorted(glob.glob(sys.argv[1] + "/noisy/*.wav")):
    for tag, body in chunks(open(f, "rb").read()):
        if tag == b"fmt ":
            fmt = body[:16]
        elif tag == b"data":
            samples += body
    rate, width = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[14:16])[0] // 8
    if len(samples) >= 60 * rate * width:
        break
samples = samples[: 60 * rate * width]
with open(sys.argv[2], "wb") as o:
    o.write(b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt +
            b"data" + struct.pack("<I", len(samples)) + samples)
PY
		for dv in cpu cuda; do
			DN_BLAS=1 dn "$bin/denoised" --listen 127.0.0.1 --port 0 --port-file "$d/port_$dv" \
				--state-dir "$d/st_$dv" --models "$PWD/models" --device $dv --workers 8 --blas-threads 2 \
				--cores 16 --gpu-batch 16 >"$d/daemon_$dv.log" 2>&1 &
			pids+=($!)
		done
		for _ in $(seq 100); do [ -s "$d/port_cpu" ] && [ -s "$d/port_cuda" ] && break; sleep 0.2; done
		timeout 300 python3 - "$(cat "$d/port_cpu")" "$(cat "$d/port_cuda")" /tmp/serve_in.wav <<'PY' 2>&1 | tee "$d/serve.txt"
import sys, time, urllib.request, concurrent.futures as cf
import numpy as np
body = open(sys.argv[3], "rb").read()
def call(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/audio:denoise?format=wavf32", data=body,
                                 headers={"Content-Type": "audio/wav"})
    with urllib.request.urlopen(req, timeout=280) as r:
        return r.read()
def samples(wav):
    # RIFF with a 32-bit float data chunk: find "data"
    i = wav.find(b"data"); n = int.from_bytes(wav[i + 4:i + 8], "little")
    return np.frombuffer(wav[i + 8:i + 8 + n], dtype="<f4")
out = {}
for name, port in (("cpu", sys.argv[1]), ("cuda", sys.argv[2])):
    call(port)  # warm-up: the GPU server starts on first use
    t0 = time.time()
    with cf.ThreadPoolExecutor(32) as ex:
        res = list(ex.map(call, [port] * 32))
    dt = time.time() - t0
    out[name] = samples(res[0])
    same = all(r == res[0] for r in res)
    print(f"{name}: 32 x 60 s in {dt:.2f} s wall: {32 * 60 / dt:.1f} audio s per s; answers identical: {same}")
a, b = out["cpu"], out["cuda"]
err = a - b
print(f"cuda vs cpu: {len(a)} samples, max |diff| {np.abs(err).max():.2e}, "
      f"SNR of the difference {10 * np.log10((a ** 2).sum() / max((err ** 2).sum(), 1e-30)):.1f} dB")
PY
		for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
		pids=()
		grep -h 'served on\|error' "$d"/daemon_*.log | head -5
		;;
	*) echo "unknown step $step"; status=2 ;;
	esac
done
for p in "${bg_pids[@]}"; do wait "$p" || status=1; done
# A returned file may have 16 MiB and the device returns 8 files: results.tgz
# holds every file up to 6 MiB (checkpoints too while the whole stays under
# 14 MiB, so that a later call can --resume), larger models go as 12 MiB
# parts beside it (cat NAME.part.* > NAME), larger checkpoints stay behind.
find "$out" -type f -size +6M ! -name "*.ckpt" | while read -r f; do
	split -b 12M "$f" "$final/$(basename "$f").part."
done
# Small files first; checkpoints only while the whole stays under 14 MiB.
(cd "$out" && find . -type f -size -6145k -printf '%s %p\n' | sort -n | awk '
	{ if ($2 !~ /\.ckpt$/ || total + $1 < 14 * 1048576) { total += $1; print $2 } }' >/tmp/res.list &&
	tar -czf "$final/results.tgz" -T /tmp/res.list)
# The limit is on the archive: when many trainings' models crowd it past
# 15 MiB (a second call of 2026-12-04 made 17 MiB, which did not come back),
# it goes again without checkpoints and models, and the models of the top
# folder travel as files of their own (the device returns at most 8 files).
if [ "$(stat -c %s "$final/results.tgz" 2>/dev/null || echo 0)" -gt $((15 * 1048576)) ]; then
	(cd "$out" && find . -type f -size -6145k ! -name "*.ckpt" ! -name "*.safetensors" >/tmp/res.list &&
		tar -czf "$final/results.tgz" -T /tmp/res.list)
	n=$(find "$final" -type f | wc -l)
	for f in "$out"/*.safetensors; do
		[ -f "$f" ] && [ "$(stat -c %s "$f")" -le $((6 * 1048576)) ] || continue
		[ "$n" -lt 8 ] || { echo "gpu-run: $(basename "$f") left behind (8 files at most)"; continue; }
		cp "$f" "$final/" && n=$((n + 1))
	done
fi
du -h "$final/results.tgz"; ls "$final"
exit $status
