"""Reading and writing ``.safetensors`` files in plain NumPy.

A ``.safetensors`` file holds named tensors and a few strings of metadata, and is what
PyTorch, JAX and most model hubs exchange weights in.  Its layout:

1. 8 bytes: the header length N, an unsigned 64-bit little-endian integer;
2. N bytes: the header, UTF-8 JSON, padded at the end with spaces (the reference writer pads
   it to a multiple of 8 bytes, so the data that follow start aligned)::

       {"__metadata__": {"format": "pt"},
        "fc.weight": {"dtype": "F32", "shape": [10, 784], "data_offsets": [0, 31360]},
        "fc.bias":   {"dtype": "F32", "shape": [10],      "data_offsets": [31360, 31400]}}

3. the byte buffer: each tensor's values, little-endian, in C (row-major) order, at
   ``data_offsets = [begin, end)`` counted from the start of the buffer.  The tensors cover
   the buffer exactly: no two overlap, and no byte lies outside all of them.

``__metadata__`` is optional and maps strings to strings.  The dtypes are ``BOOL`` (one byte,
0 or 1), ``U8 U16 U32 U64``, ``I8 I16 I32 I64``, ``F16 F32 F64`` and ``BF16``.  NumPy has no
bfloat16: :func:`load` reads a ``BF16`` tensor into float32, exactly (a bfloat16 is the upper
half of a float32's bits), and :func:`save` cannot write one.  Other dtypes of the format
(8-bit floats, complex) are refused.

Every field of a header is checked before any tensor is allocated, and a bad file gets a
``ValueError`` naming the file, the tensor and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .files import atomic_write

__all__ = ["save", "load", "MAX_HEADER_BYTES", "DTYPES"]

#: the dtypes of the format that NumPy holds, code -> little-endian NumPy dtype
DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
}
_CODES = {dtype: code for code, dtype in DTYPES.items()}

#: the largest header read, as in the reference reader: a corrupt length must not make us
#: allocate gigabytes before the JSON is even parsed
MAX_HEADER_BYTES = 100_000_000

#: what load reads: the dtypes above, and BF16 into float32
_READABLE = (*DTYPES, "BF16")

_METADATA = "__metadata__"
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


# --------------------------------------------------------------------------------------------
# writing

def _code(name: str, tensor: np.ndarray) -> str:
    code = _CODES.get(tensor.dtype.newbyteorder("<"))
    if code is None:
        raise TypeError(f"safetensors: tensor {name!r} has dtype {tensor.dtype}, which the "
                        f"format cannot hold; expected one of {', '.join(DTYPES)} "
                        f"(as NumPy: bool, (u)int8-64, float16-64)")
    return code


def _checked_tensors(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors as little-endian C-ordered arrays, sorted by name, after checking names."""
    arrays = {}
    for name in sorted(tensors):
        if not isinstance(name, str) or not name:
            raise ValueError(f"safetensors: tensor names must be non-empty strings, got {name!r}")
        if name == _METADATA:
            raise ValueError(f"safetensors: {_METADATA!r} is reserved for the metadata; "
                             f"rename that tensor")
        tensor = np.asarray(tensors[name])
        little = tensor.dtype.newbyteorder("<")
        _code(name, tensor)
        arrays[name] = np.asarray(tensor, dtype=little, order="C")   # keeps 0-d arrays 0-d
    return arrays


def _checked_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    for key, value in metadata.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"safetensors: metadata must map strings to strings, got "
                            f"{key!r}: {value!r}")
    return dict(metadata)


def _header(arrays: dict[str, np.ndarray], metadata: dict[str, str] | None) -> bytes:
    """The JSON header for ``arrays`` laid out one after the other in their order, padded with
    spaces to a multiple of 8 bytes."""
    header, begin = {}, 0
    if metadata is not None:
        header[_METADATA] = metadata
    for name, array in arrays.items():
        header[name] = {"dtype": _code(name, array), "shape": list(array.shape),
                        "data_offsets": [begin, begin + array.nbytes]}
        begin += array.nbytes
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % 8)


