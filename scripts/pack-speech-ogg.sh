#!/usr/bin/env bash
# pack-speech-ogg.sh SRC DST — a copy of a speech corpus (manifest.tsv and
# WAVs, as scripts/make-speech-corpus.py writes) with every WAV encoded as
# Ogg Vorbis (quality 4, about 64 kbit/s at 16 kHz), so that training audio
# fits the 64 MiB a GPU run may carry; the manifest names the .ogg files.
# libsndfile decodes them, so the dataset code reads them unchanged. Vorbis
# is lossy: the clean targets lose what a ~64 kbit/s codec drops (above
# ~7 kHz mostly); models/speech.md says so for models trained from it.
set -euo pipefail
src=$1 dst=$2
mkdir -p "$dst"
cp "$src/sentences.tsv" "$src/corpus.json" "$dst/" 2>/dev/null || true
sed 's/\.wav\t/.ogg\t/' "$src/manifest.tsv" >"$dst/manifest.tsv"
tail -n +2 "$src/manifest.tsv" | cut -f4 | while read -r rel; do
	out="$dst/${rel%.wav}.ogg"
	[ -s "$out" ] && continue
	mkdir -p "$(dirname "$out")"
	ffmpeg -nostdin -loglevel error -y -i "$src/$rel" -c:a libvorbis -q:a 4 "$out"
done
