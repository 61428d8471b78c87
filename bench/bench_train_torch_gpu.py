#!/usr/bin/python3
"""The PyTorch half of bench/bench_train_gpu.sh: the seed U-Net of
tests/torch_unet.py trained on the GPU exactly as bench/bench_train_gpu.c
trains libdenoise's: a random 257 x 131 batch, forward in train mode, MSE,
zero_grad, backward, torch.optim.Adam(lr=1e-3) step, the loss read back
(.item()) every step; wall time of --steps steps after 5 warm-up steps.

Precisions as ours: fp32 (TF32 off in cuDNN and matmul), tf32 (on), bf16
(autocast to bfloat16, fp32 master weights). cudnn.benchmark on, as a user
tuning for speed would set it. Prints one JSON line per configuration.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torch_unet import UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="16,64")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--height", type=int, default=257)
    ap.add_argument("--width", type=int, default=131)
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"# torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{torch.cuda.get_device_name(0)}", flush=True)
    for prec in a.precisions.split(","):
        tf32 = prec != "fp32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for b in (int(s) for s in a.batches.split(",")):
            torch.manual_seed(1)
            net = UNet(1, 1, a.filters, 3, "relu").to(dev).train()
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x = torch.rand(b, 1, a.height, a.width, device=dev)
            t = torch.rand(b, 1, a.height, a.width, device=dev)

            def step():
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
                    y = net(x)
                loss = F.mse_loss(y.float(), t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                return loss.item()

            for _ in range(5):
                step()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(a.steps):
                loss = step()
            dt = (time.perf_counter() - t0) / a.steps
            print(json.dumps({"impl": "pytorch", "precision": prec, "batch": b,
                              "ms_per_step": round(dt * 1e3, 3), "samples_per_s": round(b / dt, 1),
                              "loss": loss}), flush=True)
            del net, opt, x, t
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
