"""Writing files without destroying anything: a temporary file beside the target, renamed at the end.

A command that fails half-way (bad input, killed) leaves the target as it was: either the old file or
no file, never a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from medcode.errors import InputError


def check_writable(path: str | Path, flag: str = "--output") -> Path:
    """Refuse early an output whose folder does not exist or which is a folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name")
    if not path.parent.exists():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist")
    return path


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None,
                  flag: str = "--output") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed.

    Raises:
        InputError: when the folder of ``path`` does not exist or ``path`` is a folder.
    """
    path = check_writable(path, flag)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding,
                       newline=None if "b" in mode else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, flag: str = "--output") -> Path:
    """Write a text file atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, flag=flag) as handle:
        handle.write(text)
    return Path(path)
