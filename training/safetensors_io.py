"""Minimal safetensors reader and writer in pure Python + torch (the safetensors package is not installed)."""
import json
import struct

import numpy as np
import torch

_DTYPES = {"F16": (torch.float16, np.float16), "F32": (torch.float32, np.float32), "I64": (torch.int64, np.int64),
           "BF16": (torch.bfloat16, None)}
_NAMES = {v[0]: k for k, v in _DTYPES.items()}


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def load(path):
    """{name: tensor} and the __metadata__ dict."""
    header, start = read_header(path)
    meta = header.pop("__metadata__", {})
    with open(path, "rb") as f:
        data = f.read()[start:]
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]][0]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(info["shape"]).clone() if b > a \
            else torch.zeros(info["shape"], dtype=dtype)
    return out, meta


def save(path, tensors, metadata=None):
    """Writes tensors (sorted by name, 8-byte aligned header) with string metadata."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
