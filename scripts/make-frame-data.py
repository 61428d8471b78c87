#!/usr/bin/python3
"""make-frame-data.py — clean frames for training and benchmarking frame models.

Sources, all Debian 12 main packages (docs/data-sources.md, "Photographs",
gives their licences):

- plasma-workspace-wallpapers, read where it is installed
  (/usr/share/wallpapers/NAME/contents/images/WxH.{jpg,png}, largest
  rendition of each); it mixes photographs and rendered art;
- enlightenment-data, lomiri-wallpapers-16.04, lomiri-wallpapers-20.04,
  mate-backgrounds and lxqt-themes, fetched with `apt-get download` into
  data/debs and unpacked with `dpkg-deb -x` into data/pkgs (nothing is
  installed). Only their photographs are taken, listed by name below; their
  rendered wallpapers (and the packages lomiri-wallpapers, ukui-wallpapers,
  gnome-backgrounds, sway-backgrounds and xfdesktop4-data, which hold only
  renders) are left out.

enlightenment-data stores its backgrounds inside Edje files (.edj), which are
Eet archives: a big-endian header (magic 0x1ee70f42, entry count, dictionary
count), then per entry six 32-bit words (offset, size, data size, name offset,
name size, flags). Each rendition of a background is an uncompressed entry
"edje/images/N" whose data is a plain JPEG stream (it starts with FF D8);
the largest decoded one is the photograph at full size.

Each picture is scaled so that its long side is at most --max-side pixels
(INTER_AREA, which also averages away most of the original JPEG noise) and
written as a JPEG of quality 98 with 4:4:4 chroma (cjpeg -sample 1x1: OpenCV
4.6 cannot write 4:4:4) into OUT/{train,val,test}/NAME.jpg.

The split is by picture (one picture, all its renditions, lands in exactly
one split), fixed by name so that it is the same on every machine. Validation
and test hold photographs only: the two rendered pictures the first version
put in test (Autumn, ColorfulCups) are now in OUT/test-renders, out of
training and out of the test mean, kept for comparison with older figures.
OUT/SPLITS.md lists every picture with its split and package.

The output is a cache outside git (data/frames by default, ignored); a change
of VERSION rewrites it. Usage:
  scripts/make-frame-data.py [--src /usr/share/wallpapers] [--pkgs data/pkgs]
                             [--debs data/debs] [--out data/frames] [--max-side 1024]
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys

import cv2
import numpy as np

VERSION = "2"

PLASMA = "plasma-workspace-wallpapers"
PLASMA_TEST = ["Path", "Kite", "summer_1am"]
PLASMA_VAL = ["EveningGlow", "FallenLeaf", "Grey"]
PLASMA_RENDER_TEST = ["Autumn", "ColorfulCups"]

# Photographs of the fetched packages: package -> (folder inside the package,
# {file name: split}). Output names carry a package prefix so that they never
# collide with the plasma names (or each other).
ENL_DIR = "usr/share/enlightenment/data/backgrounds"
PHOTOS = {
    "enlightenment-data": ("enl", ENL_DIR, {
        "Bamboo.edj": "train", "Foggy-Trees.edj": "train", "God-Rays.edj": "train",
        "Green-Maple.edj": "train", "Lichen-Branches.edj": "train", "Peaks.edj": "train",
        "Sea-of-Lanterns.edj": "train", "Spruce-Needles.edj": "train",
        "Sunset-Clouds.edj": "train", "Yellow-Flower.edj": "train",
        "Mountain.edj": "val", "White-Flower.edj": "val",
        "Red-Maple.edj": "test", "Snow-Trees.edj": "test",
    }),
    "lomiri-wallpapers-16.04": ("lom", "usr/share/backgrounds", {
        "Dragonfly_by_Bolly.jpg": "train", "Picture_0B_by_freespace.jpg": "train",
        "Picture_1A_by_freespace.jpg": "train", "Wine_by_Jakkub_Mede.jpg": "train",
        "free_by_Peter_Nerlich.jpg": "train", "friends_by_Aitzol_Berasategi.jpg": "train",
        "greentock_by_Peter_Nerlich.jpg": "train", "life_by_Aitzol_Berasategi.jpg": "train",
        "sunset_by_Aitzol_Berasategi.jpg": "train",
        "aitzgorri_by_Aitzol_Berasategi.jpg": "val", "seeding_by_Clements_Engelhardt.jpg": "val",
        "Bridge_by_Sander_Klootwijk.jpg": "test", "picosdeeuropa_by_Aitzol_Berasategi.jpg": "test",
    }),
    "lomiri-wallpapers-20.04": ("lom", "usr/share/backgrounds", {
        "Infinite-Sea_by_Aury88.jpg": "train", "Kleiber_by_Lukas_Baubkus.jpg": "test",
    }),
    "mate-backgrounds": ("mate", "usr/share/backgrounds/mate/nature", {
        "Aqua.jpg": "train", "Blinds.jpg": "train", "Dune.jpg": "train",
        "FreshFlower.jpg": "train", "GreenMeadow.jpg": "train", "RainDrops.jpg": "train",
        "Storm.jpg": "train", "TwoWings.jpg": "train", "Wood.jpg": "train",
        "Garden.jpg": "val", "LadyBird.jpg": "test", "YellowFlower.jpg": "test",
    }),
    "lxqt-themes": ("lxqt", "usr/share/lxqt/wallpapers", {
        "Butterfly-Kenneth-Wimer.jpg": "train", "Valendas.png": "train",
        "after-the-rain.jpg": "train", "beam.png": "train", "cloud.png": "train",
        "drop.png": "train", "this-is-not-windows.jpg": "train",
        "appleflower.png": "val", "butterfly.png": "test", "flowers.png": "test", "fog.jpg": "test",
    }),
}

SPLITS = ["train", "val", "test", "test-renders"]


def die(msg):
    sys.exit("make-frame-data: " + msg)


def fetch(pkg, debs, pkgs):
    """Unpacks pkg into pkgs/pkg, downloading its .deb into debs first if needed."""
    root = os.path.join(pkgs, pkg)
    if os.path.isdir(os.path.join(root, "usr")):
        return root
    os.makedirs(debs, exist_ok=True)
    deb = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not deb:
        r = subprocess.run(["apt-get", "download", pkg], cwd=debs)
        deb = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
        if r.returncode or not deb:
            die("apt-get download %s failed (needs Debian 12's main archive)" % pkg)
    os.makedirs(root, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", os.path.join(debs, sorted(deb)[-1]), root], check=True)
    return root


def eet_jpegs(path):
    """The JPEG streams stored in an Eet archive (an Edje .edj file)."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 12:
        die("%s: too short for an Eet file" % path)
    magic, n, _ = struct.unpack(">III", b[:12])
    if magic != 0x1EE70F42 or 12 + 24 * n > len(b):
        die("%s: not an Eet archive (magic %08x)" % (path, magic))
    out = []
    for i in range(n):
        off, size, _, _, _, flags = struct.unpack(">6I", b[12 + 24 * i:36 + 24 * i])
        d = b[off:off + size]
        # flags bit 0: compressed; a compressed entry is not a bare JPEG.
        if not flags & 1 and len(d) == size and d[:2] == b"\xff\xd8":
            out.append(d)
    return out


