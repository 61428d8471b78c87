#!/usr/bin/python3
"""make-real-noise.py — real noise recordings for training and evaluation.

The seed only ever mixed synthetic white/pink/brown noise. Debian's 0ad-data
ships ambient field recordings (market crowd, farm, harbour, birds, river,
waterfall, waves, rain, thunder, wind) in public.zip under audio/ambient/.
This script takes them out of the zip (members are piped out one at a time
with unzip -p; the 3 GB archive is not expanded), converts each with ffmpeg
to 16 kHz mono 16-bit WAV and splits them by file into data/noise/train and
data/noise/test, so that evaluation mixes noise never heard in training.

The split is balanced by category: within each category the files whose
minutes come closest to --test-share (25%) of the category go to test (every
subset is tried: a category has at most a handful of files), and at least one
file stays on each side. A category of one file would be all train or all
test, so the categories are coarse: river takes the waterfall, wind takes the
snowstorm and gusts, birds are the temperate and tropical dayscapes.

Output in OUT (default data/noise/):
  train/*.wav, test/*.wav   CATEGORY_NAME.wav
  noise.tsv                 split, category, file, seconds, source member
  NOISE.md                  minutes and files per split and category (printed)
The dataset reads a folder of noise files with --noise-dir (each file
normalised to unit RMS over its loop, excerpts at random offsets, looped when
shorter than the item: core/audio/noise.c).
"""

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import wave

RATE = 16000
CATEGORIES = [  # (category, pattern on the file name)
    ("market", r"^amb_trade"),
    ("farm", r"^amb_farm"),
    ("harbour", r"^amb_port"),
    ("birds", r"^day_(temperate|tropical)"),
    ("river", r"^(river_|waterfall)"),
    ("waves", r"^wave"),
    ("rain", r"^rain"),
    ("thunder", r"^thunder"),
    ("wind", r"^(wind|snowstorm)"),
]


def die(msg):
    print("make-real-noise: " + msg, file=sys.stderr)
    sys.exit(1)


def category(name):
    for c, pat in CATEGORIES:
        if re.search(pat, name):
            return c
    return None


def convert(zipf, member, dst):
    unz = subprocess.Popen(["unzip", "-p", zipf, member], stdout=subprocess.PIPE)
    r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", "pipe:0", "-ac", "1",
                        "-ar", str(RATE), "-c:a", "pcm_s16le", dst + ".tmp.wav"],
                       stdin=unz.stdout, capture_output=True)
    unz.stdout.close()
    if unz.wait() != 0 or r.returncode != 0:
        die("%s: could not convert (%s)" % (member, r.stderr.decode(errors="replace").strip()))
    os.replace(dst + ".tmp.wav", dst)
    with wave.open(dst) as w:
        return w.getnframes() / w.getframerate()


def pick_test(files, share):
    """The subset of (name, seconds) for test: closest to share of the total."""
    total = sum(s for _, s in files)
    best = None
    for k in range(1, len(files)):
        for sub in itertools.combinations(range(len(files)), k):
            t = sum(files[i][1] for i in sub)
            score = (abs(t - share * total), sub)
            if best is None or score < best:
                best = score
    return set(files[i][0] for i in best[1]) if best else set()


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zip", default=os.path.join(
        here, "data/pkgs/0ad-data/usr/share/games/0ad/mods/public/public.zip"))
    ap.add_argument("--out", default=os.path.join(here, "data", "noise"))
    ap.add_argument("--test-share", type=float, default=0.25)
    a = ap.parse_args()
    if not os.path.exists(a.zip):
        die(a.zip + ": missing (run scripts/make-real-noise.sh, which unpacks 0ad-data)")
    listing = subprocess.run(["unzip", "-Z1", a.zip, "audio/ambient/*"], capture_output=True,
                             text=True)
    members = sorted(m for m in listing.stdout.split() if m.endswith(".ogg"))
    if not members:
        die(a.zip + ": no audio/ambient/*.ogg members")
    conv = os.path.join(a.out, "all")
    os.makedirs(conv, exist_ok=True)
    recs = []  # (category, name, seconds, member)
    for m in members:
        base = os.path.basename(m)[:-4]
        c = category(base)
        if not c:
            die("%s: no category for it (add one to CATEGORIES)" % m)
        dst = os.path.join(conv, "%s_%s.wav" % (c, base))
        if os.path.exists(dst):
            with wave.open(dst) as w:
                secs = w.getnframes() / w.getframerate()
        else:
            secs = convert(a.zip, m, dst)
        recs.append((c, os.path.basename(dst), secs, m))
    test = set()
    for c, _ in CATEGORIES:
        files = [(n, s) for cc, n, s, _ in recs if cc == c]
        if len(files) < 2:
            die("category %s has %d files: it cannot be split" % (c, len(files)))
        test |= pick_test(files, a.test_share)
    rows = []
    for split in ("train", "test"):
        d = os.path.join(a.out, split)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    for c, n, s, m in recs:
        split = "test" if n in test else "train"
        os.link(os.path.join(conv, n), os.path.join(a.out, split, n))
        rows.append((split, c, n, s, m))
    with open(os.path.join(a.out, "noise.tsv"), "w") as f:
        f.write("split\tcategory\tfile\tseconds\tsource\n")
        for r in rows:
            f.write("%s\t%s\t%s\t%.2f\t0ad-data:%s\n" % r)
    md = ["# Real noise: 0ad-data ambient recordings, split by file", "",
          "Made by scripts/make-real-noise.sh; about %d%% of each category's minutes to test." %
          round(100 * a.test_share), "",
          "| category | train min | train files | test min | test files |",
          "|---|---:|---:|---:|---:|"]
    tot = {"train": [0.0, 0], "test": [0.0, 0]}
    for c, _ in CATEGORIES:
        cell = {}
        for split in ("train", "test"):
            sel = [r for r in rows if r[1] == c and r[0] == split]
            cell[split] = (sum(r[3] for r in sel) / 60, len(sel))
            tot[split][0] += cell[split][0]
            tot[split][1] += cell[split][1]
        md.append("| %s | %.2f | %d | %.2f | %d |" % (c, cell["train"][0], cell["train"][1],
                                                    cell["test"][0], cell["test"][1]))
    md.append("| **all** | **%.2f** | %d | **%.2f** | %d |" % (tot["train"][0], tot["train"][1],
                                                             tot["test"][0], tot["test"][1]))
    md.append("")
    md.append("Test files: " + ", ".join(sorted(r[2] for r in rows if r[0] == "test")))
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "NOISE.md"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
