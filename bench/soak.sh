#!/usr/bin/env bash
# soak.sh — a bounded soak of a freshly started denoised (issue 14): CLIENTS
# (8) clients for SOAK_SECONDS (300) of mixed good and bad requests, then
# errors, the daemon's RSS over the run, and p50/p99 latencies.
#
# Each client loops over a fixed mix, one request at a time (curl):
#   good  denoise   POST /v1/audio:denoise, 1 s of 16 kHz WAV      -> 200
#         live      GET /v1/health/live                            -> 200
#         models    GET /v1/models                                 -> 200
#         metrics   GET /metrics                                   -> 200
#         job       POST /v1/jobs (an evaluation), DELETE twice    -> 202|429, 200|202|409, 204|409|404
#   bad   trunc     a WAV cut inside its header                    -> 422
#         garbage   random bytes as audio/wav                      -> 422
#         ctype     a WAV as text/plain                            -> 415
#         spec      a job spec with an unknown member              -> 422
#         deep      JSON nested 64 deep                            -> 400|422
#         huge      Content-Length over max_body_bytes             -> 413
#         nul       ?model=%00x                                    -> 400
#         route     GET /v1/nothing                                -> 404
# An "error" is an answer outside the expected set of its kind, or no
# answer at all (curl's 000). RSS (VmRSS of /proc/PID/status) is sampled
# every 2 s: the figures are the first sample after WARMUP_SECONDS (20),
# the last, the least and the most after warm-up, and VmHWM. Latencies are
# curl's time_total per request, p50/p99 per kind and over all. Prints the
# figures and never passes or fails; bench/, not tests/: tests do not time.
#
# BUILD=DIR (default build/) holds daemon/denoised and tools/denoise; the
# model is MODEL=FILE, else a small random one (16 base filters, depth 3:
# the cost of a real one is not the point, the daemon's behaviour is).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
clients=${CLIENTS:-8}
secs=${SOAK_SECONDS:-300}
warm=${WARMUP_SECONDS:-20}

for t in curl sox awk; do
	command -v "$t" >/dev/null || { echo "soak: $t not found (bash scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ -x "$build/daemon/denoised" ] && [ -x "$build/tools/denoise" ] ||
	{ echo "soak: build first (no $build/daemon/denoised or $build/tools/denoise)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
	jobs -p | grep -v "^${pid:-x}$" | xargs -r kill 2>/dev/null || true
	if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/models" "$tmp/state" "$tmp/data/tiny"
if [ -n "${MODEL:-}" ]; then
	cp "$MODEL" "$tmp/models/speech.safetensors"
else
	"$build/tools/denoise" model-init "$tmp/models/speech.safetensors" --filters 16 --depth 3 >/dev/null 2>&1
fi
sox -n -r 16000 -c 1 -b 16 "$tmp/one.wav" synth 1 pinknoise vol 0.3 2>/dev/null
for i in 1 2 3; do
	sox -n -r 16000 -c 1 -b 16 "$tmp/data/tiny/spk${i}_001.wav" synth 1 sine $((200 * i)) vol 0.3 2>/dev/null
done
head -c 30 "$tmp/one.wav" >"$tmp/trunc.wav"
head -c 4096 /dev/urandom >"$tmp/garbage.bin"
deep=$(printf '%.0s{"a":' $(seq 64))1$(printf '%.0s}' $(seq 64))
printf '%s' "$deep" >"$tmp/deep.json"

cat >"$tmp/denoised.conf" <<EOF
models = $tmp/models
default_model = speech
port = 0
port_file = $tmp/port
state_dir = $tmp/state
data_roots = $tmp/data
max_body_bytes = 1M
max_jobs = 1
max_queued_jobs = 4
job_retention_count = 20
log_level = warning
EOF
"$build/daemon/denoised" --config "$tmp/denoised.conf" 2>"$tmp/daemon.log" &
pid=$!
for _ in $(seq 300); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/daemon.log"; echo "soak: the daemon did not start" >&2; exit 1; }
url=http://127.0.0.1:$(cat "$tmp/port")

# One request: appends "KIND CODE SECONDS" to the client's log.
req() {
	local kind=$1 log=$2 out
	shift 2
	out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 "$@" 2>/dev/null) || true
	[ -n "$out" ] || out="000 0"
	echo "$kind $out" >>"$log"
}

client() {
	local log=$tmp/client.$1 end=$(($(date +%s) + secs)) out id
	while [ "$(date +%s)" -lt "$end" ]; do
		req denoise "$log" -H 'Content-Type: audio/wav' --data-binary @"$tmp/one.wav" "$url/v1/audio:denoise"
		req trunc "$log" -H 'Content-Type: audio/wav' --data-binary @"$tmp/trunc.wav" "$url/v1/audio:denoise"
		req live "$log" "$url/v1/health/live"
		req garbage "$log" -H 'Content-Type: audio/wav' --data-binary @"$tmp/garbage.bin" "$url/v1/audio:denoise"
		req models "$log" "$url/v1/models"
		req ctype "$log" -H 'Content-Type: text/plain' --data-binary @"$tmp/one.wav" "$url/v1/audio:denoise"
		req spec "$log" -H 'Content-Type: application/json' -d '{"type":"eval","colour":"red"}' "$url/v1/jobs"
		req deep "$log" -H 'Content-Type: application/json' --data-binary @"$tmp/deep.json" "$url/v1/jobs"
		req huge "$log" -H 'Content-Type: audio/wav' -H 'Content-Length: 1073741824' -d x "$url/v1/audio:denoise"
		req nul "$log" -H 'Content-Type: audio/wav' --data-binary @"$tmp/one.wav" "$url/v1/audio:denoise?model=%00x"
		req route "$log" "$url/v1/nothing"
		req metrics "$log" "$url/metrics"
		out=$(curl -s -w '\n%{http_code} %{time_total}' --max-time 60 -H 'Content-Type: application/json' \
			-d '{"type":"eval","dataset":"tiny","params":{"max_files":1}}' "$url/v1/jobs" 2>/dev/null) || out="000 0"
		echo "job ${out##*$'\n'}" >>"$log"
		id=$(printf '%s' "$out" | grep -o '"id": *"j[0-9]*"' | grep -o 'j[0-9]*' || true)
		if [ -n "$id" ]; then
			req jobdel "$log" -X DELETE "$url/v1/jobs/$id"
			req jobdel "$log" -X DELETE "$url/v1/jobs/$id"
		fi
	done
}

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }

echo "soak: $clients clients for ${secs}s against $url (model: ${MODEL:-random, 16 filters, depth 3}); RSS $(rss) KiB at start"
for c in $(seq "$clients"); do client "$c" & done
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null && [ $(($(date +%s) - t0)) -lt "$secs" ]; do
	echo "$(($(date +%s) - t0)) $(rss)" >>"$tmp/rss"
	sleep 2
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
kill -0 "$pid" 2>/dev/null || { tail -20 "$tmp/daemon.log"; echo "soak: the daemon died" >&2; exit 1; }
peak=$(hwm)
cat "$tmp"/client.* >"$tmp/all"

awk -v warm="$warm" '$1 >= warm {if (!n++) first = $2; last = $2; if ($2 < lo || n == 1) lo = $2; if ($2 > hi) hi = $2}
	END {printf "RSS after %ds warm-up: %d KiB first, %d KiB last (min %d, max %d)\n", warm, first, last, lo, hi}' "$tmp/rss"
echo "RSS peak (VmHWM): $peak KiB"
# Expected codes per kind.
awk 'BEGIN {
		ok["denoise"] = " 200 "; ok["live"] = " 200 "; ok["models"] = " 200 "; ok["metrics"] = " 200 "
		ok["job"] = " 202 429 "; ok["jobdel"] = " 200 202 204 409 404 "; ok["trunc"] = " 422 "
		ok["garbage"] = " 422 415 "; ok["ctype"] = " 415 "; ok["spec"] = " 422 "; ok["deep"] = " 400 422 "
		ok["huge"] = " 413 "; ok["nul"] = " 400 "; ok["route"] = " 404 "
	}
	{n[$1]++; total++; seen[$1] = seen[$1] (index(seen[$1], " " $2 " ") ? "" : " " $2 " "); if (index(ok[$1], " " $2 " ") == 0) {bad[$1]++; errors++; codes[$1] = codes[$1] " " $2}}
	END {
		printf "%d requests, %d errors (answers outside the expected codes, or none)\n", total, errors
		for (k in n) printf "  %-8s %6d  codes:%s%s\n", k, n[k], seen[k], bad[k] ? sprintf("  %d unexpected:%s", bad[k], substr(codes[k], 1, 60)) : ""
	}' "$tmp/all"
pct() { sort -n | awk '{v[NR] = $1} END {if (NR) printf "p50 %.1f ms, p99 %.1f ms (%d)", 1000 * v[int((NR - 1) * 0.5) + 1], 1000 * v[int((NR - 1) * 0.99) + 1], NR}'; }
echo "latency, denoise: $(awk '$1 == "denoise" {print $3}' "$tmp/all" | pct)"
echo "latency, bad requests: $(awk '$1 ~ /^(trunc|garbage|ctype|spec|deep|huge|nul|route)$/ {print $3}' "$tmp/all" | pct)"
echo "latency, all: $(awk '{print $3}' "$tmp/all" | pct)"
