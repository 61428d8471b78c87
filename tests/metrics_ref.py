#!/usr/bin/env python3
"""Reference values for tests/test_metrics.c, computed independently of our C code.

SSIM: scipy.ndimage.gaussian_filter (sigma 1.5, truncate 3.5 -> 11x11 window),
population moments, C1=(0.01 L)^2, C2=(0.03 L)^2, mean of the SSIM map cropped
by 5 px on every side: what skimage.metrics.structural_similarity computes with
gaussian_weights=True, use_sample_covariance=False, data_range=L.

STOI/ESTOI at rates other than 16 kHz: pystoi (pip install pystoi). pystoi is
not packaged in Debian; when it is missing, set PYSTOI_PORT to a directory with
a module `pystoi_port` exposing the same stoi(x, y, fs, extended) function.

The inputs are rebuilt here exactly as the C test builds them (same LCG,
same formulas), so run: /usr/bin/python3 tests/metrics_ref.py
"""
import os
import sys

import numpy as np
from scipy.ndimage import gaussian_filter

M64 = (1 << 64) - 1


class Lcg:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & M64
        return self.s >> 32  # 32-bit value


def ssim_images():
    h, w = 24, 31
    g = Lcg(7)
    a = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            a[r, c] = (r * 7 + c * 13 + (r * c) % 17) % 224 + (g.next() >> 27)
    noisy = a.copy()
    for r in range(h):
        for c in range(w):
            noisy[r, c] += float((g.next() >> 26) % 41) - 20.0
    return a, a + 10.0, noisy, 255.0 - a


def ssim(x, y, L):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    f = lambda im: gaussian_filter(im, sigma=1.5, truncate=3.5, mode="reflect")
    ux, uy, uxx, uyy, uxy = f(x), f(y), f(x * x), f(y * y), f(x * y)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5].mean()


def stoi_signals(rate):
    n = 3 * rate
    t = np.arange(n) / rate
    env = np.maximum(0.0, np.sin(2 * np.pi * 1.7 * t)) ** 2
    env2 = np.maximum(0.0, np.sin(2 * np.pi * 3.1 * t)) ** 2
    env3 = np.maximum(0.0, np.sin(2 * np.pi * 5.3 * t + 1.0)) ** 2
    clean = (env * (np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 280 * t + 0.3))
             + 0.6 * env2 * np.sin(2 * np.pi * 910 * t) + 0.4 * env3 * np.sin(2 * np.pi * 2300 * t))
    clean = clean.astype(np.float32)
    g = Lcg(rate)
    noise = np.array([g.next() / 4294967296.0 - 0.5 for _ in range(n)])
    deg = (clean.astype(np.float64) + 0.3 * noise).astype(np.float32)
    return clean.astype(np.float64), deg.astype(np.float64)


def main():
    a, off, noisy, inv = ssim_images()
    print("ssim offset %.12f" % ssim(a, off, 255.0))
    print("ssim noisy  %.12f" % ssim(a, noisy, 255.0))
    print("ssim invert %.12f" % ssim(a, inv, 255.0))
    try:
        from pystoi import stoi
    except ImportError:
        sys.path.insert(0, os.environ.get("PYSTOI_PORT", "."))
        from pystoi_port import stoi
    for rate in (8000, 10000, 22050, 44100, 48000):
        x, y = stoi_signals(rate)
        print("stoi %5d %.9f %.9f" % (rate, stoi(x, y, rate), stoi(x, y, rate, extended=True)))


if __name__ == "__main__":
    main()
