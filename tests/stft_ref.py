#!/usr/bin/env python3
"""Reference magnitudes for tests/test_stft.c from torch.stft.

usage: stft_ref.py SIGNAL.f32 N_FFT HOP OUT.f32
Reads raw float32 samples, writes |torch.stft(...)| as raw float32 in
[bin][frame] order (hann_window periodic, center=True, pad_mode='reflect').
"""
import sys

import numpy as np
import torch

x = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.float32))
n_fft, hop = int(sys.argv[2]), int(sys.argv[3])
spec = torch.stft(x.double(), n_fft, hop_length=hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                  center=True, pad_mode='reflect', return_complex=True)
spec.abs().float().numpy().astype(np.float32).tofile(sys.argv[4])
