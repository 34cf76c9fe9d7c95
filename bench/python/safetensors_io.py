"""Pure-Python safetensors reading and writing (json + struct + torch).

The format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
header length N, N bytes of JSON mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
section) plus an optional "__metadata__" object of strings, then the raw
little-endian tensor bytes.

This mirrors reca/safetensors.cc: the writer emits the same bytes as the C++
writer (sorted names, compact JSON padded with spaces to a multiple of 8), and
the reader applies the same validation (header size, field types, dtypes,
offsets inside the file and matching dtype x shape, no overlapping ranges),
raising SafetensorsError that names the file and the tensor.
"""

import json
import struct
import sys

import torch

__all__ = [
    "SafetensorsError",
    "DTYPES",
    "encode",
    "decode",
    "save_file",
    "load_file",
]

if sys.byteorder != "little":  # torch.frombuffer reads native byte order
    raise ImportError("safetensors_io: big-endian hosts are not supported")

# safetensors dtype name <-> torch dtype (the set reca/safetensors.cc supports).
DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in DTYPES.items()}

MAX_HEADER_BYTES = 100 << 20  # as reca/safetensors.cc


class SafetensorsError(ValueError):
    """A malformed or unsupported safetensors file or tensor."""


def _element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def _tensor_bytes(t):
    """Raw bytes of a CPU contiguous tensor (any dtype, any dim, maybe empty)."""
    if t.numel() == 0:
        return b""
    flat = t.reshape(-1)
    if flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)  # same storage, element_size bytes per element
    return flat.numpy().tobytes()


def encode(tensors, metadata=None):
    """Serialises {name: tensor} (+ {str: str} metadata) to bytes."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError("metadata keys and values must be strings: %r" % (k,))
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise SafetensorsError("tensor name '__metadata__' is reserved")
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise SafetensorsError("tensor '%s': not a torch.Tensor" % name)
        if t.dtype not in _NAMES:
            raise SafetensorsError("tensor '%s': unsupported dtype %s" % (name, t.dtype))
        t = t.detach().to("cpu").contiguous()
        data = _tensor_bytes(t)
        header[name] = {
            "dtype": _NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    raw = text.encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return b"".join([struct.pack("<Q", len(raw)), raw] + chunks)


def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def decode(data, name_for_errors="<bytes>"):
    """Parses safetensors bytes -> (tensors: dict name -> CPU tensor, metadata: dict)."""

    def bad(why):
        return SafetensorsError("%s: %s" % (name_for_errors, why))

    if len(data) < 8:
        raise bad("too short for a safetensors header")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise bad("header length out of range")
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad("header is not valid JSON: %s" % e) from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    base = 8 + n
    data_size = len(data) - base
    buf = data if isinstance(data, bytearray) else bytearray(data)  # writable: no torch warning

    tensors, metadata, ranges = {}, {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict):
                raise bad("__metadata__ is not an object")
            for k, v in entry.items():
                if not isinstance(v, str):
                    raise bad("__metadata__.%s is not a string" % k)
                metadata[k] = v
            continue
        where = "tensor '%s': " % name
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("dtype"), str)
            or not isinstance(entry.get("shape"), list)
            or not isinstance(entry.get("data_offsets"), list)
            or len(entry["data_offsets"]) != 2
        ):
            raise bad(where + "needs dtype, shape and data_offsets[2]")
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise bad(where + "unsupported dtype " + entry["dtype"])
        numel = 1
        for d in entry["shape"]:
            if not _is_uint(d):
                raise bad(where + "shape entries must be non-negative integers")
            numel *= d
        begin, end = entry["data_offsets"]
        if not _is_uint(begin) or not _is_uint(end):
            raise bad(where + "data_offsets must be non-negative integers")
        if begin > end or end > data_size:
            raise bad(where + "data_offsets outside the file (truncated?)")
        if end - begin != numel * _element_size(dtype):
            raise bad(where + "byte range does not match dtype and shape")
        ranges.append((begin, end))
        if numel == 0:
            t = torch.empty(entry["shape"], dtype=dtype)
        else:
            t = torch.frombuffer(buf, dtype=dtype, count=numel, offset=base + begin)
            t = t.reshape(entry["shape"]).clone()  # own the memory, not the file buffer
        tensors[name] = t
    ranges.sort()
    for (_, prev_end), (begin, _) in zip(ranges, ranges[1:]):
        if begin < prev_end:
            raise bad("tensor byte ranges overlap")
    return tensors, metadata


def save_file(path, tensors, metadata=None):
    """Writes a safetensors file (via a temporary file and rename)."""
    import os

    data = encode(tensors, metadata)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_file(path):
    """Reads a safetensors file -> (tensors, metadata)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return decode(data, path)
