#!/usr/bin/env bash
# bench_speech_compare.sh — our speech model beside classical denoisers and
# RNNoise on the same noisy files, in one table.
#
#   bench/bench_speech_compare.sh [--model FILE] [--also FILE]... [--data DIR] [--max-files N]
#                                 [--threads N] [--noise-dir DIR] [--snrs LIST] [--methods LIST]
#
# The mixes come from `denoise eval --write-mixes` (test split, white/pink/
# brown noise at 5..25 dB, the fixed eval seed), so they are the files the
# model card's eval table scores. Real voices in real noise held out of
# training (docs/data-sources.md; scripts/make-real-speech.sh and
# scripts/make-real-noise.sh make them):
#   bench/bench_speech_compare.sh --data data/real-speech --noise-dir data/noise/test \
#       --snrs 0,5,10,15,20 --max-files 40
# --noise-dir scores the noise recordings alone (eval's --noise file). Each method runs as a command on each noisy
# file, one at a time; every output is scored by `denoise metrics` against
# the clean file. Methods:
#   noisy       the input itself
#   ours        denoise audio --model FILE
#   ours:NAME   denoise audio --model NAME.safetensors, for each --also (another
#               model of ours on the same mixes, e.g. the streaming one)
#   sox         sox noisered (amount 0.21), its noise profile taken from the
#               noise actually added (noisy - clean): the mixes have no
#               noise-only stretch, so sox gets an oracle profile, a best case
#   afftdn      ffmpeg afftdn with noise tracking (tn=1)
#   anlmdn      ffmpeg anlmdn, defaults
#   rnnoise-XX  ffmpeg arnndn with each RNNoise model in ../shared/anchors/
#               rnnoise (48 kHz inside, resampled around it)
#   wns-rnnoise, wns-speex, wns-gtcrn
#               RNNoise, speexdsp's preprocess and GTCRN as WASM from the npm
#               package @sapphi-red/web-noise-suppressor, run under Node.js
#               by bench/peers/run.mjs through the package's own worklet
#               code; skipped with a note unless node and bench/peers/
#               node_modules are there: (cd bench/peers && npm ci)
# Each output is first lined up with its input (bench/align.py: the filters'
# window delays are not what is being scored), then scored.
# It prints, per input SNR, mean PESQ-WB, STOI and SI-SDR for each method and,
# last, each method's CPU seconds per minute of audio (user+system time of
# the method's processes from /usr/bin/time, process start included: Node's
# start-up weighs on the wns-* rows; compare within one run only).
# --methods LIST (comma-separated names from the list above) runs only those,
# e.g. --methods noisy,ours,wns-gtcrn for a new model beside its nearest peer;
# the mixes are the same files whatever the list.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
denoise=${DENOISE:-$top/build/tools/denoise}
model="" data="$top/data/speech" max=10 threads=1 noise=() snrs=() also=() only=""
while [ $# -gt 0 ]; do
	case $1 in
	--model) model=$2; shift 2 ;;
	--also) also+=("$2"); shift 2 ;;
	--data) data=$2; shift 2 ;;
	--max-files) max=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--noise-dir) noise=(--noise file --noise-dir "$2"); shift 2 ;;
	--snrs) snrs=(--snrs "$2"); shift 2 ;;
	--methods) only=$2; shift 2 ;;
	*) echo "bench_speech_compare: unknown option $1" >&2; exit 2 ;;
	esac
