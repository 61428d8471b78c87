#!/usr/bin/env bash
# `denoise train` and `denoise eval` end to end on a small generated corpus:
# a short training writes a model with provenance, SIGINT stops a run with
# its checkpoint intact and --resume finishes it, evaluation prints the
# per-SNR table and writes the documented JSON, synthetic and recorded noise
# mix in one augmented run, evaluation scores noise recordings alone, and
# bad invocations fail with a message and the right exit code.
set -u
denoise="${DN_BUILDDIR:-.}/tools/denoise"
src="${DN_SRCDIR:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION COMMAND...
	if "${@:2}"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}

/usr/bin/python3 "$src/scripts/make-speech-corpus.py" --small --no-festival --out "$tmp/corpus" >"$tmp/corpus.log" 2>&1
check "small corpus generated" test -s "$tmp/corpus/manifest.tsv"

tiny=(--filters 4 --depth 2 --batch 4 --patch-frames 32 --threads 1 --data "$tmp/corpus")
"$denoise" train "${tiny[@]}" --epochs 2 --out "$tmp/m.safetensors" >"$tmp/train.out" 2>&1
check "train exits 0" test $? -eq 0
check "two epochs reported" test "$(grep -c '^epoch ' "$tmp/train.out")" -eq 2
check "model written" test -s "$tmp/m.safetensors"
check "provenance in the model file" grep -q "train.command" "$tmp/m.safetensors"

# Interrupted after its first epoch, then resumed to the end.
"$denoise" train "${tiny[@]}" --epochs 40 --out "$tmp/r.safetensors" >"$tmp/r.out" 2>&1 &
pid=$!
for _ in $(seq 300); do
	grep -q '^epoch 1/' "$tmp/r.out" 2>/dev/null && break
	sleep 0.1
done
kill -INT "$pid"
wait "$pid"
check "SIGINT ends the run with status 1" test $? -eq 1
check "...saying how to resume" grep -q -- "--resume" "$tmp/r.out"
check "...with the checkpoint intact" test -s "$tmp/r.safetensors.ckpt"
"$denoise" train "${tiny[@]}" --epochs 3 --out "$tmp/r.safetensors" --resume >"$tmp/r2.out" 2>&1
check "resume exits 0" test $? -eq 0
check "resume starts after the finished epochs" bash -c "! grep -q '^epoch 1/' '$tmp/r2.out' && grep -q '^epoch 3/3' '$tmp/r2.out'"

"$denoise" eval --model "$tmp/m.safetensors" --data "$tmp/corpus" --snrs 5,20 --threads 1 --json "$tmp/e.json" \
	--write-mixes "$tmp/mixes" >"$tmp/eval.out" 2>"$tmp/eval.err"
check "eval exits 0" test $? -eq 0
check "table has a row per SNR" test "$(grep -cE '^(5|20) dB' "$tmp/eval.out")" -eq 2
check "JSON has the documented structure" /usr/bin/python3 - "$tmp/e.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) >= {"model", "test_set", "summary", "by_snr", "by_noise_snr", "plots", "timing"}, d.keys()
assert [c["snr_db"] for c in d["by_snr"]] == [5, 20]
assert len(d["by_noise_snr"]) == 2 * len(d["test_set"]["noise"])
for k in ("pesq_wb", "stoi", "si_sdr_db", "snr_db", "spec_mse", "spec_mae", "spec_ssim", "spec_psnr_db"):
    c = d["summary"][k]
    assert c["model"]["n"] > 0 and c["noisy"]["n"] > 0, k
assert "snr_improvement_db" in d["summary"]
p = d["plots"]
assert len(p["metric_vs_snr"]["series"]["pesq_wb"]["model"]) == 2
h = p["histograms"]["stoi"]
assert len(h["edges"]) == len(h["model"]) + 1 and sum(h["model"]) == d["test_set"]["noisy_files"]
assert p["spectrograms"] and len(p["spectrograms"][0]["clean"]) == p["spectrograms"][0]["bins"]
PY
check "mixes written for other denoisers" test "$(ls "$tmp/mixes/noisy" | wc -l)" -eq "$(($(wc -l <"$tmp/mixes/mixes.tsv") - 1))"

# Synthetic and recorded noise in one run, with augmentation; then an
# evaluation on the recordings alone (one longer and one shorter than an item).
mkdir -p "$tmp/noise"
sox -n -r 16000 -c 1 "$tmp/noise/long.wav" synth 3 brownnoise synth 3 sine amod 7 2>/dev/null
sox -n -r 16000 -c 1 "$tmp/noise/short.wav" synth 0.3 pinknoise 2>/dev/null
"$denoise" train "${tiny[@]}" --epochs 1 --noise white,pink,brown,file --noise-dir "$tmp/noise" --snr -5:30 \
	--augment real --aug-reverb 1 --out "$tmp/a.safetensors" >"$tmp/a.out" 2>&1
check "augmented training on mixed noise exits 0" test $? -eq 0
check "...and writes its model" test -s "$tmp/a.safetensors"
"$denoise" eval --model "$tmp/m.safetensors" --data "$tmp/corpus" --noise file --noise-dir "$tmp/noise" \
	--snrs 0,10 --threads 1 --json "$tmp/f.json" >"$tmp/f.out" 2>&1
