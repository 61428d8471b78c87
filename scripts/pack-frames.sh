#!/usr/bin/env bash
# pack-frames.sh [DATA [LIMIT_MIB]] — the frame training data for the GPU
# machine: DATA/{train,val} (data/frames, from scripts/make-frame-data.py)
# re-encoded as JPEG quality 95 with 4:4:4 chroma into .carry/frames/{train,val},
# so that `denoise train-frame --data .carry/frames` runs there as it does
# here. The test pictures stay behind: they are never trained on.
#
# The whole pack must stay within LIMIT_MIB (18 by default: what a run may
# carry beside the programs). If quality 95 of every whole picture is too
# big, each picture is cut to the same fraction of its area, a centred crop
# of its own aspect ratio, rather than downscaled again: a crop keeps the
# pixel statistics (noise, texture scale) the model meets, a downscale makes
# the pictures smoother still. .carry/frames/README says what it cost.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$top/data/frames}
limit=${2:-18}
out=$top/.carry/frames
for s in train val; do
	[ -d "$data/$s" ] || { echo "pack-frames: $data/$s missing (run scripts/make-frame-data.py)" >&2; exit 1; }
done
command -v cjpeg >/dev/null || { echo "pack-frames: cjpeg missing (apt-get install libjpeg-turbo-progs)" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out/train" "$out/val"
/usr/bin/python3 - "$data" "$out" "$limit" <<'EOF'
import os, subprocess, sys
import cv2

data, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]) * 1024 * 1024
names = [(s, f) for s in ("train", "val") for f in sorted(os.listdir(os.path.join(data, s)))
         if f.lower().endswith((".jpg", ".jpeg", ".png"))]
imgs = {n: cv2.imread(os.path.join(data, *n), cv2.IMREAD_COLOR) for n in names}
for n, im in imgs.items():
    if im is None:
        sys.exit("pack-frames: cannot read " + os.path.join(data, *n))


def encode(im, frac):
    h, w = im.shape[:2]
    s = min(1.0, frac) ** 0.5
    ch, cw = max(128, int(h * s)) // 8 * 8, max(128, int(w * s)) // 8 * 8
    ch, cw = min(ch, h), min(cw, w)
    y, x = (h - ch) // 2, (w - cw) // 2
    ppm = cv2.imencode(".ppm", im[y:y + ch, x:x + cw])[1].tobytes()
    jpg = subprocess.run(["cjpeg", "-quality", "95", "-sample", "1x1", "-optimize"],
                         input=ppm, stdout=subprocess.PIPE, check=True).stdout
    return jpg, cw * ch


# The largest area fraction that fits, by bisection (bytes grow with area).
frac, lo, hi = 1.0, 0.0, 1.0
for it in range(12):
    packs = {n: encode(im, frac) for n, im in imgs.items()}
    total = sum(len(j) for j, _ in packs.values())
    if it == 0 and total <= limit:
        break
    lo, hi = (frac, hi) if total <= limit else (lo, frac)
    if it == 11 or (total <= limit and hi - lo < 0.01):
        break
    frac = (lo + hi) / 2
if total > limit:
    frac = lo
    packs = {n: encode(im, frac) for n, im in imgs.items()}
    total = sum(len(j) for j, _ in packs.values())
for (s, f), (jpg, _) in packs.items():
    with open(os.path.join(out, s, os.path.splitext(f)[0] + ".jpg"), "wb") as fh:
        fh.write(jpg)
kept = sum(a for _, a in packs.values()) / sum(im.shape[0] * im.shape[1] for im in imgs.values())
cost = ("whole pictures, nothing cut" if kept >= 0.999 else
        "each picture centre-cropped to %.0f%% of its area (%.0f%% of all pixels kept)"
        % (100 * min(frac, 1.0), 100 * kept))
line = ("frames pack: %d train + %d val pictures from %s, JPEG q95 4:4:4, %.1f MiB of %.0f MiB; %s\n"
        % (sum(1 for s, _ in names if s == "train"), sum(1 for s, _ in names if s == "val"),
           os.path.basename(os.path.normpath(data)), total / 1048576, limit / 1048576, cost))
with open(os.path.join(out, "README"), "w") as fh:
    fh.write(line)
sys.stdout.write(line)
EOF