def read_edj(path):
    """The largest picture of an .edj background; each stream must decode."""
    best = None
    for d in eet_jpegs(path):
        img = cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            die("%s: a JPEG stream inside does not decode" % path)
        if best is None or img.shape[0] * img.shape[1] > best.shape[0] * best.shape[1]:
            best = img
    if best is None:
        die("%s: no JPEG stream inside" % path)
    return best


def largest(folder):
    best, area = None, -1
    for f in os.listdir(folder):
        m = re.match(r"(\d+)x(\d+)\.(jpg|jpeg|png)$", f)
        if m and int(m.group(1)) * int(m.group(2)) > area:
            best, area = os.path.join(folder, f), int(m.group(1)) * int(m.group(2))
    return best


def write_jpeg(img, dst, quality):
    """img (BGR) as a 4:4:4 JPEG of the given quality, through cjpeg."""
    ok, ppm = cv2.imencode(".ppm", img)
    if not ok:
        die("cannot encode " + dst)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        r = subprocess.run(["cjpeg", "-quality", str(quality), "-sample", "1x1", "-optimize"],
                           input=ppm.tobytes(), stdout=f)
    if r.returncode:
        os.unlink(tmp)
        die("cjpeg failed on " + dst + " (apt-get install libjpeg-turbo-progs)")
    os.replace(tmp, dst)


