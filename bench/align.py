#!/usr/bin/python3
"""align.py OUT REF ALIGNED — shift OUT to line up with REF, write ALIGNED.

Classical filters (ffmpeg's afftdn and anlmdn, RNNoise through arnndn) hand
back their output late by their window or frame delay, and sox's noisered a
little short. Scoring them unaligned would charge them for latency rather
than for what they do to the speech, so before scoring, each output is moved
by the lag (within +-50 ms) that best correlates it with the noisy input it
was made from, then cut or zero-padded to the input's length. Prints the lag
in samples. Float32 WAV out, at REF's rate.
"""
import sys
import warnings

import numpy as np
from scipy.io import wavfile

warnings.simplefilter("ignore", wavfile.WavFileWarning)


def read(path):
    rate, x = wavfile.read(path)
    if x.dtype.kind == "i":
        x = x.astype(np.float64) / float(np.iinfo(x.dtype).max + 1)
    elif x.dtype.kind == "u":
        x = (x.astype(np.float64) - 128.0) / 128.0
    x = np.asarray(x, dtype=np.float64)
    return rate, x if x.ndim == 1 else x.mean(axis=1)


def main():
    out_path, ref_path, dst = sys.argv[1:4]
    rate, ref = read(ref_path)
    orate, out = read(out_path)
    if orate != rate:
        sys.exit("align.py: %s is at %d Hz, %s at %d Hz" % (out_path, orate, ref_path, rate))
    max_lag = rate // 20
    n = 1 << int(np.ceil(np.log2(len(ref) + len(out) + 1)))
    xc = np.fft.irfft(np.fft.rfft(out, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    vals = np.concatenate([xc[: max_lag + 1], xc[n - max_lag :]])
    lag = int(lags[np.argmax(vals)])
    shifted = out[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), out])
    y = np.zeros(len(ref))
    m = min(len(ref), len(shifted))
    y[:m] = shifted[:m]
    wavfile.write(dst, rate, y.astype(np.float32))
    print(lag)


if __name__ == "__main__":
    main()
