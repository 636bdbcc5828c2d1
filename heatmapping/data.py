"""Data: the IDX file format, MNIST, the embedded 5,000-digit sample, and the
project's pixel convention.

Every function takes explicit paths; the only implicit inputs are the
``HEATMAPPING_DATA`` environment variable, read by :func:`load_mnist` and
:func:`find_mnist` when no folder is given, and (by :func:`find_mnist` only) the
development copy ``../shared/data/mnist`` beside the project.

Pixel convention
----------------
MNIST stores uint8 pixels, 0 = black background, 255 = white ink. Networks in
this project see ``x = images / 127.5 - 1`` in [-1, 1], so the background is
exactly -1. The zB rule of deep Taylor decomposition (paper Section 5.1) uses
these bounds, ``l = -1`` and ``h = 1``, so every model and explanation here
relies on :func:`to_input`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from . import checks
from .files import atomic_write

__all__ = [
    "DEFAULT_MIRROR",
    "MNIST_GZ_SHA256",
    "MNIST5K_SHA256",
    "DownloadError",
    "read_idx",
    "write_idx",
    "load_mnist",
    "download_mnist",
    "load_mnist5k",
    "find_mnist",
    "load_test_digits",
    "interleave_classes",
    "to_input",
    "pad_images",
    "class_counts",
]

# IDX type code (third byte of the magic number) -> big-endian element type.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The mirror torchvision downloads MNIST from; it serves the original files,
# byte for byte (same MD5 as LeCun's page, yann.lecun.com/exdb/mnist/).
DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# SHA-256 of the official gzip files as distributed (sizes 9,912,422 /
# 28,881 / 1,648,877 / 4,542 bytes). These are the values recorded by
# TensorFlow Datasets and by many independent MNIST loaders; a mirror that
# re-compresses the files needs its own checksums (``checksums=``).
MNIST_GZ_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# The embedded sample made by data/make_mnist5k.py (see data/README.md).
MNIST5K_SHA256 = {
    "mnist5k-images-idx3-ubyte.gz": "c6b100a5a2c03680cfe2ea9a6cb50df61c85444712901c9827140677184ff468",
    "mnist5k-labels-idx1-ubyte.gz": "86843f81a1849db34cf2a8117f2c27d94bdb2638b0633e53343f198187730267",
}

_MNIST_FILES = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be downloaded, or did not match its checksum."""


