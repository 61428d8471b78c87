#!/usr/bin/env bash
# pack-training-audio.sh [SPEECH [NOISE [DST]]] — the real training audio as
# Ogg Opus, small enough to travel to a GPU machine with the binaries (the
# transfer limit is 64 MiB; this aims at 40 MiB):
#   DST/real/        the train and valid splits of the real-speech corpus
#                    (default data/real-speech, scripts/make-real-speech.sh),
#                    corpus layout: manifest.tsv naming .opus files, SPLITS.md
#   DST/noise/train/ the training noise recordings (default data/noise/train,
#                    scripts/make-real-noise.sh)
# DST defaults to .carry (git-ignored). Test splits stay behind: they are
# scored where the lossless originals are. Speech is coded at $DN_SPEECH_KBPS
# (default 20) kbit/s, noise at $DN_NOISE_KBPS (default 24); libsndfile
# decodes Opus, so `denoise train --data DST/real --noise-dir DST/noise/train`
# reads the pack as it is. Opus is lossy: the targets the model learns from
# lose what the codec drops (measured by scripts/pack-cost.sh, written in
# SPLITS.md). Re-runs skip files already coded. Uses both CPUs via xargs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
speech=${1:-$root/data/real-speech} noise=${2:-$root/data/noise/train} dst=${3:-$root/.carry}
skbps=${DN_SPEECH_KBPS:-20} nkbps=${DN_NOISE_KBPS:-24}
jobs=${DN_JOBS:-2}
for f in "$speech/manifest.tsv"; do
	[ -s "$f" ] || { echo "pack-training-audio: $f missing (run scripts/make-real-speech.sh)" >&2; exit 1; }
done
[ -d "$noise" ] || { echo "pack-training-audio: $noise missing (run scripts/make-real-noise.sh)" >&2; exit 1; }
mkdir -p "$dst/real" "$dst/noise/train"
# Rows of train and valid only, paths renamed to .opus; rows that point
# outside the corpus (a merged TTS source, ../speech/...) are left out.
awk -F'\t' 'NR == 1 || (($1 == "train" || $1 == "valid") && $4 !~ /^(\/|\.\.)/)' \
	"$speech/manifest.tsv" | sed 's/\.wav\t/.opus\t/' >"$dst/real/manifest.tsv"
cp "$speech/SPLITS.md" "$dst/real/" 2>/dev/null || true
enc() { # SRC DST KBPS
	[ -s "$2" ] && return 0
	mkdir -p "$(dirname "$2")"
	ffmpeg -nostdin -loglevel error -y -i "$1" -c:a libopus -b:a "${3}k" -application audio \
		-vbr on -compression_level 10 "$2.tmp.opus" && mv "$2.tmp.opus" "$2"
}
export -f enc
tail -n +2 "$dst/real/manifest.tsv" | cut -f4 | sed 's/\.opus$//' |
	xargs -P "$jobs" -I{} bash -c 'enc "$1/{}.wav" "$2/{}.opus" "$3"' _ "$speech" "$dst/real" "$skbps"
find "$noise" -maxdepth 1 -name '*.wav' -printf '%f\n' | sed 's/\.wav$//' |
	xargs -P "$jobs" -I{} bash -c 'enc "$1/{}.wav" "$2/{}.opus" "$3"' _ "$noise" "$dst/noise/train" "$nkbps"
du -sh --apparent-size "$dst/real" "$dst/noise" "$dst"
