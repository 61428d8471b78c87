#!/usr/bin/env bash
# extra-systemd.sh — the installed service: `make install DESTDIR=...` lays out
# the binary, the unit, the configuration and the shipped models where the
# unit expects them; `systemd-analyze verify` accepts the installed unit and
# `systemd-analyze security --offline` scores its hardening; the installed
# daemon, started from the DESTDIR with a temporary state directory on a free
# loopback port, becomes ready, speaks the sd_notify protocol the unit relies
# on (READY=1, STATUS=, WATCHDOG=1, RELOADING=1 on SIGHUP, STOPPING=1) to a
# stand-in for systemd's notification socket, and exits 0 on SIGTERM.
#
# Works where systemd is not PID 1 (CI containers): verify and security run
# offline against a root that holds the DESTDIR tree and a copy of the host's
# unit directory (for the targets the unit depends on). Uses the build in
# DN_BUILDDIR (default build-plain/, which tests/run.sh makes; configured and
# built here when missing). Prints "N passed, N failed" last.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DN_BUILDDIR:-$top/build-plain}
tmp=$(mktemp -d)
daemon_pid=
listener_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	[ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
not_ok() { echo "FAILED: $1"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...
	if "${@:2}"; then ok "$1"; else not_ok "$1"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	exit $((failed > 0))
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# 0. A build to install from.
if [ ! -f "$build/Makefile" ]; then
	echo "== configuring $build"
	mkdir -p "$build" && (cd "$build" && "$top/configure" -q) || { not_ok "configure"; finish; }
fi
echo "== make install DESTDIR=$tmp/root"
root=$tmp/root
if ! make -s -C "$build" -j2 >"$tmp/make.log" 2>&1 || ! make -s -C "$build" DESTDIR="$root" install >>"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log"
	not_ok "make install DESTDIR=..."
	finish
fi
ok "make install DESTDIR=..."

# The configured directories, expanded as make expands them.
printf 'print-dirs:\n\t@echo "$(sbindir)|$(bindir)|$(sysconfdir)|$(pkgdatadir)|$(systemdsystemunitdir)"\n' >"$tmp/dirs.mk"
IFS='|' read -r sbindir bindir sysconfdir pkgdatadir unitdir < <(make -s -C "$build" -f Makefile -f "$tmp/dirs.mk" print-dirs)
unit=$root$unitdir/denoised.service
conf=$root$sysconfdir/denoised/denoised.conf

# 1. Layout.
check "daemon in \$(sbindir) ($sbindir/denoised)" test -x "$root$sbindir/denoised"
check "CLI in \$(bindir) ($bindir/denoise)" test -x "$root$bindir/denoise"
check "configuration in \$(sysconfdir)/denoised ($sysconfdir/denoised/denoised.conf)" \
	cmp -s "$conf" "$top/etc/denoised.conf"
check "unit in systemdsystemunitdir ($unitdir/denoised.service)" test -f "$unit"
shipped=0
for m in "$top"/models/*.safetensors "$top"/models/*.md; do
	[ -f "$m" ] || continue
	shipped=$((shipped + 1))
	cmp -s "$m" "$root$pkgdatadir/models/${m##*/}" || { not_ok "model ${m##*/} installed in $pkgdatadir/models"; shipped=-1000; }
done
if [ "$shipped" -gt 0 ]; then
	ok "$shipped model files installed in $pkgdatadir/models"
elif [ "$shipped" -eq 0 ]; then
	check "no models/ in the source tree: none installed" test ! -e "$root$pkgdatadir/models"
fi

# 2. The unit names what was installed.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "ExecStart runs the installed daemon with the installed configuration" \
	test "$exec_start" = "$sbindir/denoised --config $sysconfdir/denoised/denoised.conf"
check "Type=notify, NotifyAccess=main, WatchdogSec=" \
	sh -c "grep -qx 'Type=notify' '$unit' && grep -qx 'NotifyAccess=main' '$unit' && grep -q '^WatchdogSec=[1-9]' '$unit'"
check "ExecReload sends SIGHUP" grep -q '^ExecReload=.*kill -HUP \$MAINPID' "$unit"
check "StateDirectory=denoised, DynamicUser=yes" \
	sh -c "grep -qx 'StateDirectory=denoised' '$unit' && grep -qx 'DynamicUser=yes' '$unit'"
check "no @placeholder@ left in the unit" sh -c "! grep -q '@[a-z_]*@' '$unit'"

# 3. systemd-analyze, offline, in a root holding the install and the targets.
if ! command -v systemd-analyze >/dev/null 2>&1; then
	not_ok "systemd-analyze not found: install the Debian package systemd"
else
	mkdir -p "$root/usr/lib/systemd" "$root/bin"
	cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/" 2>/dev/null || cp -a /lib/systemd/system "$root/usr/lib/systemd/"
	cp /bin/kill "$root/bin/kill"
	out=$(systemd-analyze verify --root="$root" --man=no --generators=no denoised.service 2>&1)
	rc=$?
	[ -n "$out" ] && echo "$out"
	check "systemd-analyze verify: no error, no warning" test "$rc" -eq 0 -a -z "$out"
	# Exposure is on a 0-10 scale, --threshold on 0-100: fail above 2.5.
	out=$(systemd-analyze security --offline=yes --root="$root" --threshold=25 denoised.service 2>&1)
	rc=$?
	echo "$out" | grep 'Overall exposure'
	check "systemd-analyze security --offline: exposure at most 2.5" test "$rc" -eq 0
fi

# 4. The installed daemon, run from the DESTDIR.
check "--check-config accepts the installed configuration" \
	"$root$sbindir/denoised" --check-config --config "$conf" --models "$tmp" 2>/dev/null
mkdir -p "$tmp/state" "$tmp/models"
if [ "$shipped" -gt 0 ] && ls "$root$pkgdatadir/models/"*.safetensors >/dev/null 2>&1; then
	models=$root$pkgdatadir/models
else
	models=$tmp/models
	"$root$bindir/denoise" model-init "$models/speech.safetensors" --filters 4 --depth 2 --seed 1 \
		>/dev/null 2>&1 || not_ok "denoise model-init (seed model)"
fi
cat >"$tmp/denoised.conf" <<EOF
listen = 127.0.0.1
port = 0
port_file = $tmp/port
state_dir = $tmp/state
models = $models
workers = 1
drain_timeout = 5
EOF

# A stand-in for systemd's notification socket: one datagram per line.
python3 - "$tmp/notify.sock" "$tmp/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        log.write(msg.replace("\n", " | ") + "\n")
        log.flush()
EOF
listener_pid=$!
: >"$tmp/notify.log"
wait_for 10 test -S "$tmp/notify.sock" || not_ok "notification socket stand-in did not start"

NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=1000000 \
	"$root$sbindir/denoised" --config "$tmp/denoised.conf" 2>"$tmp/daemon.log" &
daemon_pid=$!
if ! wait_for 30 test -s "$tmp/port"; then
	cat "$tmp/daemon.log"
	not_ok "the installed daemon listens (port_file written)"
	finish
fi
port=$(cat "$tmp/port")
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port$1"; }
check "GET /v1/health/ready answers 200" test "$(code /v1/health/ready)" = 200
check "GET /v1/health/live answers 200" test "$(code /v1/health/live)" = 200
check "READY=1 with a STATUS= line sent" grep -q '^READY=1 | STATUS=serving' "$tmp/notify.log"
check "WATCHDOG=1 sent every WatchdogSec/2" wait_for 3 sh -c "test \$(grep -c '^WATCHDOG=1' '$tmp/notify.log') -ge 2"
kill -HUP "$daemon_pid"
check "SIGHUP: RELOADING=1, then READY=1 again" \
	wait_for 10 sh -c "grep -A1 '^RELOADING=1' '$tmp/notify.log' | grep -q '^READY=1'"
check "ready again after the reload" test "$(code /v1/health/ready)" = 200
kill -TERM "$daemon_pid"
rc=
for _ in $(seq 100); do
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$daemon_pid" 2>/dev/null; then
	not_ok "SIGTERM: exits within 10 s"
else
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	check "SIGTERM: exit status 0" test "$rc" -eq 0
fi
check "STOPPING=1 sent" grep -q '^STOPPING=1' "$tmp/notify.log"
check "no sd_notify failure logged" sh -c "! grep -q 'sd_notify' '$tmp/daemon.log'"
if [ "$failed" -gt 0 ]; then
	echo "-- daemon log"; cat "$tmp/daemon.log"
	echo "-- notifications"; cat "$tmp/notify.log"
fi

# 5. make uninstall takes back what make install put there.
make -s -C "$build" DESTDIR="$root" uninstall >/dev/null 2>&1
left=$(cd "$root" && for f in "${sbindir#/}/denoised" "${bindir#/}/denoise" "${sysconfdir#/}/denoised/denoised.conf" \
	"${unitdir#/}/denoised.service"; do [ -e "$f" ] && echo "$f"; done; ls "${pkgdatadir#/}/models" 2>/dev/null)
check "make uninstall DESTDIR=... removes the installed files" test -z "$left"

finish
