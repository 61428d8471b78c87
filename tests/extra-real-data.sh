#!/usr/bin/env bash
# extra-real-data.sh — the real-speech and real-noise scripts: their signal
# handling on generated input always (silence trimmed, long pauses cut,
# short or silent pieces dropped, long ones split; the noise split's subset
# choice), and, when data/real-speech and data/noise have been made
# (scripts/make-real-speech.sh, scripts/make-real-noise.sh; 1.7 GB of
# packages, so not fetched here), the made data: splits disjoint by
# speaker, every file 16 kHz mono 16-bit within 0.5..60 s, noise files in
# one split each with every category on both sides, and a re-run a cache
# hit. Prints "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }
# relay WHAT RC OUTPUT: counts the "ok: ..." lines a Python check printed,
# and a failure named WHAT (with the output's end) when it exited non-zero.
relay() {
	local line
	while IFS= read -r line; do
		case $line in ok:*) ok "${line#ok: }" ;; esac
	done <<<"$3"
	[ "$2" -eq 0 ] || bad "$1: $(tail -3 <<<"$3")"
}
py=/usr/bin/python3

out=$("$py" - "$top/scripts" <<'PY' 2>&1
import importlib.util, sys
import numpy as np
def load(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), "%s/%s.py" % (sys.argv[1], name))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m
s = load("make-real-speech")
R = s.RATE
t = np.arange(R) / R
tone = 0.5 * np.sin(2 * np.pi * 200 * t)
sil = np.zeros(2 * R)
# 2 s silence, 1 s tone, 2 s pause, 1 s tone, 2 s silence
x = np.concatenate([sil, tone, sil, tone, sil])
p = s.clean_up(x, 60.0)
assert len(p) == 1, len(p)
d = len(p[0]) / R
assert 2.4 < d < 2.7, d  # 2 s of tone + 0.3 s of pause + 0.1 s each end
print("ok: silence trimmed and a 2 s pause cut to 0.3 s (%.2f s kept)" % d)
assert s.clean_up(np.zeros(R), 60.0) == []
assert s.clean_up(np.concatenate([sil, tone[:R // 5], sil]), 60.0) == []
print("ok: silent and 0.2 s recordings dropped")
long = np.tile(tone, 130)
p = s.clean_up(long, 60.0)
assert [round(len(q) / R) for q in p] == [60, 60, 10], [len(q) / R for q in p]
print("ok: a 130 s recording cut into pieces of at most 60 s")
n = load("make-real-noise")
files = [("a", 60.0), ("b", 30.0), ("c", 20.0), ("d", 10.0)]
t = n.pick_test(files, 0.25)
assert t == {"c", "d"} or t == {"b"}, t
assert 0 < len(t) < len(files)
assert n.category("amb_trade_10") == "market" and n.category("waterfall_31") == "river"
print("ok: the noise split takes the subset closest to 25% and names categories")
PY
)
relay "script functions" $? "$out"

speech=$top/data/real-speech noise=$top/data/noise
if [ ! -s "$speech/manifest.tsv" ] || [ ! -s "$noise/noise.tsv" ]; then
	echo "skip: the made data (run scripts/make-real-speech.sh and scripts/make-real-noise.sh)"
else
	res=$("$py" - "$speech" "$noise" <<'PY' 2>&1
import os, sys, wave
sp, no = sys.argv[1], sys.argv[2]
rows = [l.split("\t") for l in open(os.path.join(sp, "manifest.tsv")).read().splitlines()[1:]]
rows = [r for r in rows if not r[1].startswith("tts+")]
where = {}
for r in rows:
    where.setdefault(r[1], set()).add(r[0])
both = [v for v, s in where.items() if len(s) > 1]
assert not both, both
print("ok: %d speakers, each in one split" % len(where))
pkg = lambda r: "asterisk" if r[5].startswith("asterisk") else r[5].split("/")[0]
pk = {s: {pkg(r) for r in rows if r[0] == s} for s in ("valid", "test")}
assert all(len(v) >= 3 for v in pk.values()), pk
print("ok: validation and test hold speakers of three packages")
bad = []
for r in rows:
    with wave.open(os.path.join(sp, r[3])) as w:
        d = w.getnframes() / w.getframerate()
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2 or not 0.5 <= d <= 60.0:
            bad.append(r[3])
assert not bad, bad[:3]
print("ok: %d files, all 16 kHz mono 16-bit and 0.5..60 s" % len(rows))
nr = [l.split("\t") for l in open(os.path.join(no, "noise.tsv")).read().splitlines()[1:]]
names = {}
for r in nr:
    names.setdefault(r[2], set()).add(r[0])
    assert os.path.exists(os.path.join(no, r[0], r[2])), r
assert all(len(s) == 1 for s in names.values())
cats = {(r[1], r[0]) for r in nr}
assert all((c, s) in cats for c in {r[1] for r in nr} for s in ("train", "test"))
print("ok: noise files in one split each, every category on both sides")
PY
)
	relay "made data" $? "$res"
	if bash "$top/scripts/make-real-speech.sh" 2>&1 | grep -q "is up to date"; then
		ok "a re-run of make-real-speech.sh is a cache hit"
	else
		bad "make-real-speech.sh re-run was not a cache hit"
	fi
fi
echo "$pass passed, $fail failed"
