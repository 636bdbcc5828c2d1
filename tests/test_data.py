"""Tests of heatmapping.data: IDX files, MNIST loading and download, the
embedded sample, and the pixel convention.

Downloads are tested against an HTTP server on 127.0.0.1 that the tests start
themselves; nothing here touches any other address.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from heatmapping import data
from heatmapping.data import (
    DownloadError,
    class_counts,
    download_mnist,
    load_mnist,
    load_mnist5k,
    pad_images,
    read_idx,
    to_input,
    write_idx,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]

SHARED_RAW_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "40690cbaf880de37dff90eadffd324fc94be14f501ffcfe1c6198e677e625f82",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SHARED_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

IDX_DTYPES = ["u1", "i1", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8"]
SMALL_SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


def leftovers(folder: Path) -> list[str]:
    """Temporary files the atomic writers might have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def fake_mnist(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


# ------------------------------------------------------------------------- IDX


@settings(deadline=None)
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), SMALL_SHAPES)
    ),
    compress=st.booleans(),
)
def test_idx_round_trip_is_exact_for_every_type_code_and_rank(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("="), "read_idx must return native byte order"
    # Bit-exact, NaN payloads and signed zeros included.
    assert back.astype(array.dtype).tobytes() == array.tobytes()


def test_read_idx_parses_a_hand_written_file_and_write_idx_writes_the_same_bytes(tmp_path):
    # magic 0 0 0x0B(int16) 2, sizes 2 and 3, then six big-endian int16.
    raw = b"\x00\x00\x0b\x02" + struct.pack(">II", 2, 3) + struct.pack(">6h", -3, -2, -1, 0, 1, 300)
    (tmp_path / "hand.idx").write_bytes(raw)
    expected = np.array([[-3, -2, -1], [0, 1, 300]], dtype=np.int16)
    np.testing.assert_array_equal(read_idx(tmp_path / "hand.idx"), expected)
    write_idx(tmp_path / "ours.idx", expected)
    assert (tmp_path / "ours.idx").read_bytes() == raw


def test_read_idx_detects_gzip_by_magic_bytes_not_by_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "packed.raw", a, compress=True)
    write_idx(tmp_path / "plain.gz", a, compress=False)
    assert (tmp_path / "packed.raw").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "plain.gz").read_bytes()[:4] == b"\x00\x00\x08\x02"
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.raw"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), a)


def test_write_idx_compresses_by_suffix_and_deterministically(tmp_path):
    a = np.arange(1000, dtype=np.int32)
    write_idx(tmp_path / "one.gz", a)
    first = (tmp_path / "one.gz").read_bytes()
    write_idx(tmp_path / "one.gz", a)
    assert (tmp_path / "one.gz").read_bytes() == first, "same array must give the same bytes"
    assert first[:2] == b"\x1f\x8b" and first[4:8] == b"\x00\x00\x00\x00", "gzip mtime must be 0"


