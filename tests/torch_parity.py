#!/usr/bin/python3
"""torch_parity.py — libdenoise's U-Net against PyTorch, same weights, same data.

Builds the seed U-Net (tests/torch_unet.py: base 32, depth 3, ReLU output) in
float32 with random weights, random batch-norm affine parameters and
non-trivial running statistics, writes it as a denoised model file and a
data file, runs tests/parity_driver (folded inference + one training step
with MSE and Adam, lr 1e-3) and does the same in PyTorch. A float64 copy of
the PyTorch model shows how far float32 PyTorch itself is from exact.

What is compared, and what "close" means (TOL = 1e-4):
  inference output  max|C − torch| / max|torch|                    <= TOL
  loss              |C − torch| / |torch|                           <= 1e-5
  gradients         per tensor, ‖Δg‖ / ‖layer's gradient‖ (conv weight+bias,
                    BN gamma+beta), C against the float64 reference:
                    <= max(TOL, 4 × PyTorch float32's own error)
  Adam alone        torch.optim.Adam fed C's gradients vs C's new weights:
                    |Δw| <= TOL·lr + 1 ulp of w, every element
  one step, end to end (PyTorch's own gradients and step vs C's):
                    new weights max|Δw| / max|w| <= TOL, and the update
                    (new − old) |Δ| <= TOL·lr + 1 ulp of w, on determined
                    elements (below)
  running stats     after the step, max|C − torch| / max|torch|    <= 1e-5
                    (plain sums, accumulated in double: agree to ~1e-7; a
                    biased instead of unbiased variance shows as ~1e-4)

Why the float64 referee for gradients: two float32 computations of this
network's gradients do not agree to 1e-4, whoever writes them. A float32
forward pass puts a few pre-activations on the other side of 0 than float64
does (3-4 of ~5 M per step here), and each such ReLU flip moves one element
of dx by its whole value, ~1e-3 of the layer's gradient norm, which then
spreads to every layer below; batch norm's backward (dx orthogonal to the
constant and to x̂) then sums with heavy cancellation. Float32 PyTorch is
1e-4..2e-3 (relative norm, depending on the seed) from float64. So C is
required to be about as exact as PyTorch: a bug the size of using m − 1 for
m in batch norm's backward (1.3e-3 at the bottleneck) fails at 5x the bound.

Why "determined" elements: Adam's first step is lr·g/(|g| + eps), about ±lr
whatever |g| is, so where a gradient is at rounding-noise level — every conv
bias that feeds a batch norm has true gradient exactly 0 — each side takes a
±lr step of its own sign. An element is determined when the two gradients
have the same sign and, by the mean value theorem, their difference can move
the update by at most TOL·lr/2: lr·eps·|Δg| / (min|g| + eps)² <= TOL·lr/2. The
others are counted ("free"); their gradients are checked above all the same.

Usage: torch_parity.py --driver PATH [--workdir DIR] [--train-size HxW] [--batch N]
                       [--device cuda[:N]] [--seed N] [-v]
With --device the C side is the GPU backend (parity_driver --device): the
same references and tolerances judge it.
Exit status 0 when everything is within tolerance, 1 otherwise.
"""
import argparse
import copy
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_safetensors as st  # noqa: E402
from torch_unet import UNet  # noqa: E402

TOL = 1e-4
LOSS_TOL = 1e-5
STAT_TOL = 1e-5
LR = 1e-3
EPS = 1e-8
SEED = 20261125

META = {"format": "denoised-model", "name": "parity", "version": "1", "kind": "audio", "arch": "unet",
        "in_channels": "1", "out_channels": "1", "base_filters": "32", "depth": "3", "out_act": "relu",
        "residual": "0", "input_scale": "1", "sample_rate": "16000", "n_fft": "512", "hop": "128",
        "scaling": "none", "power": "1", "output": "magnitude"}


def spectrogram_like(rng, n, h, w):
    """Non-negative |STFT|-like values: a falling spectral envelope, per-frame
    loudness and Rayleigh-distributed bins."""
    env = np.exp(-np.arange(h) / (h / 4.0))[None, None, :, None]
    loud = rng.uniform(0.2, 1.5, size=(n, 1, 1, w))
    bins = rng.rayleigh(1.0, size=(n, 1, h, w))
    return (env * loud * bins).astype(np.float32)


