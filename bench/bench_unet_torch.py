#!/usr/bin/python3
"""The PyTorch half of bench/bench_unet.sh: the seed U-Net of tests/torch_unet.py
(the parity test's reference model) timed the way bench/bench_unet.c times
libdenoise's, at the same input size and thread counts.

  - inference: eval mode, torch.inference_mode(), batch 1;
  - training step: train mode, batch 16, forward + MSE loss + zero_grad +
    backward + torch.optim.Adam(lr=1e-3) step.

Convolutions run in oneDNN where PyTorch picks it (Debian builds it in).
Medians over --runs (--train-runs) after --warmup calls, with min and max, in
milliseconds, and the median process CPU time (less swayed by other jobs on a
shared machine). torch.set_num_threads() sets the intra-op thread count for each
pass. Prints one JSON line and nothing else (the wrapper makes the table).
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torch_unet import UNet  # noqa: E402


def blas_threads_setter():
    """PyTorch's own BLAS calls (Debian links OpenBLAS as libblas.so.3) get
    the same thread count as its intra-op pool; None if that BLAS is not
    OpenBLAS."""
    try:
        return ctypes.CDLL("libblas.so.3").openblas_set_num_threads
    except (OSError, AttributeError):
        return None


def stat3(ms):
    return [statistics.median(ms), min(ms), max(ms)]


def time_calls(fn, warmup, runs):
    """(median, min, max) wall ms and the median process CPU ms."""
    for _ in range(warmup):
        fn()
    ms, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return stat3(ms), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=257)
    ap.add_argument("--width", type=int, default=131)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--train-runs", type=int, default=3)
    a = ap.parse_args()

    torch.manual_seed(1)
    model = UNet(in_channels=1, out_channels=1, base=32, depth=3, out_act="relu")
    nparams = sum(p.numel() for p in model.parameters() if p.requires_grad)
    x = torch.rand(1, 1, a.height, a.width)
    xb = torch.rand(a.batch, 1, a.height, a.width)
    tb = torch.rand(a.batch, 1, a.height, a.width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def infer():
        with torch.inference_mode():
            model(x)

    def train_step():
        y = model(xb)
        loss = F.mse_loss(y, tb)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()

    set_blas = blas_threads_setter()
    results = []
    for t in (int(s) for s in a.threads.split(",")):
        torch.set_num_threads(t)
        if set_blas:
            set_blas(t)
        model.eval()
        r = {"threads": t, "torch_threads": torch.get_num_threads()}
        r["infer_ms"], r["infer_cpu_ms"] = time_calls(infer, a.warmup, a.runs)
        if a.train_runs:
            model.train()
            r["train_ms"], r["train_cpu_ms"] = time_calls(train_step, 1, a.train_runs)
        results.append(r)
    print(json.dumps({"impl": "pytorch", "version": torch.__version__,
                      "mkldnn": torch.backends.mkldnn.is_available(),
                      "height": a.height, "width": a.width, "batch": a.batch, "params": nparams,
                      "runs": a.runs, "train_runs": a.train_runs, "results": results}))


if __name__ == "__main__":
    main()
