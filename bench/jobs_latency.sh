#!/usr/bin/env bash
# jobs_latency.sh — what a training job costs the requests served beside it:
# p50/p90/p99 of POST /v1/audio:denoise (3 s of 16 kHz speech-like audio, one
# client, sequential) on an idle daemon, then while a training job (the
# seed's architecture, 32 filters depth 3) runs on the job thread. Starts
# its own daemon from the build tree on a free loopback port. Prints figures;
# never judges them.
#
# usage: bench/jobs_latency.sh [BUILDDIR] [REQUESTS]   (default build, 100)
# Needs curl, jq and sox.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-100}
tmp=$(mktemp -d /tmp/dn_jobs_latency_XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/models" "$tmp/state" "$tmp/data/tiny"
(cd "$tmp/models" && "$build/tools/denoise" model-init speech.safetensors >/dev/null)
for i in 1 2 3 4 5 6; do
	sox -n -r 16000 -c 1 -b 16 "$tmp/data/tiny/spk${i}_00$i.wav" synth 3 sine $((100 + 23 * i)) \
		synth 3 sine amod 4 tremolo 3 60 2>/dev/null
done
sox -n -r 16000 -c 1 -b 16 "$tmp/in.wav" synth 3 pinknoise vol 0.1 2>/dev/null
"$build/daemon/denoised" --models "$tmp/models" --state-dir "$tmp/state" --data-roots "$tmp/data" \
	--port 0 --port-file "$tmp/port" --log-level warning 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")"
cores=$(curl -s "$url/metrics" | awk '/^denoised_workers /{w=$2} END{print w}')

# measure LABEL: n sequential requests; prints the percentiles.
measure() {
	for _ in $(seq 3); do
		curl -s -o /dev/null --data-binary @"$tmp/in.wav" -H 'Content-Type: audio/wav' "$url/v1/audio:denoise"
	done
	for _ in $(seq "$n"); do
		curl -s -o /dev/null -w '%{time_total}\n' --data-binary @"$tmp/in.wav" \
			-H 'Content-Type: audio/wav' "$url/v1/audio:denoise"
	done | sort -n | awk -v label="$1" '{v[NR] = $1} END {
		printf "%-28s n=%d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", label, NR,
		       1000 * v[int(NR * 0.5 + 0.5)], 1000 * v[int(NR * 0.9 + 0.5)],
		       1000 * v[int(NR * 0.99 + 0.5)], 1000 * v[NR]}'
}

echo "denoised: $cores workers; $(nproc) CPUs online; 3 s of audio per request"
measure "idle"
id=$(curl -s -X POST -H 'Content-Type: application/json' "$url/v1/jobs" \
	-d '{"type":"train","dataset":"tiny","params":{"epochs":1000,"patches_per_item":50}}' | jq -r .id)
for _ in $(seq 300); do
	[ "$(curl -s "$url/v1/jobs/$id" | jq -r .state)" = running ] && break
	sleep 0.1
done
sleep 2
measure "training job running"
curl -s "$url/v1/jobs/$id" | jq -r '"  (the job: epoch \(.progress.epoch), step \(.progress.step)/\(.progress.steps))"'
curl -s -o /dev/null -X DELETE "$url/v1/jobs/$id"