def make_model(rng, calib, seed):
    torch.manual_seed(seed)
    model = UNet(1, 1, 32, 3, "relu").float()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, bn.num_features).astype(np.float32)))
            bn.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.2, bn.num_features).astype(np.float32)))
        # Running statistics matched to real activations (momentum 1 keeps the
        # calibration batch's), then perturbed so that eval mode differs from
        # train mode and folding has something to fold.
        for bn in bns:
            bn.momentum = 1.0
        model.train()
        model(calib)
        for bn in bns:
            bn.momentum = 0.1
            c = bn.num_features
            bn.running_var.mul_(torch.from_numpy(rng.uniform(0.7, 1.4, c).astype(np.float32)))
            bn.running_mean.add_(torch.from_numpy(rng.normal(0.0, 0.1, c).astype(np.float32))
                                 * bn.running_var.sqrt())
        # Centre the output convolution so that about half the final ReLU's
        # inputs are positive on this kind of data.
        model.eval()
        model.out_act = "none"
        pre = model(calib)
        model.out_act = "relu"
        model.out.bias.sub_(pre.median())
    return model


def named(model):
    return [(n, t.detach().clone()) for n, t in model.c_named_tensors()]


def train_step(model, x, t, opt=None):
    """forward_train + MSE + backward (+ Adam when opt): loss, {name: grad}."""
    model.train()
    y = model(x)
    loss = F.mse_loss(y, t)
    model.zero_grad()
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.c_named_tensors() if p.grad is not None}
    if opt is not None:
        opt.step()
    return loss.item(), grads


def rel(a, b, scale):
    """max|a − b| / scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def rel2(a, b, norm):
    """‖a − b‖₂ / norm."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.sum(d * d))) / norm


def group_of(name):
    """'enc0.conv1.weight' -> 'conv.weight', 'out.bias' -> 'out.bias'."""
    parts = name.split(".")
    return "out." + parts[-1] if parts[0] == "out" else parts[1].rstrip("0123456789") + "." + parts[-1]


def layer_of(name):
    return name.rsplit(".", 1)[0]


