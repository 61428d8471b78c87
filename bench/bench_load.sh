#!/usr/bin/env bash
# bench_load.sh — HTTP load test of a freshly started denoised with wrk.
#
# Starts build/daemon/denoised (BUILD=DIR for another build) on a free port
# of 127.0.0.1 with its default configuration (workers = cores), then:
#   1. GET /v1/health/live: LIVE_REQUESTS (10000) requests, LIVE_CONNECTIONS
#      (16) connections, stopping earlier after LIVE_SECONDS (30);
#   2. POST /v1/audio:denoise with a 2 s 16 kHz mono WAV (espeak-ng + sox),
#      twice: DENOISE_REQUESTS (10000) requests or DENOISE_SECONDS (60),
#      whichever comes first, DENOISE_CONNECTIONS (4) connections. Inference
#      is the slow part: on a small machine the time bound ends these runs.
# For each run: requests/s, p50/p99 latency, non-2xx answers and socket
# errors; the daemon's VmRSS (/proc/PID/status) before, after each run, and
# its peak (VmHWM). The second denoise run shows whether memory still grows
# once the workers are warm. Never passes or fails; it measures.
#
# The model: MODEL=FILE, else the shipped models/speech*.safetensors, else a
# seed-size one (32 base filters, depth 3, random weights: the same cost as
# trained ones) made with `denoise model-init`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
live_n=${LIVE_REQUESTS:-10000}
live_s=${LIVE_SECONDS:-30}
live_c=${LIVE_CONNECTIONS:-16}
den_n=${DENOISE_REQUESTS:-10000}
den_s=${DENOISE_SECONDS:-60}
den_c=${DENOISE_CONNECTIONS:-4}
threads=2

for t in wrk espeak-ng sox curl; do
	command -v "$t" >/dev/null || { echo "bench_load: $t not found (bash scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ -x "$build/daemon/denoised" ] && [ -x "$build/tools/denoise" ] ||
	{ echo "bench_load: build first (no $build/daemon/denoised or $build/tools/denoise)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

model=${MODEL:-}
if [ -z "$model" ]; then
	for m in "$top"/models/speech*.safetensors; do
		[ -f "$m" ] && model=$m && break
	done
fi
if [ -z "$model" ]; then
	model=$tmp/speech.safetensors
	"$build/tools/denoise" model-init "$model" 2>/dev/null
	model_desc="seed-size (denoise model-init: 32 base filters, depth 3)"
else
	model_desc=$model
fi

# 2 s of speech, 16 kHz mono 16-bit, padded with silence if espeak is shorter.
espeak-ng -w "$tmp/raw.wav" "The quick brown fox jumps over the lazy dog near the river bank."
sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$tmp/speech.wav" pad 0 2 trim 0 2 2>/dev/null

# Each wrk thread counts its answers, stops at its share of the requests and
# says so with a file; wrk itself sleeps out its -d, so run() interrupts it
# (SIGINT: wrk then reports as usual) once every thread is done. done() adds
# up the threads' non-2xx counts and prints one line of figures.
cat >"$tmp/load.lua" <<'EOF'
local threads = {}
function setup(thread)
	table.insert(threads, thread)
	thread:set("id", #threads)
end
function init(args)
	limit = tonumber(args[1]) or 0
	flag = args[3] .. "/done." .. id
	responses, non2xx = 0, 0
	if args[2] ~= "" then
		local f = assert(io.open(args[2], "rb"))
		wrk.method = "POST"
		wrk.body = f:read("*a")
		wrk.headers["Content-Type"] = "audio/wav"
		f:close()
	end
end
function response(status, headers, body)
	responses = responses + 1
	if status < 200 or status > 299 then non2xx = non2xx + 1 end
	if limit > 0 and responses == limit then
		wrk.thread:stop()
		io.open(flag, "w"):close()
	end
end
function done(summary, latency, requests)
	local bad = 0
	for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
	local e = summary.errors
	io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d errors=%d\n",
		summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3, bad,
		e.connect + e.read + e.write + e.timeout))
end
EOF

"$build/daemon/denoised" --listen 127.0.0.1 --port 0 --port-file "$tmp/port" --models "$model" \
	--state-dir "$tmp" 2>"$tmp/daemon.log" &
pid=$!
for _ in $(seq 300); do
	[ -s "$tmp/port" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/daemon.log"; exit 1; }
	sleep 0.1
done
port=$(cat "$tmp/port")
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/health/ready")" = 200 ] ||
	{ echo "bench_load: the daemon is not ready" >&2; cat "$tmp/daemon.log"; exit 1; }
rss() { awk -v k="$1:" '$1 == k {print $2 " kB"}' "/proc/$pid/status"; }

echo "denoised bench_load — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo "daemon: $(sed -n 's/.*listening on [^;]*; //p' "$tmp/daemon.log" | head -1)"
echo "model: $model_desc; audio: 2.00 s, 16 kHz mono, $(stat -c %s "$tmp/speech.wav") bytes"
echo "wrk: $threads threads; live $live_c connections, denoise $den_c connections; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "VmRSS at start: $(rss VmRSS)"

# run NAME CONNECTIONS REQUESTS SECONDS PATH [BODY]
run() {
	local per=$((($3 + threads - 1) / threads)) wrk_pid
	rm -f "$tmp"/done.*
	wrk -t"$threads" -c"$2" -d"$4"s --timeout 60s -s "$tmp/load.lua" "http://127.0.0.1:$port$5" \
		-- "$per" "${6:-}" "$tmp" >"$tmp/wrk.out" 2>&1 &
	wrk_pid=$!
	while kill -0 "$wrk_pid" 2>/dev/null; do
		if [ "$(find "$tmp" -maxdepth 1 -name 'done.*' | wc -l)" -ge "$threads" ]; then
			kill -INT "$wrk_pid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$wrk_pid" || true
	printf '%-28s %s\n' "$1" "$(sed -n 's/^RESULT //p' "$tmp/wrk.out")"
	grep -q '^RESULT ' "$tmp/wrk.out" || cat "$tmp/wrk.out"
	printf '%-28s VmRSS %s\n' "" "$(rss VmRSS)"
}
run "GET /v1/health/live" "$live_c" "$live_n" "$live_s" /v1/health/live
run "POST /v1/audio:denoise (1)" "$den_c" "$den_n" "$den_s" /v1/audio:denoise "$tmp/speech.wav"
run "POST /v1/audio:denoise (2)" "$den_c" "$den_n" "$den_s" /v1/audio:denoise "$tmp/speech.wav"
echo "VmHWM (peak): $(rss VmHWM); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
# wrk drops the requests in flight when a run's time is up; the daemon still
# answers them, so its log counts more than wrk does.
echo "daemon exit status after SIGTERM: $rc; its log: $(grep -c ' POST /v1/audio:denoise 200 ' "$tmp/daemon.log") denoise answers with 200, $(grep -c ' POST /v1/audio:denoise [^2]' "$tmp/daemon.log") others"
