#!/usr/bin/python3
"""make-frame-data.py — clean frames for training and benchmarking frame models.

Takes the wallpapers of Debian's plasma-workspace-wallpapers package
(/usr/share/wallpapers/NAME/contents/images/WxH.{jpg,png}), keeps the largest
rendition of each, scales it so that its long side is at most --max-side
pixels (INTER_AREA, which also averages away most of the original JPEG
noise), and writes it as a high-quality 4:4:4 JPEG (quality 98) into
OUT/{train,val,test}/NAME.jpg.

The split is by wallpaper (one picture, all its renditions, lands in exactly
one split), fixed by name so that it is the same on every machine: the test
and validation names are listed below and everything else trains. Test
pictures are photographs, so that the benchmark measures photographic noise
removal; some training pictures are rendered art (the package mixes both).

The output is a cache outside git (data/frames by default, ignored). Usage:
  scripts/make-frame-data.py [--src /usr/share/wallpapers] [--out data/frames]
"""
import argparse
import os
import re
import sys

import cv2

TEST = ["Autumn", "Path", "Kite", "summer_1am", "ColorfulCups"]
VAL = ["EveningGlow", "FallenLeaf", "Grey"]


def largest(folder):
    best, area = None, -1
    for f in os.listdir(folder):
        m = re.match(r"(\d+)x(\d+)\.(jpg|jpeg|png)$", f)
        if m and int(m.group(1)) * int(m.group(2)) > area:
            best, area = os.path.join(folder, f), int(m.group(1)) * int(m.group(2))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="/usr/share/wallpapers")
    ap.add_argument("--out", default="data/frames")
    ap.add_argument("--max-side", type=int, default=1024)
    a = ap.parse_args()
    if not os.path.isdir(a.src):
        sys.exit("make-frame-data: %s missing (apt-get install plasma-workspace-wallpapers)" % a.src)
    counts = {"train": 0, "val": 0, "test": 0}
    for name in sorted(os.listdir(a.src)):
        img_dir = os.path.join(a.src, name, "contents", "images")
        if not os.path.isdir(img_dir):
            continue
        path = largest(img_dir)
        if not path:
            continue
        split = "test" if name in TEST else "val" if name in VAL else "train"
        dst_dir = os.path.join(a.out, split)
        os.makedirs(dst_dir, exist_ok=True)
        dst = os.path.join(dst_dir, name + ".jpg")
        counts[split] += 1
        if os.path.exists(dst):
            continue
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            sys.exit("make-frame-data: cannot read " + path)
        h, w = img.shape[:2]
        s = min(1.0, a.max_side / max(h, w))
        if s < 1.0:
            img = cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
        params = [cv2.IMWRITE_JPEG_QUALITY, 98]
        if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
            params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        cv2.imwrite(dst, img, params)
    print("make-frame-data: %s: %d train, %d val, %d test pictures" %
          (a.out, counts["train"], counts["val"], counts["test"]))


if __name__ == "__main__":
    main()
