#!/usr/bin/env bash
# make-real-speech.sh [ARGS] — the real-speech corpus in data/real-speech/:
# fetches and unpacks (no install) the Debian packages with recorded voices
# into data/debs/ and data/pkgs/ (cached), then converts them with
# make-real-speech.py (ARGS go to it: --out, --max-seconds, --tts DIR).
# Prints data/real-speech/SPLITS.md. Licences: docs/data-sources.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DN_DATA_DIR:-$root/data}
bash "$root/scripts/fetch-debs.sh" "$data" festvox-ru \
	asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 \
	asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 klettres-data hedgewars-data
exec /usr/bin/python3 "$root/scripts/make-real-speech.py" --pkgs "$data/pkgs" --out "$data/real-speech" "$@"