# --------------------------------------------------------------------------- IDX


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an array from an IDX file, gzip-compressed or raw.

    The IDX format (used by MNIST) is a 4-byte magic number ``0, 0, type,
    ndim``, then ``ndim`` big-endian uint32 sizes, then the elements in C
    order, big-endian. Compression is detected from the gzip magic bytes
    ``1f 8b``, not from the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        Array of the stored shape, in native byte order; dtype uint8, int8,
        int16, int32, float32 or float64 for type codes 0x08, 0x09, 0x0B,
        0x0C, 0x0D, 0x0E.

    Raises
    ------
    ValueError
        If the file is not valid IDX: bad magic number, unknown type code,
        broken gzip stream, fewer data bytes than the header's sizes say, or
        bytes after the data. The message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: broken gzip stream ({exc})") from exc

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number must start with two zero "
            f"bytes, got {raw[:4].hex() or 'an empty file'})"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: truncated header ({ndim} sizes announced)")
    shape = struct.unpack(f">{ndim}I", raw[4:start])

    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - start
    if got < expected:
        raise ValueError(
            f"{path}: truncated: {got} data bytes, header shape {shape} needs {expected}"
        )
    if got > expected:
        raise ValueError(
            f"{path}: {got - expected} trailing bytes after the data of shape {shape}"
        )
    flat = np.frombuffer(raw, dtype=dtype, offset=start, count=expected // dtype.itemsize)
    # astype copies, so the result is writable and independent of `raw`.
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write an array to an IDX file, atomically.

    The bytes go to a temporary file in the same folder, which then replaces
    ``path`` in one step (``os.replace``); on any failure the temporary file is
    removed and ``path`` is left as it was. Compressed output is
    deterministic (gzip header time stamp 0), so the same array always gives
    the same bytes with the same zlib.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its folder must exist.
    array : array_like
        Array of dtype uint8, int8, int16, int32, float32 or float64 (any byte
        order), at most 255 dimensions.
    compress : bool, optional
        Gzip the file. Default: whether ``path`` ends in ``.gz``.

    Raises
    ------
    ValueError
        If the dtype has no IDX type code (e.g. int64 or bool: cast first).
    """
    path = Path(path)
    array = np.asarray(array)
    code = next(
        (c for c, dt in _IDX_DTYPES.items() if dt == array.dtype.newbyteorder(">")), None
    )
    if code is None:
        raise ValueError(
            f"array: IDX cannot store dtype {array.dtype}; "
            f"use uint8, int8, int16, int32, float32 or float64 (writing {str(path)!r})"
        )
    if array.ndim > 255:
        raise ValueError(f"{path}: IDX stores at most 255 dimensions, got {array.ndim}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"{path}: IDX sizes must be below 2**32, got {array.shape}")

    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_IDX_DTYPES[code], copy=False).tobytes(order="C")
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    with atomic_write(path) as f:
        f.write(payload)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------- MNIST


def load_mnist(
    folder: str | os.PathLike | None = None, *, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST test or training split from a folder of IDX files.

    The folder holds the standard files ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (``split="test"``) or
    ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``
    (``split="train"``); the names without ``.gz`` are used when the
    compressed file is absent. :func:`download_mnist` fetches them.

    Parameters
    ----------
    folder : str or os.PathLike, optional
        The folder. Default: the environment variable ``HEATMAPPING_DATA``.
    split : {"test", "train"}
        Which split to load (10,000 or 60,000 images).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 28, 28)
        Pixels 0 (black background) to 255 (ink); see :func:`to_input`.
    labels : numpy.ndarray of uint8, shape (N,)
        Digit classes 0..9.

    Raises
    ------
    ValueError
        If no folder is given and ``HEATMAPPING_DATA`` is unset, the split is
        unknown, or a file is not MNIST-shaped (message names the file).
    FileNotFoundError
        If a file is missing.
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if folder is None:
        folder = os.environ.get("HEATMAPPING_DATA")
        if not folder:
            raise ValueError(
                "no MNIST folder: pass folder=... or set the environment variable "
                "HEATMAPPING_DATA (download_mnist(folder) fetches the files)"
            )
    folder = Path(folder)
    images_path, labels_path = (_find_file(folder, stem) for stem in _MNIST_FILES[split])
    return _checked_pair(images_path, labels_path)


def _find_file(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"neither {stem}.gz nor {stem} found in {folder}")


def _checked_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST-style images and labels and check they belong together."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    if len(labels) != len(images):
        raise ValueError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if len(images) == 0:
        raise ValueError(f"{images_path}: the set is empty (0 images); expected at least one")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {labels.max()}")
    return images, labels


def download_mnist(
    folder: str | os.PathLike,
    *,
    base_url: str = DEFAULT_MIRROR,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the MNIST IDX files into a folder, verifying their SHA-256.

    Each file is streamed to a temporary file beside its destination, its
    SHA-256 checked, and only then moved into place (``os.replace``); on any
    failure (HTTP error, connection lost, checksum mismatch, Ctrl-C) the
    temporary file is removed. Files already present with the right checksum
    are not downloaded again; present with a wrong one, they are replaced.

    Parameters
    ----------
    folder : str or os.PathLike
        Destination folder, created if missing.
    base_url : str
        URL of a folder serving the files; each file is fetched from
        ``base_url + name``. Default :data:`DEFAULT_MIRROR`.
    checksums : dict of str to str, optional
        File name -> expected SHA-256 (hex) of the file as served; the keys
        are the files fetched. Default :data:`MNIST_GZ_SHA256`, the four
        official gzip files.
    progress : bool
        Print bytes received so far / total for each file.
    timeout : float
        Seconds to wait on the connection before giving up.

    Returns
    -------
    list of pathlib.Path
        The files, in the order of ``checksums``.

    Raises
    ------
    DownloadError
        Naming the file and what went wrong. Files completed before the
        failure stay.
    """
    checksums = MNIST_GZ_SHA256 if checksums is None else checksums
    if not (isinstance(checksums, dict) and checksums and all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in checksums.items())):
        raise TypeError(f"checksums: expected a dict {{file name: SHA-256 as 64 hex digits}}, "
                        f"got {checks.given(checksums)}")
    checks.number(timeout, "timeout", low=0, open_low=True)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--folder: {str(folder)!r} is a file; expected a folder "
                                 f"(it is created if missing)")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, expected in checksums.items():
        target = folder / name
        paths.append(target)
        if target.is_file() and _sha256_file(target) == expected.lower():
            if progress:
                print(f"{name}: already present, checksum verified")
            continue
        url = base_url.rstrip("/") + "/" + name
        _download_one(url, target, expected.lower(), progress, timeout)
    return paths


