"""Writing files atomically (a failure never leaves a half-written file behind), and the
.npz format of the fitted estimators (RBM, VAE)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "check_output", "staged_folder", "write_npz", "read_npz", "save_estimator",
           "read_estimator"]


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file that replaces ``path`` only if the ``with`` block succeeds.

    The bytes go to a temporary file beside ``path`` (``os.replace`` is atomic only within one
    file system), which is flushed to disk (``fsync``) and renamed to ``path`` at the end, so
    readers see either the old file or the complete new one, also after a crash.  On any
    exception the temporary file is removed and the exception propagates.

    * A symbolic link is followed: its target is written and the link stays a link.
    * An existing file keeps its permission bits; a new one gets mode 0o666 less the umask
      (the user's usual permissions, unlike the 0600 of ``tempfile.mkstemp``).
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    mode = os.stat(path).st_mode & 0o7777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output(path, *, flag: str, suffix: str | None = None, force: bool = False) -> Path:
    """Check an output path before any work is done: it has a name, its folder exists and is
    writable, it is not a folder, its extension is ``suffix`` (e.g. ".png"), and it does not
    exist unless ``force``.  Errors name the command-line ``flag`` and the user's path."""
    text = str(path)
    if not text.strip():
        raise ValueError(f"{flag}: expected a file name, got {text!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag}: {text!r} is a folder; expected a file name")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{flag}: expected a {suffix} file, got {text!r}")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{flag}: the folder {folder} of {text!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{flag}: the folder {folder} of {text!r} is not writable")
    if path.exists() and not force:
        raise FileExistsError(f"{flag}: {text!r} exists; pass --force to replace it")
    return path


@contextlib.contextmanager
def staged_folder(path, *, last: str | None = None):
    """Yield an empty temporary folder beside ``path``; if the ``with`` block succeeds, move
    every file written there into ``path`` (created if missing), ``last`` last, and remove it.

    Files move one by one with ``os.replace`` (atomic each), so a reader of ``path`` sees each
    file old or complete, and the file named ``last`` (e.g. the page that links the others)
    appears only once all the others are in place.  On any exception the temporary folder
    and everything in it are removed and ``path`` is left as it was.  Other files already in
    ``path`` are kept.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    tmp.mkdir()
    try:
        yield tmp
        path.mkdir(exist_ok=True)
        names = sorted(p.name for p in tmp.iterdir())
        if last in names:
            names.remove(last)
            names.append(last)
        for name in names:
            os.replace(tmp / name, path / name)
        tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_npz(path, arrays: dict) -> Path:
    """Write named arrays to a compressed .npz at ``path``, atomically; returns the path.

    The bytes depend only on the arrays (numpy writes no time stamps of its own into them).
    """
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = Path(path)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path


def read_npz(path, *, what: str) -> dict:
    """All arrays of an .npz file; a corrupt or foreign file gets a ``ValueError`` naming the
    file (``what`` says what it should have been, e.g. "model"), a missing one
    ``FileNotFoundError``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except Exception as e:  # zip, zlib and format errors all mean the same to a user
        raise ValueError(f"{path}: not a readable {what} file ({type(e).__name__}: {e})") from e


def save_estimator(path, estimator, *, kind: str, version: int, arrays: dict,
                   metadata: dict | None = None) -> Path:
    """Write a fitted estimator to ``path`` (.npz): its ``arrays`` and a JSON header with its
    kind, format version, hyper-parameters (``get_params()`` without ``verbose``), training
    history and ``metadata``.  No time stamps, so the same model always gives the same bytes
    (a checksum identifies it); written atomically."""
    # verbose is left out: how training talked does not change the model or its bytes
    params = {k: v for k, v in estimator.get_params().items() if k != "verbose"}
    header = {"kind": kind, "format_version": version, "params": params,
              "history": getattr(estimator, "history_", []), "metadata": metadata or {}}
    return write_npz(path, {"header": np.array(json.dumps(header)), **arrays})


def read_estimator(path, *, kind: str, version: int, what: str) -> tuple[dict, dict]:
    """Read a file written by :func:`save_estimator`: (header, arrays).  A missing file raises
    ``FileNotFoundError``; a corrupt one, another kind or another format version a
    ``ValueError`` naming the file (``what`` names the model in messages, e.g. "RBM")."""
    arrays = read_npz(path, what=what)
    try:
        header = json.loads(str(arrays.pop("header")))
    except KeyError as e:
        raise ValueError(f"{path}: not a saved {what} (no 'header' entry)") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a readable {what} file (JSONDecodeError: {e})") from e
    if header.get("kind") != kind:
        raise ValueError(f"{path}: holds a {header.get('kind')!r}, not a {kind!r}")
    if header.get("format_version") != version:
        raise ValueError(f"{path}: {what} format version {header.get('format_version')!r}, "
                         f"expected {version}")
    return header, arrays
