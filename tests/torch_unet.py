"""The seed U-Net in PyTorch, mirroring core/nn/unet.c layer for layer.

Used by the parity test (tests/test_torch_parity.sh) and the benchmark
(bench/bench_unet_torch.py). Parameter names match libdenoise's, so weights move
between the two through safetensors by name.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Unit(nn.Module):
    """conv3x3 -> batch norm -> ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.u1 = Unit(cin, cout)
        self.u2 = Unit(cout, cout)

    def forward(self, x):
        return self.u2(self.u1(x))

    def named_for_c(self, prefix):
        """(C name, tensor) pairs: enc0.conv1.weight, enc0.bn1.running_mean, ..."""
        out = []
        for j, u in ((1, self.u1), (2, self.u2)):
            out += [(f"{prefix}.conv{j}.weight", u.conv.weight), (f"{prefix}.conv{j}.bias", u.conv.bias),
                    (f"{prefix}.bn{j}.weight", u.bn.weight), (f"{prefix}.bn{j}.bias", u.bn.bias),
                    (f"{prefix}.bn{j}.running_mean", u.bn.running_mean),
                    (f"{prefix}.bn{j}.running_var", u.bn.running_var)]
        return out


class UNet(nn.Module):
    def __init__(self, in_channels=1, out_channels=1, base=32, depth=3, out_act="relu", residual=False):
        super().__init__()
        self.depth = depth
        self.out_act = out_act
        self.residual = residual
        self.enc = nn.ModuleList()
        cin = in_channels
        for level in range(depth):
            self.enc.append(Block(cin, base << level))
            cin = base << level
        self.mid = Block(base << (depth - 1), base << depth)
        self.dec = nn.ModuleList()
        for level in range(depth):
            self.dec.append(Block((base << (level + 1)) + (base << level), base << level))
        self.out = nn.Conv2d(base, out_channels, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        m = 1 << self.depth
        hp, wp = (h + m - 1) // m * m, (w + m - 1) // m * m
        xp = F.pad(x, (0, wp - w, 0, hp - h))
        skips = []
        cur = xp
        for level in range(self.depth):
            cur = self.enc[level](cur)
            skips.append(cur)
            cur = F.max_pool2d(cur, 2)
        cur = self.mid(cur)
        for level in reversed(range(self.depth)):
            cur = F.interpolate(cur, scale_factor=2, mode="nearest")
            cur = self.dec[level](torch.cat([cur, skips[level]], dim=1))
        y = self.out(cur)
        if self.out_act == "relu":
            y = F.relu(y)
        elif self.out_act == "sigmoid":
            y = torch.sigmoid(y)
        y = y[..., :h, :w]
        return x - y if self.residual else y

    def c_named_tensors(self):
        """Every tensor under libdenoise's name, in libdenoise's order."""
        out = []
        for level in range(self.depth):
            out += self.enc[level].named_for_c(f"enc{level}")
        out += self.mid.named_for_c("mid")
        for level in reversed(range(self.depth)):
            out += self.dec[level].named_for_c(f"dec{level}")
        out += [("out.weight", self.out.weight), ("out.bias", self.out.bias)]
        return out