class Report:
    def __init__(self):
        self.failed = []

    def check(self, what, value, tol):
        ok = value <= tol and not math.isnan(value)
        if not ok:
            self.failed.append(f"{what}: {value:.3g} > {tol:g}")
        return "ok" if ok else "FAIL"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--train-size", default="57x43", help="HxW of the training batch's images")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--batch", type=int, default=16, help="training batch size")
    ap.add_argument("--device", help="the C side on this device (cuda, cuda:N): the GPU backend's step")
    ap.add_argument("-v", "--verbose", action="store_true", help="one row per tensor")
    args = ap.parse_args()
    th, tw = (int(v) for v in args.train_size.split("x"))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    work = args.workdir or tempfile.mkdtemp(prefix="dn-parity-")
    os.makedirs(work, exist_ok=True)

    # Data: one full-size spectrogram for inference, a batch for training.
    calib = torch.from_numpy(spectrogram_like(rng, 2, 257, 131))
    xi = spectrogram_like(rng, 1, 257, 131)
    xt = spectrogram_like(rng, args.batch, th, tw)
    tt = (xt / (1.0 + np.exp(-rng.normal(0.0, 1.5, xt.shape)))).astype(np.float32)  # a clean-ish part

    model = make_model(rng, calib, args.seed)
    before = named(model)
    paths = {k: os.path.join(work, k + ".safetensors") for k in ("model", "data", "model_c", "out_c")}
    st.write(paths["model"], {n: st.f32(t.numpy()) for n, t in before}, META)
    st.write(paths["data"], {"infer.x": st.f32(xi), "train.x": st.f32(xt), "train.t": st.f32(tt)})

    dev = ["--device", args.device] if args.device else []
    run = subprocess.run([args.driver, *dev, paths["model"], paths["data"], paths["model_c"], paths["out_c"]])
    if run.returncode != 0:
        print(f"parity_driver exited with status {run.returncode}")
        return 1
    out_c, _ = st.read(paths["out_c"])
    new_c, meta_c = st.read(paths["model_c"])
    _, out_meta = st.read(paths["out_c"])
    loss_c = float(out_meta["loss"])

    # PyTorch, float32 and a float64 copy of the same starting point.
    model64 = copy.deepcopy(model).double()
    model_a = copy.deepcopy(model)
    xi_t, xt_t, tt_t = (torch.from_numpy(a) for a in (xi, xt, tt))
    model.eval()
    model64.eval()
    with torch.no_grad():
        yi = model(xi_t).numpy()
        yi64 = model64(xi_t.double()).numpy()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_t, grads_t = train_step(model, xt_t, tt_t, opt)
    loss64, grads64 = train_step(model64, xt_t.double(), tt_t.double())
    after = dict(named(model))
    before = dict(before)

    # Adam alone: torch.optim.Adam applied to C's gradients.
    params_a = dict(model_a.c_named_tensors())
    for n, p in params_a.items():
        if n in grads_t:
            p.grad = torch.from_numpy(out_c["grad." + n].copy())
    torch.optim.Adam([params_a[n] for n in grads_t], lr=LR).step()

    rep = Report()
    print(f"training batch 16x1x{th}x{tw}, inference 1x1x257x131; TOL {TOL:g}, lr {LR:g}")
    print()
    # Inference and loss.
    scale = float(np.max(np.abs(yi)))
    d_inf = rel(out_c["infer.y"], yi, scale)
    print(f"inference output (max|y| {scale:.4g}, {np.mean(yi > 0) * 100:.0f}% positive): max|Δ|/max|y|")
    print(f"  C vs torch32 {d_inf:.2e} [{rep.check('inference', d_inf, TOL)}]   "
          f"torch32 vs f64 {rel(yi, yi64, scale):.2e}   C vs f64 {rel(out_c['infer.y'], yi64, scale):.2e}")
    d_loss = abs(loss_c - loss_t) / abs(loss_t)
    print(f"loss: C {loss_c:.9g}  torch32 {loss_t:.9g}  f64 {loss64:.9g}")
    print(f"  C vs torch32 {d_loss:.2e} [{rep.check('loss', d_loss, LOSS_TOL)}]   "
          f"torch32 vs f64 {abs(loss_t - loss64) / loss64:.2e}   C vs f64 {abs(loss_c - loss64) / loss64:.2e}")
    print()

    # Per-tensor metrics, then the worst of each group.
    layer_norm = {}
    for n, g in grads64.items():
        layer_norm[layer_of(n)] = layer_norm.get(layer_of(n), 0.0) + float((g ** 2).sum())
    rows = []
    for n in before:
        r = {"name": n, "group": group_of(n)}
        if n in grads_t:
            L = math.sqrt(layer_norm[layer_of(n)])
            gc, gt, g64 = out_c["grad." + n].astype(np.float64), grads_t[n].double().numpy(), grads64[n].numpy()
            r["g_ct"] = rel2(gc, gt, L)
            r["g_c64"] = rel2(gc, g64, L)
            r["g_t64"] = rel2(gt, g64, L)
            r["g_ratio"] = r["g_c64"] / max(TOL, 4 * r["g_t64"])
            w0, wt, wc = before[n].numpy(), after[n].numpy(), new_c[n]
            ulp = np.spacing(np.maximum(np.abs(wt), np.abs(wc)))
            wa = params_a[n].detach().numpy()
            # Adam alone, in units of its tolerance (<= 1 passes).
            r["adam"] = rel(wc, wa, LR)
            r["adam_ratio"] = float(np.max(np.abs(wc - wa) / (TOL * LR + ulp)))
            lo = np.minimum(np.abs(gc), np.abs(gt))
            det = (np.sign(gc) == np.sign(gt)) & (LR * EPS * np.abs(gc - gt) / (lo + EPS) ** 2 <= TOL * LR / 2)
            wscale = float(np.max(np.abs(wt)))
            du = np.abs((wc - w0) - (wt - w0))
            r["w"] = rel(wc[det], wt[det], wscale)
            r["upd"] = float(np.max(du[det])) / LR if det.any() else 0.0
            r["upd_ratio"] = float(np.max(du[det] / (TOL * LR + ulp[det]))) if det.any() else 0.0
            r["upd_all"] = float(np.max(du)) / LR
            r["free"] = int(det.size - det.sum())
            r["size"] = int(det.size)
            rep.check(f"{n} gradient (C vs f64 over max(TOL, 4x torch32 vs f64))", r["g_ratio"], 1.0)
            rep.check(f"{n} Adam alone (in units of TOL·lr + ulp)", r["adam_ratio"], 1.0)
            rep.check(f"{n} step: weights", r["w"], TOL)
            rep.check(f"{n} step: update (in units of TOL·lr + ulp)", r["upd_ratio"], 1.0)
        else:
            # Running statistics, moved by the training forward.
            s = float(np.max(np.abs(after[n].numpy())))
            r["stat"] = rel(new_c[n], after[n].numpy(), s)
            r["stat_moved"] = rel(after[n].numpy(), before[n].numpy(), s)
            rep.check(f"{n} running statistic", r["stat"], STAT_TOL)
        rows.append(r)

    def worst(rs, key):
        return max(rs, key=lambda r: r[key])

    groups = []
    for r in rows:
        if r["group"] not in groups:
            groups.append(r["group"])
    print("Gradients, per tensor ‖Δg‖/‖layer gradient‖ (worst tensor of each group); "
          "check: C-f64 <= max(TOL, 4·(torch32-f64))")
    print(f"{'group':<18}{'tensors':>8}{'C-torch32':>11}{'C-f64':>10}{'torch32-f64':>13}{'check':>8}  worst tensor")
    for g in groups:
        rs = [r for r in rows if r["group"] == g and "g_ct" in r]
        if rs:
            w = worst(rs, "g_ratio")
            print(f"{g:<18}{len(rs):>8}{worst(rs, 'g_ct')['g_ct']:>11.2e}{worst(rs, 'g_c64')['g_c64']:>10.2e}"
                  f"{worst(rs, 'g_t64')['g_t64']:>13.2e}{w['g_ratio']:>8.2f}  {w['name']}")
    print()
    print("Adam alone (torch.optim.Adam on C's gradients vs C): max|Δw|/lr; check in units of TOL·lr + ulp(w)")
    print("One step end to end (torch's vs C's): on determined elements max|Δw|/max|w| and max|Δupdate|/lr,")
    print("check in units of TOL·lr + ulp(w); 'all': max|Δupdate|/lr over every element; 'free': not determined")
    print(f"{'group':<18}{'Adam':>10}{'check':>7}{'weights':>10}{'update':>10}{'check':>7}{'all':>9}"
          f"{'free':>16}  worst tensor")
    for g in groups:
        rs = [r for r in rows if r["group"] == g and "w" in r]
        if rs:
            w = worst(rs, "upd_ratio")
            free, size = sum(r["free"] for r in rs), sum(r["size"] for r in rs)
            print(f"{g:<18}{worst(rs, 'adam')['adam']:>10.2e}{worst(rs, 'adam_ratio')['adam_ratio']:>7.2f}"
                  f"{worst(rs, 'w')['w']:>10.2e}{w['upd']:>10.2e}{w['upd_ratio']:>7.2f}"
                  f"{worst(rs, 'upd_all')['upd_all']:>9.2e}{f'{free}/{size}':>16}  {w['name']}")
    print()
    print("Batch-norm running statistics after the step: max|C − torch|/max|torch| (and how far the step moved them)")
    for g in groups:
        rs = [r for r in rows if r["group"] == g and "stat" in r]
        if rs:
            w = worst(rs, "stat")
            print(f"{g:<18}{len(rs):>8}{w['stat']:>11.2e}   moved {worst(rs, 'stat_moved')['stat_moved']:.2e}"
                  f"  {w['name']}")
    if args.verbose:
        print()
        for r in rows:
            print(" ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    print()
    if meta_c.get("format") != "denoised-model" or meta_c.get("provenance") is None:
        rep.failed.append("the saved model lacks its metadata")
    if rep.failed:
        print(f"FAILED: {len(rep.failed)} comparisons out of tolerance:")
        for f in rep.failed[:40]:
            print("  " + f)
        return 1
    print("all comparisons within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
