"""heatmapping.safetensors: files exchanged with the reference implementation (the
``safetensors`` package) both ways, exactly; the shipped models' parameters; random tensors
(hypothesis); one corrupt file per rule of the format; atomic writing."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy as reference          # the reference implementation, a test extra
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from heatmapping import models
from heatmapping.safetensors import DTYPES, MAX_HEADER_BYTES, load, save

#: the dtypes that both this module and the reference's NumPy API hold
NUMPY_DTYPES = [np.dtype(d).newbyteorder("=") for d in DTYPES.values()]


def assert_same_tensors(expected: dict, actual: dict) -> None:
    """Same names, dtypes, shapes and bytes (so NaN payloads and -0.0 count too)."""
    assert sorted(actual) == sorted(expected), "the names differ"
    for name, want in expected.items():
        got = actual[name]
        assert (got.dtype, got.shape) == (want.dtype, want.shape), \
            f"{name}: {got.dtype}{got.shape} read, {want.dtype}{want.shape} written"
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), f"{name}: the values differ"


def every_dtype(rng) -> dict:
    """One tensor of each dtype, of varied shapes, plus a 0-d and an empty tensor."""
    tensors = {f"t_{d.name}": rng.standard_normal((2, 3, 4)).astype(d)
               for d in NUMPY_DTYPES if d.kind == "f"}
    tensors.update({f"t_{d.name}": rng.integers(np.iinfo(d).min, np.iinfo(d).max, (3, 4),
                                                dtype=d, endpoint=True)
                    for d in NUMPY_DTYPES if d.kind in "iu"})
    tensors["mask"] = rng.random((5,)) > 0.5
    tensors["scalar"] = np.array(3.25)
    tensors["empty"] = np.zeros((0, 7), dtype=np.float32)
    tensors["nested.name/with unicode é"] = np.arange(6, dtype=np.int64).reshape(3, 2)
    return tensors


# --------------------------------------------------------------------------------------------
def test_files_of_the_reference_writer_are_read_exactly(tmp_path, rng):
    tensors = every_dtype(rng)
    reference.save_file(tensors, str(tmp_path / "ref.safetensors"), metadata={"format": "pt"})
    got, metadata = load(tmp_path / "ref.safetensors", with_metadata=True)
    assert_same_tensors(tensors, got)
    assert metadata == {"format": "pt"}


def test_files_written_here_are_read_exactly_by_the_reference(tmp_path, rng):
    tensors = every_dtype(rng)
    path = save(tmp_path / "ours.safetensors", tensors, metadata={"epochs": "40", "": "empty key"})
    assert_same_tensors(tensors, reference.load_file(str(path)))
    with open(path, "rb") as f:                  # the reference's API gives metadata through torch
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert header["__metadata__"] == {"epochs": "40", "": "empty key"}


def test_the_layout_is_sorted_little_endian_c_order_with_a_header_padded_to_8(tmp_path):
    big_endian = np.array([1, 2], dtype=">i4")
    fortran = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    path = save(tmp_path / "l.safetensors", {"b": big_endian, "a": fortran})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert list(header) == ["a", "b"]
    assert header["a"] == {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]}
    assert header["b"] == {"dtype": "I32", "shape": [2], "data_offsets": [48, 56]}
    assert raw[8 + n:] == np.arange(6.0).astype("<f8").tobytes() + b"\x01\0\0\0\x02\0\0\0"


@pytest.mark.parametrize("length", range(1, 9))
def test_the_header_is_padded_with_spaces_to_a_multiple_of_8(length, tmp_path):
    """The name's length varies the JSON's length over all 8 remainders."""
    raw = save(tmp_path / "p.safetensors", {"w" * length: np.zeros(1)}).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    text = raw[8:8 + n]
    assert n % 8 == 0, f"the header of {n} bytes is not padded to a multiple of 8"
    assert text.rstrip(b" ").endswith(b"}") and len(text) - len(text.rstrip(b" ")) < 8, text


def test_arrays_read_are_writable_and_in_native_byte_order(tmp_path):
    path = save(tmp_path / "w.safetensors", {"w": np.array([1.5, 2.5], dtype=">f4")})
    w = load(path)["w"]
    assert w.flags.writeable and w.dtype == np.dtype("=f4")
    w[0] = 7
    assert load(path)["w"][0] == 1.5


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_the_shipped_models_parameters_round_trip_exactly(name, tmp_path):
    net = models.load_model(name)
    tensors = {f"{i}.{k}": v for i, layer in enumerate(net.layers)
               for k, v in layer.params().items()}
    path = save(tmp_path / f"{name}.safetensors", tensors)
    assert_same_tensors(tensors, load(path))
    assert_same_tensors(tensors, reference.load_file(str(path)))


# --------------------------------------------------------------------------------------------
# a bfloat16 is the upper half of a float32: 0x3F80 -> 1.0, 0xC020 -> -2.5, 0x7F80 -> inf

def raw_file(header, buffer: bytes = b"", n: int | None = None) -> bytes:
    """A file with ``header`` (dict, or bytes as they are) and ``buffer``; ``n`` overrides the
    header length written in the first 8 bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(text) if n is None else n).to_bytes(8, "little") + text + buffer


