#!/usr/bin/env bash
# fetch-debs.sh DATA PKG... — Debian packages as files, not installed: each
# .deb is fetched with `apt-get download` into DATA/debs/ (a cache: a package
# whose .deb is there is not fetched again) and unpacked with `dpkg-deb -x`
# into DATA/pkgs/PKG/ (skipped when that folder is complete: a stamp file is
# written last). Needs only apt's package lists (apt-get update), no root for
# the unpacking. Used by make-real-speech.sh and make-real-noise.sh.
set -euo pipefail
data=$1
shift
mkdir -p "$data/debs" "$data/pkgs"
for pkg in "$@"; do
	deb=$(ls "$data/debs/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		echo "fetch-debs: downloading $pkg" >&2
		(cd "$data/debs" && apt-get download "$pkg") ||
			{ echo "fetch-debs: apt-get download $pkg failed (run apt-get update?)" >&2; exit 1; }
		deb=$(ls "$data/debs/${pkg}"_*.deb | head -n 1)
	fi
	dir="$data/pkgs/$pkg"
	if [ ! -e "$dir/.unpacked" ]; then
		rm -rf "$dir"
		dpkg-deb -x "$deb" "$dir"
		dpkg-deb -f "$deb" Version >"$dir/.unpacked"
	fi
done
