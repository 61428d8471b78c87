#!/usr/bin/env bash
# make-real-noise.sh [ARGS] — real noise recordings in data/noise/{train,test}:
# fetches and unpacks 0ad-data (1.3 GB .deb, once; cached in data/debs and
# data/pkgs) and converts its ambient recordings with make-real-noise.py
# (ARGS go to it: --out, --test-share). Prints data/noise/NOISE.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DN_DATA_DIR:-$root/data}
bash "$root/scripts/fetch-debs.sh" "$data" 0ad-data
exec /usr/bin/python3 "$root/scripts/make-real-noise.py" \
	--zip "$data/pkgs/0ad-data/usr/share/games/0ad/mods/public/public.zip" --out "$data/noise" "$@"
