#!/usr/bin/env bash
# extra-fuzz-jobspec.sh — fuzzes the job-spec validator (tests/fuzz_jobspec.c
# over daemon/jobs_spec.c, with the core and the job manager it calls) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Seeds: the specs of docs/jobs.md and the tests, valid and not. Runs for
# FUZZ_SECONDS (default 30) and prints a last line "1 passed, 0 failed", or
# "0 passed, 1 failed" on a crash, a leak, a timeout or a build failure. The
# work directory (FUZZ_DIR, default build-fuzz-jobspec/) keeps the corpus
# between runs and crashing inputs under artifacts/.
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz-jobspec 30 build-fuzz-jobspec
mods="openblas fftw3f fftw3 sndfile libturbojpeg libpng soxr jansson"
# shellcheck disable=SC2086
pcflags=$(pkg-config --cflags $mods 2>/dev/null) && plibs=$(pkg-config --libs $mods 2>/dev/null) ||
	fuzz_fail "a library is missing (pkg-config $mods): run scripts/install-deps.sh"
# The validator reaches into the core (architecture rules, data sets,
# devices) and the registry: all of it, without the GPU backend.
core=$(ls "$top"/core/*.c "$top"/core/*/*.c "$top"/core/*/*/*.c | grep -v '/core/cuda/unet_gpu\.c$')
d=$top/daemon
# shellcheck disable=SC2086
fuzz_build fuzz_jobspec $pcflags "$top/tests/fuzz_jobspec.c" $core "$d/jobs_spec.c" "$d/jobs_store.c" \
	"$d/jobs_register.c" "$d/jobs.c" "$d/jobs_run.c" "$d/jobs_frame.c" "$d/models.c" "$d/config.c" "$d/log.c" \
	"$top/api/eval_json.c" $plibs -lm -lpthread

s=$work/seeds
i=0
while IFS= read -r spec; do
	i=$((i + 1))
	printf '%s' "$spec" >"$s/spec$i.json"
done <<'SPECS'
{"type":"train","dataset":"tiny","params":{"epochs":1,"filters":4,"depth":2}}
{"type":"train","dataset":"tiny","register_as":"m1","params":{"epochs":3,"batch":4,"patch_frames":32,"patches_per_item":8,"lr":0.001}}
{"type":"train","model":"speech","dataset":"tiny","device":"cpu","precision":"fp32"}
{"type":"eval","model":"speech","dataset":"tiny","params":{"max_files":2}}
{"type":"eval","dataset":"speech","params":{"split":"test"}}
{"type":"train","dataset":"../tiny"}
{"type":"train","dataset":"tiny","params":{"filters":64,"depth":6,"batch":1024,"patch_frames":4096}}
{"type":"eval","register_as":"x"}
{"type":"train","dataset":"tiny","register_as":"speech"}
{"type":"train","dataset":"tiny","device":"cuda:0","precision":"bf16"}
SPECS
printf '"type"\n"train"\n"eval"\n"dataset"\n"tiny"\n"speech"\n"model"\n"params"\n"register_as"\n"device"\n"precision"\n"epochs"\n"filters"\n"depth"\n"batch"\n"patch_frames"\n"lr"\n"null"\n"true"\n"1e308"\n"-0"\n' >"$work/spec.dict"

fuzz_run fuzz_jobspec -max_len=2048 -dict="$work/spec.dict"