def _download_one(url: str, target: Path, expected: str, progress: bool, timeout: float) -> None:
    name = target.name
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(target) as f:
            total = response.headers.get("Content-Length")
            total = int(total) if total is not None else None
            digest, done = hashlib.sha256(), 0
            for block in iter(lambda: response.read(_CHUNK), b""):
                f.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    of_total = f" / {total:,}" if total is not None else ""
                    print(f"\r{name}: {done:,}{of_total} bytes", end="", flush=True)
            if progress:
                print()
            if total is not None and done != total:
                raise DownloadError(
                    f"{name}: connection ended after {done} of {total} bytes ({url})"
                )
            if digest.hexdigest() != expected:
                raise DownloadError(
                    f"{name}: SHA-256 mismatch, got {digest.hexdigest()}, expected {expected} "
                    f"({url}); the download was discarded"
                )
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{name}: HTTP {exc.code} {exc.reason} from {url}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"{name}: cannot reach {url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        # Time-outs, resets and IncompleteRead land here, after the temporary
        # file has been removed by atomic_write.
        raise DownloadError(f"{name}: download from {url} interrupted: {exc!r}") from exc


# ------------------------------------------------------------- embedded sample


def find_mnist(folder=None) -> Path | None:
    """The folder that holds the MNIST test set, or None.

    ``folder`` if given, else ``$HEATMAPPING_DATA`` if set (either one must hold the test
    set: a path given on purpose is never silently replaced), else the development copy at
    ``../shared/data/mnist`` beside the project's root if it is there.
    """
    def has_test_set(path: Path) -> bool:
        stem = path / _MNIST_FILES["test"][0]
        return stem.exists() or stem.with_name(stem.name + ".gz").exists()

    for given, what in ((folder, "folder, or --data on the command line"),
                        (os.environ.get("HEATMAPPING_DATA"), "$HEATMAPPING_DATA")):
        if given:
            if not has_test_set(Path(given)):
                raise FileNotFoundError(f"no MNIST test set ({_MNIST_FILES['test'][0]}[.gz]) in "
                                        f"{given} (from {what})")
            return Path(given)
    development = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"
    return development if has_test_set(development) else None


def load_test_digits(folder=None, *, verbose: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """Digits for tutorials and benchmarks: the MNIST test set if it can be found (see
    :func:`find_mnist`), else the embedded sample.

    The embedded sample is stored sorted by class; as a stand-in for the test set it is
    returned interleaved, classes 0, 1, ..., 9, 0, 1, ... (:func:`interleave_classes`), so that
    the first n digits cover the classes evenly, as a prefix of the test set does.

    Returns (images uint8 (N, 28, 28), labels uint8 (N,), a description of the source).
    """
    found = find_mnist(folder)
    if found is not None:
        images, labels = load_mnist(found)
        return images, labels, f"the MNIST test set in {found}"
    if verbose:
        print("MNIST test set not found: using the embedded 5,000 training digits instead")
    images, labels = load_mnist5k()
    order = interleave_classes(labels)
    return images[order], labels[order], "the embedded 5,000-digit sample"


def _labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TypeError(f"labels: expected a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}")
    return labels


def interleave_classes(labels: np.ndarray) -> np.ndarray:
    """An order of the samples that takes one of each class in turn: the first of every
    class (in class order), then the second of every class, and so on; within a class the
    original order is kept.  Returns indices (N,)."""
    labels = _labels(labels)
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]
    rank = np.empty(len(labels), dtype=np.intp)       # position of each sample in its class
    rank[order] = np.arange(len(labels)) - np.searchsorted(ranked, ranked)
    return np.lexsort((labels, rank))


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """Load the embedded sample: 5,000 MNIST training digits, 500 per class.

    The files ship in the project's ``data/`` folder (source, licence and
    checksums in ``data/README.md``), so this works without a network.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (5000, 28, 28)
        Pixels 0 (black background) to 255 (ink); see :func:`to_input`.
    labels : numpy.ndarray of uint8, shape (5000,)
        Digit classes 0..9.

    Raises
    ------
    FileNotFoundError
        If the project's ``data/`` folder is not beside the package (an
        install that is not editable).
    """
    folder = Path(__file__).resolve().parent.parent / "data"
    images_path = folder / "mnist5k-images-idx3-ubyte.gz"
    labels_path = folder / "mnist5k-labels-idx1-ubyte.gz"
    if not (images_path.is_file() and labels_path.is_file()):
        raise FileNotFoundError(
            f"embedded sample not found at {folder}; install the project with pip install -e"
        )
    return _checked_pair(images_path, labels_path)


