"""st_io.py: minimal safetensors writer/reader (no `safetensors` package needed).

File layout (https://github.com/huggingface/safetensors, "Format"):
  8 bytes   little-endian u64 N = length of the JSON header
  N bytes   JSON: {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets": [b, e]}, ...}
            padded with spaces so that the data starts at a multiple of 8
  data      raw little-endian tensor bytes; offsets are relative to the start of data

Tensors are torch tensors; each is stored in the dtype it has (F32, F16, BF16, I64, ...).
bf16 bytes are taken through an int16 view because numpy has no bfloat16.
"""
import json
import os
import struct

import torch

_DT = {
    torch.float32: ("F32", 4),
    torch.float16: ("F16", 2),
    torch.bfloat16: ("BF16", 2),
    torch.float64: ("F64", 8),
    torch.int64: ("I64", 8),
    torch.int32: ("I32", 4),
    torch.int16: ("I16", 2),
    torch.int8: ("I8", 1),
    torch.uint8: ("U8", 1),
    torch.bool: ("BOOL", 1),
}
_BY_NAME = {v[0]: k for k, v in _DT.items()}


def _raw_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype not in _DT:
        raise TypeError("st_io: unsupported dtype %s" % t.dtype)
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


def encode(tensors, metadata=None):
    """Return the bytes of a safetensors file holding `tensors` (name -> tensor, in order)."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs = []
    off = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("st_io: tensor name '__metadata__' is reserved")
        raw = _raw_bytes(t)
        dt, size = _DT[t.dtype]
        assert len(raw) == t.numel() * size
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-(8 + len(h))) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write(path, tensors, metadata=None):
    """Write one safetensors file; returns the number of tensor data bytes."""
    data = encode(tensors, metadata)
    _write_atomic(path, data)
    return sum(t.numel() * _DT[t.dtype][1] for t in tensors.values())


def write_sharded(folder, tensors, n_shards, metadata=None):
    """Hugging Face sharded layout: model-0000i-of-0000n.safetensors + model.safetensors.index.json.
    Tensors are split in order into n_shards contiguous groups of roughly equal byte size."""
    names = list(tensors.keys())
    sizes = [tensors[n].numel() * _DT[tensors[n].dtype][1] for n in names]
    total = sum(sizes)
    groups = [[] for _ in range(n_shards)]
    acc = 0
    for n, s in zip(names, sizes):
        g = min(n_shards - 1, acc * n_shards // total)
        groups[g].append(n)
        acc += s
    weight_map = {}
    for i, g in enumerate(groups):
        if not g:
            raise ValueError("st_io: shard %d would be empty" % i)
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, n_shards)
        write(os.path.join(folder, fname), {n: tensors[n] for n in g}, metadata)
        for n in g:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    _write_atomic(os.path.join(folder, "model.safetensors.index.json"),
                  (json.dumps(index, indent=2) + "\n").encode())
    return total


def read(path):
    """Read a safetensors file -> (dict name -> tensor in its stored dtype, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        dt = _BY_NAME[e["dtype"]]
        buf = bytearray(data[base + b:base + en])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if len(buf) else \
                torch.empty(0, dtype=torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def read_model_folder(folder):
    """All tensors of a Hugging Face model folder (single file or sharded with an index)."""
    idx = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        out = {}
        for fname in sorted(set(wm.values())):
            t, _ = read(os.path.join(folder, fname))
            out.update(t)
        missing = set(wm) - set(out)
        if missing:
            raise ValueError("st_io: index names tensors not in the shards: %s" % sorted(missing))
        return out
    t, _ = read(os.path.join(folder, "model.safetensors"))
    return t
