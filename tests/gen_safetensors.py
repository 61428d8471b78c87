#!/usr/bin/python3
"""gen_safetensors.py — writes tests/data/interop.safetensors, a safetensors
file made the way the Python ecosystem makes them, for test_safetensors.c.

Debian's python3 has no `safetensors` package, so the file is assembled by
hand from the format's definition (struct + json), with numpy and PyTorch
supplying the values and, independently of our C code, their float32
conversions: each tensor X of a non-F32 dtype comes with "X.expect", the F32
values numpy (F16, F64) or PyTorch (BF16) convert it to. The test checks that
dn_st_get_f32 gives the same bits.

Unlike our writer, this one puts the data in reverse header order, writes the
JSON with Python's default ", " / ": " separators and pads with spaces, so the
reader is shown a second, valid layout.

Its write() and read() are the project's Python safetensors helpers, shared
by the parity test and the benchmark.

Usage: /usr/bin/python3 tests/gen_safetensors.py [OUTPUT]
"""
import json
import struct
import sys

import numpy as np
import torch


def tensors():
    rng = np.random.default_rng(20261125)
    out = {}
    # F32: values the C test recomputes itself: i * 0.25 - 3.
    out["plain.f32"] = ("F32", [2, 3, 4], (np.arange(24, dtype=np.float32) * 0.25 - 3).tobytes())

    # F16: every special class, then random normals.
    special16 = np.array([0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF,
                          0x0400, 0x3555, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE55], dtype=np.uint16)
    f16 = np.concatenate([special16.view(np.float16),
                          rng.standard_normal(48).astype(np.float16)]).reshape(4, 16)
    out["enc0.conv1.weight.f16"] = ("F16", list(f16.shape), f16.astype("<f2").tobytes())
    out["enc0.conv1.weight.f16.expect"] = ("F32", list(f16.shape), f16.astype("<f4").tobytes())

    # BF16 from PyTorch: specials, rounding of random values.
    vals = torch.cat([torch.tensor([0.0, -0.0, 1.0, -2.5, 3.0e38, -1.0e-40, float("inf"),
                                    float("-inf"), float("nan")]),
                      torch.from_numpy(rng.standard_normal(31).astype(np.float32))])
    bf16 = vals.to(torch.bfloat16).reshape(5, 8)
    bits = bf16.view(torch.int16).numpy().astype("<i2")
    out["dec1.bn.running_var.bf16"] = ("BF16", [5, 8], bits.tobytes())
    out["dec1.bn.running_var.bf16.expect"] = ("F32", [5, 8], bf16.float().numpy().astype("<f4").tobytes())

    # F64: rounding to float32, overflow to inf, underflow to subnormal/0.
    f64 = np.concatenate([np.array([1.0 / 3.0, -1e300, 1e300, 1e-40, 1e-50, 3.4028235677973366e38, np.pi]),
                          rng.standard_normal(9)])
    out["scale.f64"] = ("F64", [16], f64.astype("<f8").tobytes())
    with np.errstate(over="ignore"):
        out["scale.f64.expect"] = ("F32", [16], f64.astype("<f4").tobytes())

    # Dtypes we parse but do not convert, an empty tensor and a scalar.
    out["step.i64"] = ("I64", [2], np.array([7, -1], dtype="<i8").tobytes())
    out["mask.i32"] = ("I32", [3], np.array([1, 0, -5], dtype="<i4").tobytes())
    out["bytes.u8"] = ("U8", [5], bytes([0, 1, 2, 254, 255]))
    out["empty.f32"] = ("F32", [0, 3], b"")
    out["scalar.f32"] = ("F32", [], np.array([42.5], dtype="<f4").tobytes())
    return out


def write(path, ts, metadata=None, reverse=False):
    """Writes ts (name -> (dtype, shape, raw bytes)) as a safetensors file.

    The header lists tensors in ts order; with reverse=True the data is laid
    out in the opposite order (a valid layout our own writer never makes).
    Also used by tests/torch_parity.py and bench/bench_torch.py.
    """
    names = list(ts)
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    data = b""
    offsets = {}
    for name in (reversed(names) if reverse else names):
        raw = ts[name][2]
        offsets[name] = [len(data), len(data) + len(raw)]
        data += raw
    for name in names:
        dtype, shape, _ = ts[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": offsets[name]}
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def f32(array):
    """A numpy array (or torch tensor) as a ("F32", shape, bytes) entry for write()."""
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    return ("F32", list(a.shape), a.tobytes())


_NP_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read(path):
    """(tensors, metadata) of a safetensors file: name -> numpy array (BF16
    widened to float32), metadata as a dict of strings."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        raw = blob[base + lo:base + hi]
        if e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=_NP_DTYPES[e["dtype"]])
        out[name] = a.reshape(e["shape"]).copy()
    return out, metadata


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/interop.safetensors"
    # Header keys in tensors() order; data laid out in reverse.
    write(path, tensors(), {"format": "pt", "generator": "tests/gen_safetensors.py", "snowman": "\u2603"},
          reverse=True)


if __name__ == "__main__":
    main()
