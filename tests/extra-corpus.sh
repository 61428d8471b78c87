#!/usr/bin/env bash
# extra-corpus.sh — the built-in speech corpus script, run for real on a
# small corpus: it speaks with Debian's synthesizers, writes 16 kHz mono WAVs
# and a manifest whose splits share neither voice nor sentence, and a second
# run with the same parameters is a cache hit. Prints "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }

if /usr/bin/python3 "$top/scripts/make-speech-corpus.py" --small --out "$tmp/c" >"$tmp/log" 2>&1; then
	ok "make-speech-corpus.py --small succeeds"
else
	bad "make-speech-corpus.py --small failed: $(tail -3 "$tmp/log")"
fi
m=$tmp/c/manifest.tsv
if [ -f "$m" ] && [ "$(tail -n +2 "$m" | wc -l)" -ge 30 ]; then
	ok "the manifest lists the utterances"
else
	bad "manifest missing or short"
fi
missing=0
while IFS=$'\t' read -r split voice sid path dur synth; do
	[ -f "$tmp/c/$path" ] || missing=$((missing + 1))
done < <(tail -n +2 "$m" 2>/dev/null)
[ "$missing" -eq 0 ] && ok "every listed file exists" || bad "$missing listed files are missing"
first=$(tail -n +2 "$m" 2>/dev/null | head -1 | cut -f4)
if [ -n "$first" ] && [ "$(soxi -r "$tmp/c/$first" 2>/dev/null)" = 16000 ] && [ "$(soxi -c "$tmp/c/$first" 2>/dev/null)" = 1 ]; then
	ok "files are 16 kHz mono"
else
	bad "files are not 16 kHz mono"
fi
# No voice and no sentence in two splits.
for col in 2 3; do
	shared=$(tail -n +2 "$m" 2>/dev/null | cut -f1,"$col" | sort -u | cut -f2 | sort | uniq -d | wc -l)
	[ "$shared" -eq 0 ] && ok "column $col is split-disjoint" || bad "$shared values of column $col are in two splits"
done
before=$(find "$tmp/c" -type f -printf '%P %T@\n' | sort)
/usr/bin/python3 "$top/scripts/make-speech-corpus.py" --small --out "$tmp/c" >"$tmp/log2" 2>&1
after=$(find "$tmp/c" -type f -printf '%P %T@\n' | sort)
[ -n "$before" ] && [ "$before" = "$after" ] && ok "a second run is a cache hit (no file rewritten)" ||
	bad "a second run rewrote the corpus"
echo "$pass passed, $fail failed"