def test_bf16_is_read_into_float32_exactly(tmp_path):
    bits = np.array([0x3F80, 0xC020, 0x7F80, 0x0000, 0x3E20], dtype="<u2")
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(raw_file({"h": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}},
                              bits.tobytes()))
    h = load(path)["h"]
    assert h.dtype == np.float32
    np.testing.assert_array_equal(h, [1.0, -2.5, np.inf, 0.0, 0.15625])


# --------------------------------------------------------------------------------------------
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda s: s != "__metadata__")
tensors_strategy = st.dictionaries(
    names, hnp.arrays(dtype=st.sampled_from(NUMPY_DTYPES),
                      shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    max_size=5)


@settings(max_examples=500)
@given(tensors=tensors_strategy,
       metadata=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_random_tensors_survive_both_writers_and_both_readers(tensors, metadata):
    with tempfile.TemporaryDirectory() as folder:
        ours = save(Path(folder) / "ours.safetensors", tensors, metadata=metadata)
        got, got_metadata = load(ours, with_metadata=True)
        assert_same_tensors(tensors, got)
        assert got_metadata == (metadata or {})
        assert_same_tensors(tensors, reference.load_file(str(ours)))
        if not tensors and metadata == {}:
            return      # safetensors 0.8.0 writes the invalid header '{},"__metadata__":{}}' then
        theirs = Path(folder) / "theirs.safetensors"
        reference.save_file(tensors, str(theirs), metadata=metadata)
        assert_same_tensors(tensors, load(theirs))


# --------------------------------------------------------------------------------------------
def entry(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


#: one corrupt file per rule of the format: id -> (file bytes, what the message must say)
CORRUPT = {
    "shorter than 8 bytes": (
        b"\x10\0\0", r"shorter than the 8-byte header length"),
    "header length over the limit": (
        raw_file({}, n=MAX_HEADER_BYTES + 1), r"header length 100,000,001 bytes exceeds the limit"),
    "header length beyond the file": (
        raw_file({}, n=1000), r"beyond the end of the file"),
    "header not UTF-8": (
        raw_file(b'{"w\xff": 1}'), r"not valid UTF-8"),
    "header not JSON": (
        raw_file(b'{"w": '), r"not valid JSON"),
    "header nested too deep": (
        raw_file(b'{"w": ' + b"[" * 100_000), r"not valid JSON"),
    "header not an object": (
        raw_file(b"[1, 2]"), r"must be a JSON object, got list"),
    "name given twice": (
        raw_file(b'{"w": {}, "w": {}}'), r"names 'w' twice"),
    "empty name": (
        raw_file({"": entry()}, bytes(4)), r"a tensor has an empty name"),
    "entry not an object": (
        raw_file({"w": [0, 4]}), r"tensor 'w': expected an object"),
    "entry misses a key": (
        raw_file({"w": {"dtype": "F32", "shape": [1]}}, bytes(4)),
        r"tensor 'w': .*missing \['data_offsets'\]"),
    "entry has an extra key": (
        raw_file({"w": {**entry(), "offset": 0}}, bytes(4)),
        r"tensor 'w': .*unexpected \['offset'\]"),
    "unknown dtype": (
        raw_file({"w": entry(dtype="F128")}, bytes(4)),
        r"tensor 'w': unknown or unsupported dtype 'F128'"),
    "8-bit float dtype": (
        raw_file({"w": entry(dtype="F8_E4M3", offsets=(0, 1))}, bytes(1)),
        r"tensor 'w': unknown or unsupported dtype 'F8_E4M3'"),
    "negative dimension": (
        raw_file({"w": entry(shape=(-1,))}, bytes(4)),
        r"tensor 'w': shape must be a list of non-negative integers, got \[-1\]"),
    "float dimension": (
        raw_file({"w": entry(shape=(1.0,))}, bytes(4)),
        r"tensor 'w': shape must be .* got \[1.0\]"),
    "shape not a list": (
        raw_file({"w": {**entry(), "shape": 1}}, bytes(4)),
        r"tensor 'w': shape must be a list"),
    "offsets reversed": (
        raw_file({"w": entry(offsets=(4, 0))}, bytes(4)),
        r"tensor 'w': data_offsets must be two integers 0 <= begin <= end, got \[4, 0\]"),
    "three offsets": (
        raw_file({"w": {**entry(), "data_offsets": [0, 4, 8]}}, bytes(4)),
        r"tensor 'w': data_offsets must be two integers"),
    "byte count not the shape's": (
        raw_file({"w": entry(shape=(3,), offsets=(0, 8))}, bytes(8)),
        r"tensor 'w': data_offsets \[0, 8\] span 8 bytes, but shape \[3\] of F32 needs 12"),
    "offsets beyond the buffer": (
        raw_file({"w": entry(shape=(4,), offsets=(0, 16))}, bytes(8)),
        r"tensor 'w': data_offsets \[0, 16\] reach beyond the 8-byte buffer"),
    "overlapping tensors": (
        raw_file({"a": entry(shape=(2,), offsets=(0, 8)),
                  "b": entry(shape=(2,), offsets=(4, 12))}, bytes(12)),
        r"tensor 'b' \(bytes 4..12\) overlaps tensor 'a'"),
    "hole between tensors": (
        raw_file({"a": entry(), "b": entry(offsets=(8, 12))}, bytes(12)),
        r"bytes 4..8 of the buffer belong to no tensor \(a hole before tensor 'b'\)"),
    "trailing bytes": (
        raw_file({"a": entry()}, bytes(8)),
        r"bytes 4..8 at the end of the buffer belong to no tensor"),
    "metadata value not a string": (
        raw_file({"__metadata__": {"epochs": 40}}),
        r"__metadata__ value of 'epochs' must be a string, got 40"),
    "metadata not an object": (
        raw_file({"__metadata__": "pt"}),
        r"__metadata__ must be an object of strings, got str"),
    "BOOL byte other than 0 and 1": (
        raw_file({"m": entry(dtype="BOOL", shape=(4,))}, b"\x01\x02\x00\x01"),
        r"tensor 'm': BOOL bytes must be 0 or 1, found 2"),
}


@pytest.mark.parametrize("raw, message", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_file_is_refused_naming_the_file_and_the_fault(raw, message, tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=message) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: "), f"the file is not named: {error.value}"


@pytest.mark.parametrize("case", ["byte count not the shape's", "offsets beyond the buffer",
                                  "overlapping tensors", "hole between tensors", "trailing bytes",
                                  "metadata value not a string"])
def test_the_reference_reader_refuses_the_same_layouts(case):
    """Our rules on the buffer are the format's, not stricter ones of our own."""
    from safetensors import SafetensorError
    with pytest.raises(SafetensorError):
        reference.load(CORRUPT[case][0])


def test_a_well_formed_hand_written_file_passes_every_check(tmp_path):
    """The corrupt files above differ from this one in one field each."""
    path = tmp_path / "good.safetensors"
    path.write_bytes(raw_file({"__metadata__": {"k": "v"}, "a": entry(), "b": entry(offsets=(4, 8)),
                               "m": entry(dtype="BOOL", shape=(4,), offsets=(8, 12))},
                              np.array([1.0, 2.0], "<f4").tobytes() + b"\x01\x00\x00\x01"))
    tensors, metadata = load(path, with_metadata=True)
    assert metadata == {"k": "v"}
    path.write_bytes(raw_file({"__metadata__": None, "a": entry()}, bytes(4)))
    assert load(path, with_metadata=True)[1] == {}, "a null __metadata__ is no metadata"
    assert tensors["a"][0] == 1 and tensors["b"][0] == 2
    np.testing.assert_array_equal(tensors["m"], [True, False, False, True])


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tensors, error, message", [
    ({"z": np.ones(2, dtype=np.complex128)}, TypeError, r"tensor 'z' has dtype complex128"),
    ({"o": np.array([None])}, TypeError, r"tensor 'o' has dtype object"),
    ({"l": np.ones(2, dtype=np.longdouble)}, TypeError, r"tensor 'l' has dtype float128"),
    ({"": np.ones(2)}, ValueError, r"non-empty strings, got ''"),
    ({"__metadata__": np.ones(2)}, ValueError, r"'__metadata__' is reserved"),
], ids=["complex", "object", "long double", "empty name", "reserved name"])
def test_writing_refuses_what_the_format_cannot_hold(tensors, error, message, tmp_path):
    if np.dtype(np.longdouble).itemsize == 8:
        message = message.replace("float128", "float64")     # no long double on this platform
    with pytest.raises(error, match=message):
        save(tmp_path / "x.safetensors", tensors)
    assert list(tmp_path.iterdir()) == []


def test_writing_refuses_metadata_that_is_not_strings(tmp_path):
    with pytest.raises(TypeError, match=r"metadata must map strings to strings, got 'epochs': 40"):
        save(tmp_path / "x.safetensors", {"w": np.ones(2)}, metadata={"epochs": 40})


def test_a_failed_overwrite_keeps_the_old_file_and_leaves_no_part(tmp_path, fill_disk):
    """As files.atomic_write: the disk fills up after 100 bytes, the old file survives."""
    path = save(tmp_path / "m.safetensors", {"w": np.arange(4.0)})
    old = path.read_bytes()
    fill_disk()
    with pytest.raises(OSError, match="No space left"):
        save(path, {"w": np.zeros(100)})
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_an_overwrite_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = save(tmp_path / "m.safetensors", {"w": np.arange(4.0)})
    os.chmod(path, 0o640)
    save(path, {"v": np.ones(3)})
    assert sorted(load(path)) == ["v"]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
