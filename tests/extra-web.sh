#!/usr/bin/env bash
# extra-web.sh — the built-in web page (issue 15) in a real browser: Debian's
# chromium driven by playwright-core (web/package-lock.json) against the real
# daemon on a free loopback port. This script installs the node packages from
# the lockfile when they are missing (`npm ci`), checks that the uPlot files
# committed in web/ are those of the locked package, writes the test inputs
# (a WAV, a PNG frame, a text file, the fake microphone's WAV, a tiny
# training set, a causal model with a hostile card and a model without one)
# and runs tests/web/browser.js, which starts the daemon and
# prints the checks and "N passed, N failed" (its last line, added to this
# script's own checks). Screenshots of every view go to $DN_WEB_OUT (default
# build-plain/web-test/). Uses the build in DN_BUILDDIR (default
# build-plain/, configured and built here when missing).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DN_BUILDDIR:-$top/build-plain}
out=${DN_WEB_OUT:-$build/web-test}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
not_ok() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	exit $((failed > 0))
}

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	not_ok "chromium at $chromium (apt-get install chromium; scripts/install-deps.sh does)"
	finish
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	not_ok "node and npm (scripts/install-deps.sh installs them)"
	finish
fi

# 0. The node packages of the lockfile, and a build.
if [ ! -f "$top/web/node_modules/playwright-core/package.json" ] || [ ! -f "$top/web/node_modules/uplot/package.json" ]; then
	echo "== npm ci (web/package-lock.json)"
	(cd "$top/web" && npm ci --no-audit --no-fund) || { not_ok "npm ci in web/"; finish; }
fi
if [ ! -f "$build/Makefile" ]; then
	echo "== configuring $build"
	mkdir -p "$build" && (cd "$build" && "$top/configure" -q) || { not_ok "configure"; finish; }
fi
if ! make -s -C "$build" -j2 >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log"
	not_ok "make"
	finish
fi

# 1. The vendored uPlot is the locked package's.
locked=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/uplot"].version)' "$top/web/package-lock.json")
installed=$(node -e 'console.log(require(process.argv[1]).version)' "$top/web/node_modules/uplot/package.json")
vendored_ok=1
for f in dist/uPlot.iife.min.js:uPlot.iife.min.js dist/uPlot.min.css:uPlot.min.css LICENSE:uPlot.LICENSE; do
	cmp -s "$top/web/node_modules/uplot/${f%%:*}" "$top/web/${f##*:}" || vendored_ok=0
done
if [ "$locked" = "$installed" ] && [ "$vendored_ok" = 1 ]; then
	ok "web/uPlot.* are uPlot $locked of web/package-lock.json"
else
	not_ok "web/uPlot.* differ from uPlot $locked of the lockfile (installed $installed): run scripts/web-vendor.sh"
fi

# 2. Inputs, written with Python's standard library.
mkdir -p "$tmp/data/tiny" "$out"
if ! /usr/bin/python3 - "$tmp" <<'PYEOF'; then
import math, struct, sys, wave, zlib
tmp = sys.argv[1]

def wav(path, rate, channels, seconds, f):
    w = wave.open(path, "wb")
    w.setnchannels(channels); w.setsampwidth(2); w.setframerate(rate)
    n = int(rate * seconds)
    w.writeframes(b"".join(struct.pack("<" + "h" * channels, *[max(-32767, min(32767, int(32767 * f(i / rate, c)))) for c in range(channels)]) for i in range(n)))
    w.close()

rnd = [12345]
def noise():
    rnd[0] = (rnd[0] * 1103515245 + 12345) & 0x7fffffff
    return rnd[0] / 0x3fffffff - 1.0

# a noisy 2 s stereo 44.1 kHz "voice": harmonics under a syllable envelope
def voice(t, c):
    f0 = 140 + 25 * math.sin(2 * math.pi * 0.8 * t)
    x = sum(math.sin(2 * math.pi * h * f0 * t) / h for h in range(1, 8))
    return 0.12 * x * (0.5 + 0.5 * math.sin(2 * math.pi * 3.5 * t)) + 0.05 * noise()
wav(tmp + "/noisy.wav", 44100, 2, 2.0, voice)
# the fake microphone: 16-bit PCM, as Chromium's file capture wants
wav(tmp + "/mic.wav", 48000, 1, 3.0, voice)
# the tiny training set: six "speakers" of 1 s to 1.5 s at 16 kHz
for s in range(6):
    def spk(t, c, s=s):
        f0 = 110 + 20 * s + 30 * math.sin(2 * math.pi * 0.7 * t)
        x = sum(math.sin(2 * math.pi * h * f0 * t) / h for h in range(1, 13))
        return 0.15 * x * (0.55 + 0.45 * math.sin(2 * math.pi * (3 + 0.3 * s) * t)) + 0.002 * noise()
    wav("%s/data/tiny/spk%d_%03d.wav" % (tmp, s + 1, s + 1), 16000, 1, 1.0 + 0.1 * s, spk)

# a 120x80 RGB PNG frame: gradients and noise
w, h = 120, 80
rows = b"".join(b"\0" + bytes(max(0, min(255, int(v + 40 * noise()))) for x in range(w) for v in (2 * x, 3 * y, 128)) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(tmp + "/frame.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
open(tmp + "/notes.txt", "w").write("This is a text file, not audio.\n")
PYEOF
	not_ok "test inputs"
	finish
fi

# 3. Models beside the shipped ones: a random causal (streamable) model for
# the live mode, with a card that carries markup the page must show as text,
# and a plain one without a card.
mkdir -p "$tmp/models"
if ! "$build/tools/denoise" model-init --causal --filters 4 --depth 2 --seed 3 "$tmp/models/live.safetensors" >"$tmp/init.log" 2>&1 ||
	! "$build/tools/denoise" model-init --filters 4 --depth 2 "$tmp/models/bare.safetensors" >>"$tmp/init.log" 2>&1; then
	cat "$tmp/init.log"
	not_ok "denoise model-init"
	finish
fi
cat >"$tmp/models/live.md" <<'MDEOF'
# live.safetensors — a random causal model <script>window.__pwned = 1</script>

Made by `denoise model-init --causal` for the browser test: *untrained*, **streamable**.
<img src="x" onerror="window.__pwned = 2">

| figure | value | note \| remark |
|:--|--:|:-:|
| latency | 32 ms | <b>not bold</b> |
| filters | 4 | [a script link](javascript:window.__pwned=3) and [a real one](https://example.org/card) |

- a list item
- another, with `code <i>`
MDEOF

# 4. The browser checks (the daemon is started by browser.js).
DN_TOP=$top DN_BUILDDIR=$build DN_WEB_TMP=$tmp DN_WEB_OUT=$out CHROMIUM=$chromium \
	NODE_PATH="$top/web/node_modules" node "$top/tests/web/browser.js" | tee "$tmp/browser.out"
line=$(tail -1 "$tmp/browser.out")
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	echo "== screenshots in $out"
else
	not_ok "tests/web/browser.js printed no summary line"
fi
finish