done
for tool in sox ffmpeg /usr/bin/python3 /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench_speech_compare: $tool is missing (apt-get install ${tool##*/})" >&2; exit 1; }
done
[ -x "$denoise" ] || { echo "bench_speech_compare: build first ($denoise missing)" >&2; exit 1; }
anchors=$top/../shared/anchors/rnnoise
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads

margs=()
[ -n "$model" ] && margs=(--model "$model")
methods=(noisy ours)
mkdir -p "$tmp/also"
for f in "${also[@]}"; do
	[ -f "$f" ] || { echo "bench_speech_compare: --also $f: no such file" >&2; exit 1; }
	name=$(basename "$f" .safetensors)
	printf '%s' "$f" >"$tmp/also/$name"
	methods+=("ours:$name")
done
methods+=(sox afftdn anlmdn)
for m in "$anchors"/*.rnnn; do
	[ -f "$m" ] && methods+=("rnnoise-$(basename "$m" .rnnn)")
done
peers=$top/bench/peers
if ! command -v node >/dev/null; then
	echo "bench_speech_compare: node missing, wns-* methods skipped (apt-get install nodejs npm; then (cd bench/peers && npm ci))" >&2
elif [ ! -d "$peers/node_modules/@sapphi-red/web-noise-suppressor/dist" ]; then
	echo "bench_speech_compare: bench/peers/node_modules missing, wns-* methods skipped (install: (cd bench/peers && npm ci))" >&2
else
	methods+=(wns-rnnoise wns-speex wns-gtcrn)
fi
if [ -n "$only" ]; then
	kept=()
	IFS=, read -ra wanted <<<"$only"
	for w in "${wanted[@]}"; do
		found=0
		for m in "${methods[@]}"; do
			[ "$m" = "$w" ] && found=1
		done
		[ "$found" = 1 ] || { echo "bench_speech_compare: --methods: '$w' is not one of: ${methods[*]}" >&2; exit 2; }
		kept+=("$w")
	done
	methods=("${kept[@]}")
fi

"$denoise" eval "${margs[@]}" "${noise[@]}" "${snrs[@]}" --data "$data" --max-files "$max" --threads "$threads" \
	--write-mixes "$tmp/mixes" --json "$tmp/eval.json" >"$tmp/eval.txt" 2>&1 ||
	{ cat "$tmp/eval.txt"; exit 1; }

# run METHOD IN OUT CLEAN: one method on one file (CLEAN only for sox's profile).
run() {
	local m=$1 in=$2 out=$3
	case $m in
	noisy) cp "$in" "$out" ;;
	ours) "$denoise" audio "$in" "$out" "${margs[@]}" >/dev/null 2>&1 ;;
	ours:*) "$denoise" audio "$in" "$out" --model "$(cat "$tmp/also/${m#ours:}")" >/dev/null 2>&1 ;;
	sox)
		sox -m -v 1 "$in" -v -1 "$4" "$tmp/noise.wav" 2>/dev/null
		sox "$tmp/noise.wav" -n noiseprof "$tmp/prof" 2>/dev/null
		sox "$in" "$out" noisered "$tmp/prof" 0.21 2>/dev/null ;;
	afftdn) ffmpeg -nostdin -v error -y -i "$in" -af afftdn=tn=1 "$out" ;;
	anlmdn) ffmpeg -nostdin -v error -y -i "$in" -af anlmdn "$out" ;;
	rnnoise-*)
		ffmpeg -nostdin -v error -y -i "$in" \
			-af "aresample=48000,arnndn=m=$anchors/${m#rnnoise-}.rnnn,aresample=16000" "$out" ;;
	wns-*) node "$peers/run.mjs" "${m#wns-}" "$in" "$out" ;;
	esac
}

: >"$tmp/scores.tsv"
tail -n +2 "$tmp/mixes/mixes.tsv" | while IFS=$'\t' read -r file noise snr clean noisy; do
	dur=$(soxi -D "$tmp/mixes/$noisy" 2>/dev/null)
	for m in "${methods[@]}"; do
		out=$tmp/out.wav
		# CPU time of the method's processes, sox's oracle profile included
		/usr/bin/time -o "$tmp/cpu" -f '%U %S' bash -c "$(declare -f run); $(declare -p tmp top anchors peers margs denoise); run \"\$@\"" \
			run "$m" "$tmp/mixes/$noisy" "$out" "$tmp/mixes/$clean" ||
			{ echo "bench_speech_compare: $m failed on $noisy" >&2; exit 1; }
		/usr/bin/python3 "$top/bench/align.py" "$out" "$tmp/mixes/$noisy" "$tmp/aligned.wav" >/dev/null
		"$denoise" metrics "$tmp/mixes/$clean" "$tmp/aligned.wav" >"$tmp/m.json"
		/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("\t".join(sys.argv[2:] + [str(j["pesq_wb"]), str(j["stoi"]), str(j["si_sdr_db"])]))' \
			"$tmp/m.json" "$m" "$snr" "$dur" "$(awk 'END{print $1 + $2}' "$tmp/cpu")" >>"$tmp/scores.tsv"
	done
done

echo "bench_speech_compare: $(grep -m1 '^model' "$tmp/eval.txt"); $(uname -m), $(getconf _NPROCESSORS_ONLN) cores, $threads thread(s)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(grep -m1 -i '^blas' "$tmp/eval.txt" || echo 'blas: see denoise eval')"
[ -d "$peers/node_modules" ] && command -v node >/dev/null &&
	echo "peers: node $(node --version), @sapphi-red/web-noise-suppressor $(node -p 'require(process.argv[1]).version' "$peers/node_modules/@sapphi-red/web-noise-suppressor/package.json")"
/usr/bin/python3 - "$tmp/scores.tsv" "${methods[@]}" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
methods = sys.argv[2:]
snrs = sorted({int(float(r[1])) for r in rows})
acc = collections.defaultdict(list)
tim = collections.defaultdict(lambda: [0.0, 0.0])
for m, snr, dur, secs, pesq, stoi, sisdr in rows:
    acc[(m, int(float(snr)))].append((float(pesq), float(stoi), float(sisdr)))
    tim[m][0] += float(secs); tim[m][1] += float(dur)
w = max(len(m) for m in methods)
for name, k, fmt in (("PESQ-WB", 0, "%6.3f"), ("STOI", 1, "%6.3f"), ("SI-SDR dB", 2, "%6.2f")):
    print("\n%-*s | %s" % (w, name, " | ".join("%6s" % ("%d dB" % s) for s in snrs)))
    for m in methods:
        vals = []
        for s in snrs:
            v = [x[k] for x in acc[(m, s)]]
            vals.append(fmt % (sum(v) / len(v)) if v else "   n/a")
        print("%-*s | %s" % (w, m, " | ".join(vals)))
print("\n%-*s | CPU seconds per minute of audio" % (w, "method"))
for m in methods:
    secs, dur = tim[m]
    print("%-*s | %8.2f" % (w, m, 60.0 * secs / dur if dur else float("nan")))
print("\n(%d mixes per method)" % (len(rows) // max(1, len(methods))))
PY
