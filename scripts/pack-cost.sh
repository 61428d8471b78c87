#!/usr/bin/env bash
# pack-cost.sh [SPEECH [PACK [N]]] — what the GPU pack's Opus coding costs:
# `denoise metrics` of each decoded .opus against its WAV original, for N
# (default 20) files spread evenly over the pack's manifest, with the mean
# and the worst file (files too short for STOI are skipped and not counted). Appends the table to SPEECH/SPLITS.md and
# PACK/SPLITS.md (replacing an earlier one) and prints it. DENOISE names the
# binary (default: denoise on PATH, else build/tools/denoise).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
speech=${1:-$root/data/real-speech} pack=${2:-$root/.carry/real} n=${3:-20}
dn=${DENOISE:-$(command -v denoise || echo "$root/build/tools/denoise")}
[ -x "$dn" ] || { echo "pack-cost: no denoise binary (set DENOISE=path)" >&2; exit 1; }
rows=$(($(wc -l <"$pack/manifest.tsv") - 1))
step=$((rows / n > 0 ? rows / n : 1))
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
tail -n +2 "$pack/manifest.tsv" | awk -v s="$step" '(NR - 1) % s == 0' |
	while IFS=$'\t' read -r split voice sid path rest; do
		[ "$(wc -l <"$tmp")" -ge "$n" ] && break
		orig="$speech/${path%.opus}.wav"
		# Files too short for STOI (under ~0.4 s of speech) are skipped.
		out=$("$dn" metrics "$orig" "$pack/$path" --trim 2>/dev/null) || continue
		jq -r --arg v "$voice" '[$v, .pesq_wb, .stoi, .si_sdr_db, .snr_db] | @tsv' <<<"$out" >>"$tmp"
	done
table=$(awk -F'\t' -v kb="${DN_SPEECH_KBPS:-20}" '
	{ n++; p += $2; s += $3; d += $4; r += $5; if (n == 1 || $2 < wp) { wp = $2; wv = $1 } }
	END {
		printf "## What the pack'"'"'s Opus coding costs (%d kbit/s)\n\n", kb
		printf "scripts/pack-cost.sh: denoise metrics of the decoded .opus against the WAV, %d files spread over train+valid.\n\n", n
		printf "| metric | mean |\n|---|---:|\n"
		printf "| PESQ-wb | %.3f |\n| STOI | %.4f |\n| SI-SDR dB | %.2f |\n| SNR dB | %.2f |\n", p / n, s / n, d / n, r / n
		printf "\nLowest PESQ-wb: %.3f (%s).\n", wp, wv
	}' "$tmp")
for f in "$speech/SPLITS.md" "$pack/SPLITS.md"; do
	[ -f "$f" ] || continue
	awk '/^## What the pack/ { exit } { print }' "$f" >"$f.tmp"
	printf '%s\n' "$table" >>"$f.tmp"
	mv "$f.tmp" "$f"
done
printf '%s\n' "$table"
