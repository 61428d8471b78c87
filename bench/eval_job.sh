#!/usr/bin/env bash
# eval_job.sh — the scripted use of evaluation jobs: submits an evaluation
# to a running denoised with curl, polls GET /v1/jobs/{id} until it is done,
# and prints the per-SNR table (noisy input -> model) from the job's metrics
# (docs/eval-json.md "by_snr"). Prints figures; never judges them.
#
# usage: bench/eval_job.sh [URL] [SPEC]
#   URL   the daemon (default $DENOISED_URL, else http://127.0.0.1:8080)
#   SPEC  the job spec (default {"type":"eval"}: the default model on the
#         built-in corpus's test split)
# $DENOISED_TOKEN, when set, is sent as the bearer token. Needs curl and jq.
set -euo pipefail

url=${1:-${DENOISED_URL:-http://127.0.0.1:8080}}
spec=${2:-'{"type":"eval"}'}
auth=()
[ -n "${DENOISED_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $DENOISED_TOKEN")
command -v jq >/dev/null || { echo "eval_job.sh: needs jq (apt-get install jq)" >&2; exit 2; }

body=$(mktemp)
trap 'rm -f "$body"' EXIT
code=$(curl -sS -o "$body" -w '%{http_code}' -X POST "${auth[@]}" \
	-H 'Content-Type: application/json' --data-binary "$spec" "$url/v1/jobs")
if [ "$code" != 202 ]; then
	echo "eval_job.sh: POST /v1/jobs answered $code: $(jq -r '.detail // .' <"$body" 2>/dev/null || cat "$body")" >&2
	exit 1
fi
id=$(jq -r .id <"$body")
echo "job $id submitted: $(jq -c .spec <"$body")" >&2
t0=$(date +%s)
while :; do
	curl -sS -f -o "$body" "$url/v1/jobs/$id"
	state=$(jq -r .state <"$body")
	case $state in
	succeeded | failed | cancelled) break ;;
	esac
	printf '\r  %-8s %5.1f%%  eta %s s   ' "$state" \
		"$(jq -r '(.progress.fraction // 0) * 100' <"$body")" \
		"$(jq -r '.progress.eta_s // "?" | if type == "number" then floor else . end' <"$body")" >&2
	sleep 2
done
printf '\r%60s\r' '' >&2
echo "job $id $state after $(($(date +%s) - t0)) s" >&2
if [ "$state" != succeeded ]; then
	echo "error: $(jq -r '.error // "none"' <"$body")" >&2
	exit 1
fi

jq -r '.metrics as $m | "model \($m.model.name) (version \($m.model.version)), \($m.test_set.files) clean files, noise \($m.test_set.noise | join(",")), \($m.test_set.noisy_files) noisy files"' <"$body"
jq -r '
  def f(d): if . == null then "   -  " else (. * d | round / d | tostring) end;
  def cell(m; d): "\(.[m].noisy.mean | f(d)) -> \(.[m].model.mean | f(d))";
  .metrics as $m |
  (["SNR in", "PESQ-WB", "STOI", "SI-SDR dB", "SNR improvement dB"] | @tsv),
  ($m.by_snr[] |
    ["\(.snr_db) dB", cell("pesq_wb"; 1000), cell("stoi"; 1000), cell("si_sdr_db"; 100),
     "\(.snr_improvement_db.mean | f(100)) ± \(.snr_improvement_db.std | f(100))"] | @tsv),
  (["all", ($m.summary | cell("pesq_wb"; 1000)), ($m.summary | cell("stoi"; 1000)),
    ($m.summary | cell("si_sdr_db"; 100)),
    "\($m.summary.snr_improvement_db.mean | f(100)) ± \($m.summary.snr_improvement_db.std | f(100))"] | @tsv),
  empty
' <"$body" | column -t -s $'\t'
jq -r '"denoising: \(.metrics.timing.denoise_seconds_per_audio_minute * 100 | round / 100) s per minute of audio"' <"$body"
