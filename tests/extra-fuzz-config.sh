#!/usr/bin/env bash
# extra-fuzz-config.sh — fuzzes the daemon's configuration-file parser
# (tests/fuzz_config.c over daemon/config.c) with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Seeds: the shipped etc/denoised.conf with its keys uncommented, the test
# suite's configuration files, and a few lines of each kind of value.
# Runs for FUZZ_SECONDS (default 30) and prints a last line "1 passed,
# 0 failed", or "0 passed, 1 failed" on a crash, a leak, a timeout or a
# build failure. The work directory (FUZZ_DIR, default build-fuzz-config/)
# keeps the corpus between runs and crashing inputs under artifacts/.
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz-config 30 build-fuzz-config
fuzz_build fuzz_config "$top/tests/fuzz_config.c" "$top/daemon/config.c" "$top/core/util/error.c" \
	"$top/core/cuda/device.c" "$top/core/cuda/absent.c" -lm

s=$work/seeds
sed -n 's/^#\([a-z_]* = \)/\1/p' "$top/etc/denoised.conf" >"$s/shipped.conf"
cp "$top/etc/denoised.conf" "$s/commented.conf"
printf 'port = 8080\nmax_body_bytes = 64MiB\nmax_audio_seconds = 1.5e2\n' >"$s/sizes.conf"
printf 'models = "/a, /b"\ncors_origins = *\nlog_level = debug\n' >"$s/lists.conf"
printf '# c\n\n  listen = "::1"  \napi_key_file = ""\n' >"$s/quotes.conf"
# Every key name, for the fuzzer to splice.
sed -n 's/^#\([a-z_]*\) = .*/"\1"/p' "$top/etc/denoised.conf" >"$work/keys.dict"
printf '"="\n"\\""\n"K"\n"M"\n"G"\n"iB"\n"#"\n"\\x0a"\n' >>"$work/keys.dict"

fuzz_run fuzz_config -max_len=4096 -dict="$work/keys.dict"