def plan(src, pkgs, debs):
    """[(split, out name, package, reader)] for every picture, sorted by name."""
    items = []
    if not os.path.isdir(src):
        die("%s missing (apt-get install %s)" % (src, PLASMA))
    for name in sorted(os.listdir(src)):
        img_dir = os.path.join(src, name, "contents", "images")
        path = largest(img_dir) if os.path.isdir(img_dir) else None
        if not path:
            continue
        split = ("test" if name in PLASMA_TEST else "val" if name in PLASMA_VAL else
                 "test-renders" if name in PLASMA_RENDER_TEST else "train")
        items.append((split, name, PLASMA, path))
    for pkg, (tag, sub, files) in PHOTOS.items():
        root = fetch(pkg, debs, pkgs)
        for f, split in sorted(files.items()):
            path = os.path.join(root, sub, f)
            if not os.path.isfile(path):
                die("%s: %s missing from the package" % (pkg, os.path.join(sub, f)))
            items.append((split, tag + "_" + os.path.splitext(f)[0], pkg, path))
    return items


def load(path):
    img = read_edj(path) if path.endswith(".edj") else cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        die("cannot read " + path)
    return img


def write_splits(out, items, sizes):
    lines = ["# Frame data splits (written by scripts/make-frame-data.py, version %s)" % VERSION, "",
             "Split by picture, fixed by name. val and test hold photographs only;",
             "test-renders holds the two rendered pictures of the first test set (out of",
             "training). Sizes are after scaling to the long side limit.", "",
             "| split | " + " | ".join(p for p in [PLASMA] + list(PHOTOS)) + " | total |",
             "|---" * (len(PHOTOS) + 3) + "|"]
    for s in SPLITS:
        row = [sum(1 for it in items if it[0] == s and it[2] == p) for p in [PLASMA] + list(PHOTOS)]
        lines.append("| %s | %s | %d |" % (s, " | ".join(map(str, row)), sum(row)))
    lines += ["", "| picture | split | package | pixels |", "|---|---|---|---|"]
    for it in sorted(items, key=lambda t: (SPLITS.index(t[0]), t[1])):
        lines.append("| %s | %s | %s | %dx%d |" % (it[1], it[0], it[2], *sizes[it[1]]))
    with open(os.path.join(out, "SPLITS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="/usr/share/wallpapers")
    ap.add_argument("--pkgs", default="data/pkgs")
    ap.add_argument("--debs", default="data/debs")
    ap.add_argument("--out", default="data/frames")
    ap.add_argument("--max-side", type=int, default=1024)
    a = ap.parse_args()
    items = plan(a.src, a.pkgs, a.debs)
    stamp = os.path.join(a.out, ".version")
    want = "%s max-side %d\n" % (VERSION, a.max_side)
    if not os.path.exists(stamp) or open(stamp).read() != want:
        for s in SPLITS:
            shutil.rmtree(os.path.join(a.out, s), ignore_errors=True)
    counts = {s: 0 for s in SPLITS}
    sizes = {}
    for split, name, _, path in items:
        dst_dir = os.path.join(a.out, split)
        os.makedirs(dst_dir, exist_ok=True)
        dst = os.path.join(dst_dir, name + ".jpg")
        counts[split] += 1
        if os.path.exists(dst):
            img = cv2.imread(dst, cv2.IMREAD_COLOR)
            if img is not None:
                sizes[name] = (img.shape[1], img.shape[0])
                continue
        img = load(path)
        h, w = img.shape[:2]
        s = min(1.0, a.max_side / max(h, w))
        if s < 1.0:
            img = cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
        write_jpeg(img, dst, 98)
        sizes[name] = (img.shape[1], img.shape[0])
    with open(stamp, "w") as f:
        f.write(want)
    write_splits(a.out, items, sizes)
    print("make-frame-data: %s: %s pictures" %
          (a.out, ", ".join("%d %s" % (counts[s], s) for s in SPLITS)))


if __name__ == "__main__":
    main()
