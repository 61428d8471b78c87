#!/usr/bin/env bash
# config-file.sh — etc/denoised.conf is exactly what `denoised --print-config`
# prints (the table in daemon/config.c documents itself, so the two cannot
# drift: run `make update-config` after changing the table), and
# `denoised --check-config` accepts it, refuses a bad file with the line
# number, and refuses an impossible thread split.
set -u
bin=${DN_BUILDDIR:-.}/daemon/denoised
conf=${DN_SRCDIR:-..}/etc/denoised.conf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check NAME COMMAND...: counts a failed command
	if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; fails=$((fails + 1)); fi
}

"$bin" --print-config >"$tmp/printed.conf"
check "etc/denoised.conf equals --print-config (run make update-config)" \
	diff -u "$conf" "$tmp/printed.conf"
check "--check-config accepts etc/denoised.conf" \
	"$bin" --check-config --config "$conf" --models "$tmp"
printf 'port = 80\nworkerz = 2\n' >"$tmp/bad.conf"
"$bin" --check-config --config "$tmp/bad.conf" 2>"$tmp/err"
rc=$?
check "--check-config refuses an unknown key (exit 1 or 2)" test "$rc" -ne 0
check "the refusal names file and line" grep -q "bad.conf:2: unknown key 'workerz'" "$tmp/err"
"$bin" --check-config --cores 2 --workers 2 --blas-threads 2 --models "$tmp" 2>"$tmp/err"
check "--check-config refuses workers x blas_threads > cores" test $? -eq 1
check "the refusal says why" grep -q "exceeds cores" "$tmp/err"
check "--help lists every key" sh -c "'$bin' --help | grep -c '^  --' | grep -qx '$(grep -c '^#[a-z_]* = ' "$conf")'"
exit $((fails > 0))