GOOD_HEADER = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3)
BAD_FILES = {
    "empty file": (b"", "not an IDX file"),
    "nonzero first byte": (b"\x01" + GOOD_HEADER[1:] + bytes(6), "not an IDX file"),
    "nonzero second byte": (b"\x00\x01" + GOOD_HEADER[2:] + bytes(6), "not an IDX file"),
    "unknown type code": (b"\x00\x00\x07\x02" + GOOD_HEADER[4:] + bytes(6), "type code 0x07"),
    "header cut short": (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
    "too few data bytes": (GOOD_HEADER + bytes(5), "truncated: 5 data bytes"),
    "trailing bytes": (GOOD_HEADER + bytes(6) + b"junk", "4 trailing bytes"),
    "type code needs more bytes": (b"\x00\x00\x0c\x02" + GOOD_HEADER[4:] + bytes(6), "truncated"),
}


@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("content,message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_read_idx_rejects_malformed_files_naming_the_file(tmp_path, content, message, gzipped):
    path = tmp_path / "broken-file.idx"
    path.write_bytes(gzip.compress(content) if gzipped else content)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        read_idx(path)
    assert "broken-file.idx" in str(info.value)


def test_read_idx_rejects_a_corrupt_gzip_stream_naming_the_file(tmp_path):
    packed = gzip.compress(GOOD_HEADER + bytes(6))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("dtype", ["i8", "u2", "bool", "c16"])
def test_write_idx_rejects_dtypes_without_an_idx_type_code(tmp_path, dtype):
    with pytest.raises(ValueError, match=f"array: IDX cannot store dtype {np.dtype(dtype)}.*out.idx"):
        write_idx(tmp_path / "out.idx", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []


def test_write_idx_failure_leaves_no_temporary_file(tmp_path):
    # os.replace cannot put a file over a non-empty directory: a real failure
    # after the temporary file was fully written.
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep").write_text("x")
    with pytest.raises(OSError):
        write_idx(tmp_path / "target", np.zeros(4, dtype=np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_write_idx_interrupted_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.idx.gz"
    write_idx(path, np.ones(5, dtype=np.uint8))
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        write_idx(path, np.zeros(5, dtype=np.uint8))
    assert path.read_bytes() == before, "a failed write must not touch the existing file"
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------- MNIST


def write_fake_split(folder: Path, images, labels, *, split="test", gz=True) -> None:
    stem = {"test": "t10k", "train": "train"}[split]
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", images, compress=gz)
    write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", labels, compress=gz)


def test_load_mnist_reads_the_real_test_set_bit_exactly(mnist_folder):
    images, labels = load_mnist(mnist_folder, split="test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert class_counts(labels).tolist() == SHARED_CLASS_COUNTS
    # Rebuild each uncompressed file from what load_mnist returned: its
    # SHA-256 must be the one recorded for the shared files.
    rebuilt = {
        "t10k-images-idx3-ubyte.gz": b"\x00\x00\x08\x03"
        + struct.pack(">III", 10000, 28, 28)
        + images.tobytes(),
        "t10k-labels-idx1-ubyte.gz": b"\x00\x00\x08\x01"
        + struct.pack(">I", 10000)
        + labels.tobytes(),
    }
    for name, raw in rebuilt.items():
        got = hashlib.sha256(raw).hexdigest()
        assert got == SHARED_RAW_SHA256[name], f"{name} not read exactly"


def test_load_mnist_uses_heatmapping_data_when_no_folder_is_given(tmp_path, monkeypatch):
    images, labels = fake_mnist(7, np.random.default_rng(0))
    write_fake_split(tmp_path, images, labels, split="train")
    monkeypatch.setenv("HEATMAPPING_DATA", str(tmp_path))
    got_images, got_labels = load_mnist(split="train")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_load_mnist_without_folder_or_environment_variable_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("HEATMAPPING_DATA", raising=False)
    with pytest.raises(ValueError, match="HEATMAPPING_DATA"):
        load_mnist()


def test_a_given_mnist_folder_is_never_silently_replaced(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.delenv("HEATMAPPING_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no MNIST test set .* in .*nowhere \(from folder, or --data on the command line\)"):
        data.load_test_digits(missing)
    monkeypatch.setenv("HEATMAPPING_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match=r"nowhere \(from \$HEATMAPPING_DATA\)"):
        data.load_test_digits()
    images, labels = fake_mnist(4, np.random.default_rng(0))
    write_fake_split(tmp_path, images, labels)
    assert data.find_mnist(tmp_path) == tmp_path
    got, _, source = data.load_test_digits(tmp_path)
    np.testing.assert_array_equal(got, images)
    assert str(tmp_path) in source


def test_load_mnist_falls_back_to_uncompressed_names(tmp_path):
    images, labels = fake_mnist(3, np.random.default_rng(1))
    write_fake_split(tmp_path, images, labels, gz=False)
    got_images, got_labels = load_mnist(tmp_path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_load_mnist_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")


rng = np.random.default_rng(2)
GOOD_IMAGES, GOOD_LABELS = fake_mnist(4, rng)
BAD_PAIRS = {
    "images 27x28": (GOOD_IMAGES[:, 1:], GOOD_LABELS, "t10k-images"),
    "images 2-D": (GOOD_IMAGES.reshape(4, 784), GOOD_LABELS, "t10k-images"),
    "images int16": (GOOD_IMAGES.astype(np.int16), GOOD_LABELS, "t10k-images"),
    "labels 2-D": (GOOD_IMAGES, GOOD_LABELS.reshape(2, 2), "t10k-labels"),
    "labels int32": (GOOD_IMAGES, GOOD_LABELS.astype(np.int32), "t10k-labels"),
    "label 10": (GOOD_IMAGES, np.array([0, 1, 10, 2], dtype=np.uint8), "t10k-labels"),
    "count mismatch": (GOOD_IMAGES, GOOD_LABELS[:3], "t10k-labels"),
}


@pytest.mark.parametrize("images,labels,culprit", BAD_PAIRS.values(), ids=BAD_PAIRS.keys())
def test_load_mnist_rejects_non_mnist_content_naming_the_file(tmp_path, images, labels, culprit):
    write_fake_split(tmp_path, images, labels)
    with pytest.raises(ValueError, match=culprit):
        load_mnist(tmp_path)


# -------------------------------------------------------------------- download


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes); names in ``server.cut`` are
    announced at full length but cut off halfway, like a dropped connection."""

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(name)
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if name in self.server.cut else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path_factory):
    """An HTTP server on 127.0.0.1 (a free port) serving four small IDX files
    under the official MNIST names, made with write_idx."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.requests, httpd.cut, httpd.files = [], set(), {}
    served = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(3)
    write_fake_split(served, *fake_mnist(6, rng), split="train")
    write_fake_split(served, *fake_mnist(4, rng), split="test")
    httpd.files = {p.name: p.read_bytes() for p in sorted(served.iterdir())}
    httpd.checksums = {name: hashlib.sha256(b).hexdigest() for name, b in httpd.files.items()}
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_fetches_verifies_and_then_skips_present_files(tmp_path, server, capsys):
    folder = tmp_path / "new" / "mnist"
    paths = download_mnist(folder, base_url=server.url, checksums=server.checksums, timeout=5)
    assert [p.name for p in paths] == list(server.checksums)
    for path in paths:
        assert path.read_bytes() == server.files[path.name]
    assert "bytes" in capsys.readouterr().out, "progress must be printed"
    images, labels = load_mnist(folder, split="train")
    assert images.shape == (6, 28, 28) and labels.shape == (6,)

    server.requests.clear()
    download_mnist(folder, base_url=server.url, checksums=server.checksums, timeout=5)
    assert server.requests == [], "files with the right checksum must not be fetched again"
    assert leftovers(folder) == []


def test_download_replaces_a_present_file_whose_checksum_is_wrong(tmp_path, server):
    name = "t10k-labels-idx1-ubyte.gz"
    (tmp_path / name).write_bytes(b"stale")
    download_mnist(tmp_path, base_url=server.url, checksums={name: server.checksums[name]},
                   progress=False, timeout=5)
    assert (tmp_path / name).read_bytes() == server.files[name]
    assert server.requests == [name]


def test_download_with_wrong_checksum_raises_and_leaves_nothing(tmp_path, server):
    name = "t10k-images-idx3-ubyte.gz"
    with pytest.raises(DownloadError, match=f"{name}.*SHA-256 mismatch"):
        download_mnist(
            tmp_path, base_url=server.url, checksums={name: "0" * 64}, progress=False, timeout=5
        )
    assert list(tmp_path.iterdir()) == []


def test_download_of_a_missing_file_reports_404_and_leaves_nothing(tmp_path, server):
    with pytest.raises(DownloadError, match=r"no-such-file\.gz: HTTP 404"):
        download_mnist(tmp_path, base_url=server.url, checksums={"no-such-file.gz": "0" * 64},
                       progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_download_cut_off_midway_raises_and_leaves_nothing(tmp_path, server):
    name = "train-images-idx3-ubyte.gz"
    server.cut.add(name)
    with pytest.raises(DownloadError, match=name):
        download_mnist(tmp_path, base_url=server.url, checksums={name: server.checksums[name]},
                       progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_download_keeps_files_completed_before_a_failure(tmp_path, server):
    good = "t10k-labels-idx1-ubyte.gz"
    checksums = {good: server.checksums[good], "t10k-images-idx3-ubyte.gz": "0" * 64}
    with pytest.raises(DownloadError, match="t10k-images-idx3-ubyte.gz"):
        download_mnist(
            tmp_path, base_url=server.url, checksums=checksums, progress=False, timeout=5
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [good]


def test_official_checksums_are_sha256_of_the_four_mnist_files():
    official = {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert set(data.MNIST_GZ_SHA256) == official
    assert all(re.fullmatch("[0-9a-f]{64}", h) for h in data.MNIST_GZ_SHA256.values())
    assert data.DEFAULT_MIRROR.startswith("https://") and data.DEFAULT_MIRROR.endswith("/")


# ------------------------------------------------------------- embedded sample


def test_embedded_sample_files_have_the_recorded_sha256():
    for name, expected in data.MNIST5K_SHA256.items():
        got = hashlib.sha256((PROJECT_ROOT / "data" / name).read_bytes()).hexdigest()
        assert got == expected, f"data/{name} changed: SHA-256 {got}"


def test_data_readme_records_the_same_sha256_as_the_module():
    readme = (PROJECT_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"`(mnist5k-[\w-]+\.gz)`[^\n]*`([0-9a-f]{64})`", readme))
    assert recorded == data.MNIST5K_SHA256


def test_load_mnist5k_gives_5000_upright_digits_500_per_class():
    images, labels = load_mnist5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert class_counts(labels).tolist() == [500] * 10
    # MNIST digits are centred in a 20x20 box: the 4-pixel border is nearly
    # empty, so a transposed or shifted reshape would show up here too.
    border = images.copy()
    border[:, 4:24, 4:24] = 0
    assert border.mean() < 0.05 * images.mean()
    # A "1" is taller than wide; transposed images would be wider than tall.
    ones = images[labels == 1] > 127
    assert ones.any(axis=2).sum(axis=1).mean() > 2 * ones.any(axis=1).sum(axis=1).mean()


# ------------------------------------------------------------ pixel convention


def test_to_input_maps_every_pixel_value_by_the_formula():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x = to_input(pixels)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x.ravel(), np.arange(256) / 127.5 - 1.0)
    assert x[0, 0] == -1.0 and x[-1, -1] == 1.0, "background must be exactly -1, full ink exactly 1"


def test_to_input_honours_dtype_and_keeps_the_shape():
    x = to_input(np.full((2, 1, 28, 28), 255, dtype=np.uint8), dtype=np.float32)
    assert x.dtype == np.float32 and x.shape == (2, 1, 28, 28)
    assert np.all(x == 1.0)


@pytest.mark.parametrize(
    "images,error",
    [
        (np.zeros((28, 28), dtype=np.float64), TypeError),
        (np.zeros((28, 28), dtype=np.int64), TypeError),
        ([[0, 255]], TypeError),
        (np.zeros(784, dtype=np.uint8), ValueError),
    ],
    ids=["float", "int64", "list", "1-D"],
)
def test_to_input_rejects_non_uint8_or_non_image_input(images, error):
    with pytest.raises(error, match="images: expected"):
        to_input(images)


def test_to_input_rejects_an_integer_output_dtype():
    with pytest.raises(ValueError, match="floating"):
        to_input(np.zeros((2, 2), dtype=np.uint8), dtype=np.int32)


def test_pad_images_pads_only_the_last_two_axes_with_background():
    x = to_input(np.random.default_rng(4).integers(0, 256, (3, 1, 28, 28), dtype=np.uint8))
    padded = pad_images(x, 2)
    assert padded.shape == (3, 1, 32, 32) and padded.dtype == x.dtype
    np.testing.assert_array_equal(padded[..., 2:30, 2:30], x)
    ring = np.ones((32, 32), dtype=bool)
    ring[2:30, 2:30] = False
    assert np.all(padded[..., ring] == -1.0)
    assert np.all(pad_images(x, 1, value=0.5)[..., 0, :] == 0.5)


@pytest.mark.parametrize(
    "x,pad,error",
    [
        (np.zeros((28, 28)), -1, ValueError),
        (np.zeros((28, 28)), 1.5, TypeError),
        (np.zeros(28), 2, ValueError),
        (np.zeros((28, 28), dtype=np.uint8), 2, TypeError),
    ],
    ids=["negative pad", "fractional pad", "1-D", "uint8"],
)
def test_pad_images_rejects_bad_input(x, pad, error):
    with pytest.raises(error, match="^(x|pad): expected"):
        pad_images(x, pad)


def test_class_counts_counts_each_class_and_rejects_out_of_range():
    counts = class_counts(np.array([0, 2, 2, 9], dtype=np.uint8))
    assert counts.tolist() == [1, 0, 2, 0, 0, 0, 0, 0, 0, 1]
    assert class_counts(np.array([1, 1], dtype=np.int64), n_classes=3).tolist() == [0, 2, 0]
    with pytest.raises(ValueError, match="0..9"):
        class_counts(np.array([3, 10]))
    with pytest.raises(TypeError, match="labels: expected a 1-D integer array, got dtype float64"):
        class_counts(np.array([0.0, 1.0]))


def test_interleave_classes_takes_one_of_each_class_in_turn():
    labels = np.array([2, 0, 0, 1, 2, 0, 1])
    order = data.interleave_classes(labels)
    assert labels[order].tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert order.tolist() == [1, 3, 0, 2, 6, 4, 5]          # within a class, the stored order
    assert sorted(order.tolist()) == list(range(7))
