#!/usr/bin/env bash
# extra-fuzz-audio.sh — fuzzes sound-file decoding from memory
# (tests/fuzz_audio.c over core/audio/audio.c and libsndfile) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Seeds: a short sound in every container libsndfile reads that sox or
# ffmpeg can write here (WAV 8/16/24/32-bit and float, WAVEX, RF64, W64,
# AIFF, AIFC, AU, CAF, FLAC, Ogg Vorbis, Ogg Opus, MP3, VOC, IRCAM, NIST,
# PAF, 8SVX), each cut to a few KiB. Runs for FUZZ_SECONDS (default 30) and
# prints a last line "1 passed, 0 failed", or "0 passed, 1 failed" on a
# crash, a leak, a timeout or a build failure. The work directory
# (FUZZ_DIR, default build-fuzz-audio/) keeps the corpus between runs and
# crashing inputs under artifacts/.
# The steps all fuzz scripts share are in tests/fuzz-common.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/fuzz-common.sh
. "$top/tests/fuzz-common.sh"

fuzz_init extra-fuzz-audio 30 build-fuzz-audio
scflags=$(pkg-config --cflags sndfile 2>/dev/null) && slibs=$(pkg-config --libs sndfile 2>/dev/null) ||
	fuzz_fail "libsndfile not found: install the Debian package libsndfile1-dev"
# shellcheck disable=SC2086
fuzz_build fuzz_audio $scflags "$top/tests/fuzz_audio.c" "$top/core/audio/audio.c" \
	"$top/core/util/file.c" "$top/core/util/error.c" $slibs -lm

s=$work/seeds
if command -v sox >/dev/null 2>&1; then
	sox -n -r 8000 -c 1 -b 16 "$s/src.wav" synth 0.05 sine 440 2>/dev/null
	sox -n -r 16000 -c 2 -b 16 "$s/st.wav" synth 0.03 sine 300 sine 500 2>/dev/null
	for spec in "8 wav u8" "24 wav s24" "32 wav s32" "32 wav f32"; do
		set -- $spec
		sox "$s/src.wav" -b "$1" "$s/$3.$2" 2>/dev/null
	done
	for ext in aiff aifc au caf w64 voc sf nist paf 8svx flac; do
		sox "$s/src.wav" "$s/src.$ext" 2>/dev/null
	done
	sox "$s/st.wav" -t wavpcm "$s/pcm.wav" 2>/dev/null
fi
if command -v ffmpeg >/dev/null 2>&1; then
	ff() { ffmpeg -v error -y -f lavfi -i "sine=frequency=440:sample_rate=$1:duration=0.1" "${@:2}"; }
	ff 8000 -c:a libvorbis "$s/v.ogg" 2>/dev/null
	ff 48000 -c:a libopus "$s/o.opus" 2>/dev/null
	ff 16000 -c:a libmp3lame "$s/m.mp3" 2>/dev/null
	ff 16000 -c:a pcm_s16le -rf64 always "$s/rf64.wav" 2>/dev/null
	ff 16000 -ac 2 -c:a pcm_s16le -f wav -write_bext 1 "$s/ext.wav" 2>/dev/null
fi
# Kept small: the fuzzer mutates a few KiB much faster than whole files.
for f in "$s"/*; do
	[ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 6144 ] && head -c 6144 "$f" >"$f.cut" && mv "$f.cut" "$f"
done
echo "seeds: $(find "$s" -type f | wc -l) files ($(cd "$s" && ls | tr '\n' ' '))"

# libvorbis's own leaks on bad headers (see the file) are not failures.
export LSAN_OPTIONS="suppressions=$top/tests/fuzz_audio.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fuzz_run fuzz_audio -max_len=8192 -dict="$top/tests/fuzz_audio.dict"
