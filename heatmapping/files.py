"""Writing files atomically: a failure never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file that replaces ``path`` only if the ``with`` block succeeds.

    The bytes go to a temporary file beside ``path`` (``os.replace`` is atomic only within one
    file system), which is renamed to ``path`` at the end, so readers see either the old file
    or the complete new one.  On any exception the temporary file is removed and the exception
    propagates.  The temporary file is created with mode 0o666 (less the umask), so the result
    gets the user's usual permissions, unlike the 0600 of ``tempfile.mkstemp``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
