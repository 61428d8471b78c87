#!/usr/bin/python3
"""bench_frames.py — frame denoising quality and speed against classical methods.

For each test photograph (data/frames/test, never seen in training or
validation), scaled to about --mp megapixels, and each noise level σ (8-bit
units), it adds Gaussian noise from a fixed seed, clips and rounds to 8 bits,
and stores the noisy frame as a JPEG of quality 100 with 4:4:4 chroma
(cjpeg). That
JPEG, decoded, is the one input every method gets (our CLI reads JPEG only,
so the others read the very same pixels). Methods:

  ours         `denoise frame` (the U-Net, tiled), written at quality 100;
               time: the network time the CLI reports (codecs excluded)
  fastNlMeans  OpenCV fastNlMeansDenoisingColored, template 7, search 21
  nlmeans      ffmpeg's nlmeans filter (p 7, r 15), on yuv444p planes (on
               gbrp the ffmpeg filters here leave frames unchanged)
  hqdn3d       ffmpeg's hqdn3d (spatial only: one frame), yuv444p
  bm3d         ffmpeg's bm3d (its defaults: basic estimate, group 1), yuv444p; slow,
               so it runs on a centre crop of --bm3d-crop pixels a side and
               its PSNR/SSIM/time are of those crops

Each classical method's strength is tuned per σ on a crop of a validation
photograph (a small grid, best PSNR), never on the test photos. ffmpeg time
is the process's wall time minus that of the same command with the null
filter (decode, conversion and PNG encode cancel out). OpenCV time is the
call alone. All methods may use every core. PSNR over R, G, B at peak 255;
SSIM per channel (Wang et al. 2004: 11x11 Gaussian window, σ 1.5) averaged.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter


def psnr(ref, x):
    mse = np.mean((ref.astype(np.float64) - x.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def ssim(ref, x):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(ref.shape[2]):
        a, b = ref[..., c].astype(np.float64), x[..., c].astype(np.float64)
        f = lambda v: gaussian_filter(v, 1.5, truncate=3.5, mode="reflect")  # 11x11
        ma, mb = f(a), f(b)
        saa, sbb, sab = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
        m = ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (saa + sbb + c2))
        vals.append(m[5:-5, 5:-5].mean())  # valid region, as the reference code
    return float(np.mean(vals))


def write_png(path, rgb):
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def read_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        sys.exit("bench_frames: cannot read " + path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def noisy_jpeg(clean, sigma, seed, path):
    rng = np.random.default_rng(seed)
    n = np.clip(np.round(clean.astype(np.float64) + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)
    # cjpeg (libjpeg-turbo-progs): OpenCV 4.6 cannot ask for 4:4:4.
    ppm = path[:-4] + ".ppm"
    cv2.imwrite(ppm, cv2.cvtColor(n, cv2.COLOR_RGB2BGR))
    with open(path, "wb") as f:
        subprocess.run(["cjpeg", "-quality", "100", "-sample", "1x1", ppm], stdout=f, check=True)
    return read_rgb(path)


def ffmpeg(inp, out, vf):
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", inp, "-vf", vf, "-frames:v", "1", "-pix_fmt", "rgb24",
                    out], check=True)
    return time.perf_counter() - t0


def run_ffmpeg(noisy, filt, tmp):
    inp, out = os.path.join(tmp, "ff_in.png"), os.path.join(tmp, "ff_out.png")
    write_png(inp, noisy)
    base = min(ffmpeg(inp, out, "format=yuv444p,null,format=rgb24") for _ in range(2))
    t = ffmpeg(inp, out, "format=yuv444p," + filt + ",format=rgb24")
    return read_rgb(out), max(t - base, 1e-6)


def run_cv(noisy, h):
    bgr = cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR)
    t0 = time.perf_counter()
    out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)
    t = time.perf_counter() - t0
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), t


def run_ours(args, model, jpg, tmp):
    out = os.path.join(tmp, "ours.png")  # lossless: the score is the model's, not JPEG's
    # "fp32:FILE" runs FILE with fp32 convolutions (denoise --fp32), for the
    # bf16 AMX path's cost in quality, side by side with the default.
    pre = ["--fp32"] if model.startswith("fp32:") else []
    path = model[len("fp32:"):] if pre else model
    r = subprocess.run([args.denoise] + pre + ["frame", jpg, out, "--model", path],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("bench_frames: denoise frame failed: " + r.stderr)
    m = re.search(r"network ([0-9.]+) ms", r.stderr)
    return read_rgb(out), float(m.group(1)) / 1e3


def centre(img, side):
    h, w = img.shape[:2]
    side = min(side, h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return img[y:y + side, x:x + side]


METHODS = {
    # name: (kind, grid of strengths for a sigma, filter for a strength)
    "fastNlMeans": ("cv", lambda s: [0.6 * s, 0.8 * s, 1.0 * s, 1.2 * s]),
    "nlmeans": ("ff", lambda s: [min(30.0, max(1.0, k * s)) for k in (0.2, 0.35, 0.5, 0.8)],
                lambda v: "nlmeans=s=%.3f:p=7:r=15" % v),
    "hqdn3d": ("ff", lambda s: [k * s for k in (0.5, 1.0, 1.6, 2.5)],
               lambda v: "hqdn3d=luma_spatial=%.3f:chroma_spatial=%.3f:luma_tmp=0:chroma_tmp=0" % (v, v * 0.75)),
    # group > 1 left frames unchanged with this ffmpeg (5.1), so the
    # filter's defaults (16x16 blocks, group 1, basic estimate) are used.
    "bm3d": ("ff", lambda s: [s * k for k in (1.0, 1.5, 2.0, 3.0)], lambda v: "bm3d=sigma=%.3f" % v),
}


def apply(name, noisy, v, tmp):
    spec = METHODS[name]
    if spec[0] == "cv":
        return run_cv(noisy, v)
    return run_ffmpeg(noisy, spec[2](v), tmp)


def tune(name, val_clean, sigma, seed, tmp):
    crop = centre(val_clean, 160 if name == "bm3d" else 256)
    noisy = noisy_jpeg(np.ascontiguousarray(crop), sigma, seed + 999, os.path.join(tmp, "tune.jpg"))
    best = None
    for v in METHODS[name][1](sigma):
        out, _ = apply(name, noisy, v, tmp)
        p = psnr(crop, out)
        if best is None or p > best[0]:
            best = (p, v)
    return best[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--denoise", required=True)
    ap.add_argument("--model", required=True, help="a model, or several separated by commas (rows ours:NAME); "
                    "fp32:FILE runs FILE with fp32 convolutions (denoise --fp32)")
    ap.add_argument("--data", default="data/frames")
    ap.add_argument("--sigmas", default="15,25,50")
    ap.add_argument("--mp", type=float, default=0.5)
    ap.add_argument("--bm3d-crop", type=int, default=192)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="classical methods beside ours, comma-separated; 'none' for ours only "
                    "(e.g. a model against its own fp32 run)")
    a = ap.parse_args()
    tests = sorted(glob.glob(os.path.join(a.data, "test", "*.jpg")))
    vals = sorted(glob.glob(os.path.join(a.data, "val", "*.jpg")))
    if not tests or not vals:
        sys.exit("bench_frames: no test/val photos in %s (run scripts/make-frame-data.py)" % a.data)
    sigmas = [float(s) for s in a.sigmas.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench_frames.")
    clean = []
    for t in tests:
        img = read_rgb(t)
        s = (a.mp * 1e6 / (img.shape[0] * img.shape[1])) ** 0.5
        if s < 1:
            img = cv2.resize(img, (int(img.shape[1] * s) // 8 * 8, int(img.shape[0] * s) // 8 * 8),
                             interpolation=cv2.INTER_AREA)
        clean.append(np.ascontiguousarray(img))
    val_clean = read_rgb(vals[0])
    mp_total = sum(c.shape[0] * c.shape[1] for c in clean) / 1e6
    print("# %d test photos (%s), %.2f MP each on average; tuning on %s; seed %d" %
          (len(clean), ", ".join(os.path.basename(t)[:-4] for t in tests), mp_total / len(clean),
           os.path.basename(vals[0]), a.seed))
    ver = subprocess.run([a.denoise, "--version"], capture_output=True, text=True).stdout.splitlines()
    print("# " + "; ".join(l for l in ver if l.startswith(("cpu:", "blas:", "convolutions:"))) +
          "; %d CPUs online" % os.cpu_count())
    print("| sigma | method | PSNR dB | SSIM | ms/MP | setting |")
    print("|---:|---|---:|---:|---:|---|")
    methods = [] if a.methods == "none" else a.methods.split(",")
    for n in methods:
        if n not in METHODS:
            sys.exit("bench_frames: unknown method %s (known: %s)" % (n, ", ".join(METHODS)))
    for sigma in sigmas:
        settings = {n: tune(n, val_clean, sigma, a.seed, tmp) for n in methods}
        models = a.model.split(",")
        def label(m):
            base = os.path.basename(m).rsplit(".", 1)[0] + ("-fp32" if m.startswith("fp32:") else "")
            return "ours" if len(models) == 1 else "ours:" + base
        ours = {label(m): m for m in models}
        acc = {k: [[], [], 0.0, 0.0] for k in ["noisy"] + list(ours) + methods}
        for i, c in enumerate(clean):
            jpg = os.path.join(tmp, "noisy%d.jpg" % i)
            noisy = noisy_jpeg(c, sigma, a.seed + 1000 * int(sigma) + i, jpg)
            mp = c.shape[0] * c.shape[1] / 1e6
            outs = {"noisy": (noisy, 0.0)}
            for k, m in ours.items():
                outs[k] = run_ours(a, m, jpg, tmp)
            for n in methods:
                if n == "bm3d":
                    continue
                outs[n] = apply(n, noisy, settings[n], tmp)
            for k, (o, t) in outs.items():
                acc[k][0].append(psnr(c, o))
                acc[k][1].append(ssim(c, o))
                acc[k][2] += t
                acc[k][3] += mp
            if "bm3d" not in methods:
                continue
            cc, nc = centre(c, a.bm3d_crop), centre(noisy, a.bm3d_crop)
            o, t = apply("bm3d", np.ascontiguousarray(nc), settings["bm3d"], tmp)
            acc["bm3d"][0].append(psnr(cc, o))
            acc["bm3d"][1].append(ssim(cc, o))
            acc["bm3d"][2] += t
            acc["bm3d"][3] += cc.shape[0] * cc.shape[1] / 1e6
        for k, (ps, ss, t, mp) in acc.items():
            setting = "-" if k == "noisy" else "PNG out" if k.startswith("ours") else None
            if setting is None:
                setting = ("h=%.1f" if k == "fastNlMeans" else
                           "s=%.2f" if k == "nlmeans" else
                           "luma_spatial=%.2f" if k == "hqdn3d" else
                           "sigma=%.1f, %dx%d centre crops") % ((settings[k],) + ((a.bm3d_crop,) * 2 if k == "bm3d" else ()))
            ms = "-" if k == "noisy" else "%.0f" % (t * 1e3 / mp)
            print("| %g | %s | %.2f | %.4f | %s | %s |" % (sigma, k, np.mean(ps), np.mean(ss), ms, setting))
            sys.stdout.flush()
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