# ------------------------------------------------------------ pixel convention


def to_input(images: np.ndarray, *, dtype=np.float64) -> np.ndarray:
    """Map uint8 pixels to the network input range [-1, 1].

    ``x = images / 127.5 - 1``: background 0 -> -1, full ink 255 -> 1. These
    are the box bounds ``l = -1``, ``h = 1`` of the zB rule (paper Sec. 5.1).

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (..., H, W)
        One image (H, W) or a stack, e.g. (N, 28, 28) or (N, 1, 28, 28).
    dtype : floating dtype
        Output dtype, float64 by default.

    Returns
    -------
    numpy.ndarray, same shape as ``images``
        Values in [-1, 1].

    Raises
    ------
    TypeError
        If ``images`` is not a uint8 array (float input would be scaled twice).
    ValueError
        If ``images`` has fewer than 2 dimensions or ``dtype`` is not floating.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(
            f"images: expected a uint8 array of pixels 0..255, got "
            f"{'dtype ' + str(images.dtype) if isinstance(images, np.ndarray) else checks.given(images)}"
        )
    if images.ndim < 2:
        raise ValueError(f"images: expected images of shape (..., H, W), got shape {images.shape}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating-point dtype, got {checks.given(dtype)}") from None
    if dtype.kind != "f":
        raise ValueError(f"dtype: expected a floating-point dtype, got {dtype}")
    return images.astype(dtype) / dtype.type(127.5) - dtype.type(1)


def pad_images(x: np.ndarray, pad: int, value: float = -1.0) -> np.ndarray:
    """Pad the last two axes (height, width) by ``pad`` pixels on every side.

    The CNN takes 32 x 32 inputs: the 28 x 28 digits padded by 2 with the
    background value -1 of :func:`to_input`.

    Parameters
    ----------
    x : numpy.ndarray of floats, shape (..., H, W)
        Images in the network's input range.
    pad : int
        Pixels added on each side, >= 0.
    value : float
        Fill value, the background -1 by default.

    Returns
    -------
    numpy.ndarray, shape (..., H + 2 pad, W + 2 pad)
        Same dtype as ``x``.
    """
    x = checks.floats(x, "x", min_ndim=2)
    pad = checks.integer(pad, "pad", low=0)
    value = checks.number(value, "value")
    widths = [(0, 0)] * (x.ndim - 2) + [(pad, pad)] * 2
    return np.pad(x, widths, mode="constant", constant_values=value)


def class_counts(labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Count the examples of each class.

    Parameters
    ----------
    labels : numpy.ndarray of ints, shape (N,)
        Classes in 0 .. n_classes - 1.
    n_classes : int
        Number of classes.

    Returns
    -------
    numpy.ndarray of int64, shape (n_classes,)
        ``counts[k]`` is the number of labels equal to ``k``.
    """
    labels = _labels(labels)
    n_classes = checks.integer(n_classes, "n_classes", low=1)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels: expected classes in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return np.bincount(labels, minlength=n_classes).astype(np.int64)