def save(path, tensors: Mapping[str, np.ndarray], *,
         metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (name -> array) and ``metadata`` (str -> str) to a .safetensors file.

    The tensors are laid out in the order of their sorted names, little-endian and in C order.
    The file is written under a temporary name and renamed (``files.atomic_write``): a failure
    leaves an existing file at ``path`` as it was and no partial file behind.

    Raises ``TypeError`` for a tensor whose dtype the format cannot hold (complex, object,
    long double, ...) or metadata that is not str -> str, ``ValueError`` for an empty name or
    the reserved name ``__metadata__``; both name the culprit.  Returns ``path``.
    """
    arrays = _checked_tensors(tensors)
    header = _header(arrays, None if metadata is None else _checked_metadata(metadata))
    path = Path(path)
    with atomic_write(path) as f:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        for array in arrays.values():        # one tensor at a time: no copy of the whole file
            f.write(array.tobytes())
    return path


# --------------------------------------------------------------------------------------------
# reading: the header, each entry of it, the layout of the buffer, then the tensors

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)     # JSON true is not a length


def _no_duplicates(pairs: list) -> dict:
    """A JSON object as a dict; json.loads would silently keep the last of two equal keys."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"the header names {key!r} twice")
        seen.add(key)
    return dict(pairs)


def _read_header(f, path: Path, file_size: int) -> dict:
    """The parsed JSON header of the open file ``f``, after checking its length."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise ValueError(f"{path}: not a safetensors file: {file_size} bytes, shorter than the "
                         f"8-byte header length")
    n = int.from_bytes(prefix, "little")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{path}: header length {n:,} bytes exceeds the limit of "
                         f"{MAX_HEADER_BYTES:,}: not a safetensors file, or a corrupt one")
    if 8 + n > file_size:
        raise ValueError(f"{path}: header length {n:,} bytes runs beyond the end of the file "
                         f"({file_size:,} bytes): a truncated or corrupt file")
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: the header is not valid UTF-8 ({e})") from e
    except (ValueError, RecursionError) as e:     # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: the header is not valid JSON ({e})") from e
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header must be a JSON object, got {type(header).__name__}")
    return header


def _read_metadata(path: Path, metadata) -> dict[str, str]:
    if metadata is None:              # absent, or null: the reference reader accepts both
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: {_METADATA} must be an object of strings, got "
                         f"{type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ValueError(f"{path}: {_METADATA} value of {key!r} must be a string, got "
                             f"{value!r}")
    return metadata


def _check_entry(path: Path, name: str, entry) -> None:
    """Check one tensor's header entry: its keys, dtype, shape, and offsets matching them."""
    where = f"{path}: tensor {name!r}"
    if not name:
        raise ValueError(f"{path}: a tensor has an empty name")
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object with {sorted(_ENTRY_KEYS)}, got {entry!r}")
    if set(entry) != _ENTRY_KEYS:
        missing, extra = sorted(_ENTRY_KEYS - set(entry)), sorted(set(entry) - _ENTRY_KEYS)
        raise ValueError(f"{where}: expected the keys {sorted(_ENTRY_KEYS)}"
                         + (f", missing {missing}" if missing else "")
                         + (f", unexpected {extra}" if extra else ""))
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _READABLE:
        raise ValueError(f"{where}: unknown or unsupported dtype {dtype!r}; expected one of "
                         f"{', '.join(_READABLE)}")
    if not (isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape)):
        raise ValueError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"{where}: data_offsets must be two integers 0 <= begin <= end, "
                         f"got {offsets!r}")
    itemsize = 2 if dtype == "BF16" else DTYPES[dtype].itemsize
    expected = math.prod(shape) * itemsize          # Python integers: no overflow
    if offsets[1] - offsets[0] != expected:
        raise ValueError(f"{where}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes, "
                         f"but shape {shape} of {dtype} needs {expected}")


def _check_layout(path: Path, entries: dict, buffer_size: int) -> None:
    """The tensors cover the buffer [0, buffer_size) exactly: none beyond its end, no two
    overlapping, no bytes between or after them (the reference reader refuses those too)."""
    end, previous = 0, None
    for name, entry in sorted(entries.items(), key=lambda item: item[1]["data_offsets"]):
        begin, stop = entry["data_offsets"]
        if stop > buffer_size:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {[begin, stop]} reach beyond "
                             f"the {buffer_size}-byte buffer: a truncated or corrupt file")
        if begin < end:
            raise ValueError(f"{path}: tensor {name!r} (bytes {begin}..{stop}) overlaps tensor "
                             f"{previous!r} (ending at byte {end})")
        if begin > end:
            raise ValueError(f"{path}: bytes {end}..{begin} of the buffer belong to no tensor "
                             f"(a hole before tensor {name!r})")
        end, previous = stop, name
    if end != buffer_size:
        raise ValueError(f"{path}: bytes {end}..{buffer_size} at the end of the buffer belong to "
                         f"no tensor")


def _tensor(path: Path, name: str, entry: dict, buffer: bytes) -> np.ndarray:
    """The tensor of a checked entry as a new, writable array in native byte order."""
    begin, _ = entry["data_offsets"]
    shape, code = entry["shape"], entry["dtype"]
    count = math.prod(shape)
    if code == "BF16":
        # a bfloat16 is the upper 16 bits of the float32 of the same value
        bits = np.frombuffer(buffer, dtype="<u2", count=count, offset=begin)
        return (bits.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    dtype = DTYPES[code]
    raw = np.frombuffer(buffer, dtype=np.uint8 if code == "BOOL" else dtype, count=count,
                        offset=begin)
    if code == "BOOL" and np.any(raw > 1):
        # NumPy would take such bytes as booleans that compare unequal to True
        raise ValueError(f"{path}: tensor {name!r}: BOOL bytes must be 0 or 1, found "
                         f"{int(raw[raw > 1][0])}")
    # astype copies (the arrays are writable and own their memory) and makes the byte order native
    return raw.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def load(path, *, with_metadata: bool = False):
    """Read a .safetensors file.

    Returns ``{name: array}`` in the order of the names, each array a writable copy in native
    byte order (``BF16`` becomes float32), or ``(tensors, metadata)`` if ``with_metadata``
    (``metadata`` is ``{}`` when the file has none).  A malformed file gets a ``ValueError``
    naming the file, the tensor and what is wrong; a missing one ``FileNotFoundError``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header = _read_header(f, path, file_size)
        metadata = _read_metadata(path, header.pop(_METADATA, None))
        for name, entry in header.items():
            _check_entry(path, name, entry)
        _check_layout(path, header, file_size - f.tell())
        buffer = f.read()                          # the sizes are all checked: read the data
    tensors = {name: _tensor(path, name, header[name], buffer) for name in sorted(header)}
    return (tensors, metadata) if with_metadata else tensors