check "eval on noise recordings exits 0" test $? -eq 0
check "...scoring the kind file alone at each SNR" /usr/bin/python3 - "$tmp/f.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["test_set"]["noise"] == ["file"], d["test_set"]
assert [c["noise"] for c in d["by_noise_snr"]] == ["file", "file"]
assert d["test_set"]["noisy_files"] == 2 * d["test_set"]["files"]
PY
"$denoise" eval --model "$tmp/m.safetensors" --data "$tmp/corpus" --noise file >/dev/null 2>"$tmp/err"
check "--noise file without --noise-dir is a usage error" test $? -eq 2
check "...saying what to add" grep -q -- "--noise-dir" "$tmp/err"
"$denoise" train "${tiny[@]}" --aug-band 1.5 --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
check "an augmentation probability above 1 is a usage error" test $? -eq 2
check "...naming it" grep -q "aug_band_prob" "$tmp/err"
"$denoise" train "${tiny[@]}" --aug-clip -0.5 --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
check "a negative probability other than -1 fails" test $? -ne 0
check "...naming it" grep -q "aug_clip_prob" "$tmp/err"

"$denoise" train --data "$tmp/corpus" >/dev/null 2>"$tmp/err"
check "train without --out is a usage error" test $? -eq 2
"$denoise" train --data "$tmp/nowhere" --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
check "missing data set fails" test $? -eq 1
check "...naming the folder" grep -q "nowhere" "$tmp/err"
check "...and leaves no model behind" test ! -e "$tmp/x.safetensors"
"$denoise" train "${tiny[@]}" --epochs 1 --precision bf16 --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
check "a GPU precision on the CPU is a usage error" test $? -eq 2
check "...saying it needs --device cuda" grep -q -- "needs --device cuda" "$tmp/err"
check "the run names the device it trained on" grep -q "^device cpu" "$tmp/train.out"
if ! "$denoise" devices | grep -q '^cuda:'; then
	"$denoise" train "${tiny[@]}" --epochs 1 --device cuda --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
	check "--device cuda without a GPU is a usage error" test $? -eq 2
	check "...saying why" grep -qE "no CUDA backend|CUDA devices? (is|are) visible" "$tmp/err"
fi
# A run from --init keeps the earlier run's command as the stage before it
# and none of its outcome: the one-epoch run says 1 epoch, not m's 2.
"$denoise" train "${tiny[@]}" --epochs 1 --init "$tmp/m.safetensors" --out "$tmp/i.safetensors" >/dev/null 2>&1
check "train --init MODEL exits 0" test $? -eq 0
check "...recording MODEL's command as train.init_command and its own outcome only" \
	/usr/bin/python3 - "$tmp/m.safetensors" "$tmp/i.safetensors" <<'PY'
import json, struct, sys
def meta(f):
    b = open(f, "rb").read()
    return json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]
m, i = meta(sys.argv[1]), meta(sys.argv[2])
assert i["train.init_command"] == m["train.command"], i
assert "--init" in i["train.command"], i
assert m["train.epochs"].startswith("2 of 2") and i["train.epochs"].startswith("1 of 1"), (m, i)
PY
# A streaming model retrained for a lookahead of a frame from a causal one
# (--init keeps its weights and settings, --lookahead moves its output);
# then streamed, as many samples out as in.
"$denoise" model-init "$tmp/c.safetensors" --filters 4 --depth 2 --causal >/dev/null
"$denoise" train "${tiny[@]}" --epochs 1 --init "$tmp/c.safetensors" --lookahead 1 --out "$tmp/la.safetensors" \
	>"$tmp/la.out" 2>&1
check "train --init CAUSAL --lookahead 1 exits 0" test $? -eq 0
check "...and its model declares the frame: lookahead 1, 40 ms" /usr/bin/python3 - "$tmp/la.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
m = json.loads(b[8:8 + n])["__metadata__"]
sys.exit(0 if m.get("lookahead") == "1" and m.get("latency_ms") == "40" and m.get("causal") == "1" else 1)
PY
sox -n -r 16000 -c 1 -b 16 -e signed -t raw "$tmp/in.raw" synth 1.3 pinknoise 2>/dev/null
"$denoise" stream --model "$tmp/la.safetensors" <"$tmp/in.raw" >"$tmp/out.raw" 2>"$tmp/err"
check "...and streams it, as many bytes out as in" test "$(stat -c %s "$tmp/out.raw")" -eq "$(stat -c %s "$tmp/in.raw")"
"$denoise" train "${tiny[@]}" --epochs 1 --lookahead 1 --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
check "--lookahead without --causal fails" test $? -ne 0
check "...saying it needs a causal U-Net" grep -q "causal" "$tmp/err"
"$denoise" eval --model "$tmp/m.safetensors" --data "$tmp/corpus" --snrs 5,x >/dev/null 2>"$tmp/err"
check "bad --snrs is a usage error" test $? -eq 2
exit $fail
