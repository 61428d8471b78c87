#!/usr/bin/env bash
# The installed tree stands on its own (issue 16): configures and builds a
# scratch copy with --prefix, installs it through a DESTDIR, moves the staged
# files to the prefix as a package would, removes the build tree, then
#   - the installed binaries hold no path of the source or build tree;
#   - installed `denoise` and `denoised` find the shipped models in
#     $(pkgdatadir) with no DENOISE_DATADIR and no build tree;
#   - examples/denoise_example.c builds with `pkg-config --cflags --libs
#     denoise` alone and runs against the installed shared library;
#   - the shared library exports only denoise_* names.
# Prints "N passed, N failed" last.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
tmp=$(mktemp -d)
daemon_pid=""
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
summary() { echo "$pass passed, $fail failed"; exit $((fail > 0)); }

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null) || { bad "autoreconf"; summary; }
prefix=$tmp/inst
build=$tmp/build
mkdir -p "$build"
if ! (cd "$build" && "$top/configure" -q --prefix="$prefix" --with-systemdsystemunitdir=no \
	>configure.out 2>&1 && make -j"$jobs" >make.out 2>&1 &&
	make install DESTDIR="$tmp/stage" >install.out 2>&1); then
	tail -30 "$build"/*.out
	bad "configure, build and install into a DESTDIR"
	summary
fi
ok "installed into DESTDIR"
mkdir -p "$(dirname "$prefix")"
mv "$tmp/stage$prefix" "$prefix" && rm -rf "$tmp/stage" "$build"
[ ! -e "$build" ] && ok "build tree removed" || bad "build tree removed"

# No compiled-in path of the trees (the strings the programs can read).
leak=0
for f in "$prefix"/bin/denoise "$prefix"/sbin/denoised "$prefix"/lib/libdenoise.so.*.*; do
	if readelf -p .rodata "$f" 2>/dev/null | grep -qF -e "$top" -e "$build"; then
		echo "  $f names $top or $build"
		leak=1
	fi
done
[ $leak = 0 ] && ok "installed binaries name no source or build path" || bad "installed binaries name a tree path"

unset DENOISE_DATADIR DENOISE_MODEL_DIR DN_SRCDIR DN_BUILDDIR
export OPENBLAS_NUM_THREADS=1
cd "$tmp"
/usr/bin/python3 - <<'PY'
import math, struct, wave
with wave.open("in.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / 16000)))
                           for i in range(16000)))
PY
if [ -f "$top/models/speech.safetensors" ]; then
	if "$prefix/bin/denoise" audio in.wav out.wav >denoise.out 2>&1 && [ -s out.wav ]; then
		ok "installed denoise finds models/speech.safetensors in \$(pkgdatadir)"
	else
		cat denoise.out
		bad "installed denoise audio without --model"
	fi
	shipped=$(ls "$top"/models/*.safetensors | wc -l)
	if "$prefix/sbin/denoised" --check-config >check.out 2>&1 &&
		grep -q "$shipped models from $prefix/share/denoised/models" check.out; then
		ok "installed denoised finds its models in \$(pkgdatadir)"
	else
		cat check.out
		bad "installed denoised --check-config"
	fi
	"$prefix/sbin/denoised" --listen 127.0.0.1 --port 0 --port-file port >daemon.out 2>&1 &
	daemon_pid=$!
	for _ in $(seq 1 100); do [ -s port ] && break; sleep 0.2; done
	if [ -s port ] && curl -sf "http://127.0.0.1:$(cat port)/v1/health/ready" >/dev/null; then
		ok "installed denoised serves, ready with the shipped models"
	else
		cat daemon.out
		bad "installed denoised ready"
	fi
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=""
else
	echo "skip: no shipped models in the source tree"
fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if cc -std=c11 -o example "$top/examples/denoise_example.c" $(pkg-config --cflags --libs denoise) -lm \
	2>cc.out; then
	ok "the example builds with pkg-config --cflags --libs denoise alone"
	if [ -f "$top/models/speech.safetensors" ]; then
		LD_LIBRARY_PATH=$prefix/lib ./example >example.out 2>&1 && grep -q "^denoised" example.out &&
			ok "the example runs against the installed libdenoise" ||
			{ cat example.out; bad "the example runs"; }
	fi
else
	cat cc.out
	bad "the example builds with pkg-config"
fi

other=$(nm -D --defined-only "$prefix"/lib/libdenoise.so | awk '$3 !~ /^denoise_/ {print $3}')
[ -z "$other" ] && ok "libdenoise.so exports only denoise_*" || bad "libdenoise.so also exports: $other"
summary
