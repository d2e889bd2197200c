"""Reading and writing files without destroying anything, hanging, or reading without bound.

Writes: every output goes to a temporary file beside it, renamed into place at the end, so a command
that fails half-way (bad input, bad model, killed) leaves the target as it was: the old file or no
file, never a truncated one. Before anything is computed, :func:`check_output` refuses an output
that is one of the command's inputs, a CodiEsp corpus's gold file or note text, inside a model
folder, a folder, or a special file (a device, a FIFO).

Reads: :func:`open_regular` opens only regular files (a FIFO would block, ``/dev/zero`` never ends),
and :func:`read_capped` reads at most a given number of bytes.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from medcode.errors import InputError, OutputError
from medcode.textsafe import shown

_GOLD_RE = re.compile(r"(.+)[DP]\.tsv")


class NotRegularFile(OSError):
    """A path that is not a regular file (a folder, FIFO, device or socket)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | Path) -> tuple[IO[bytes], int]:
    """Open a regular file for reading: ``(binary handle, size in bytes)``.

    The file is opened without blocking, so a FIFO is refused instead of waiting forever for a writer;
    a device (``/dev/zero``, also through a symbolic link) is refused before a byte is read.

    Raises:
        NotRegularFile: for a folder, FIFO, device or socket (the message says which).
        OSError: when the file cannot be opened (missing, no permission).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"is {_kind(info.st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises:
        InputError: when the file is missing, unreadable, not a regular file or over ``limit``.
    """
    try:
        handle, size = open_regular(path)
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read the {what}: {exc.strerror or exc}") from None
    with handle:
        if size > limit:
            raise InputError(f"{shown(path)}: {size:,} bytes, over the limit of {limit:,} for a {what}")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{shown(path)}: over the limit of {limit:,} bytes for a {what}")
    return data


def real_paths(paths: Iterable[str | Path]) -> frozenset[str]:
    """The resolved paths of files (computed once for many :func:`check_output` calls)."""
    return paths if isinstance(paths, frozenset) else frozenset(os.path.realpath(p) for p in paths)


def _inside(path: Path, folder: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real.startswith(base.rstrip(os.sep) + os.sep)


def corpus_file_kind(path: str | Path) -> str | None:
    """What a path is in a CodiEsp corpus: a split's gold file, one of its notes, or ``None``."""
    path = Path(os.path.realpath(path))
    parent = path.parent
    match = _GOLD_RE.fullmatch(path.name)
    if match and match.group(1) == parent.name and (parent / "text_files_en").is_dir():
        return "a CodiEsp gold file"
    if parent.name == "text_files_en" and (parent.parent / f"{parent.parent.name}D.tsv").exists():
        return "a CodiEsp note"
    return None


def check_output(path: str | Path, flag: str = "--output", inputs: Iterable[str | Path] = (),
                 folders: Iterable[str | Path] = (), make_parent: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written without destroying something.

    Args:
        path: the output file.
        flag: the option that named it (for the message).
        inputs: files the command reads: the output must be none of them.
        folders: folders the output must not be inside (a model folder, a corpus).
        make_parent: the command creates a missing parent folder (else a missing folder is refused).

    Raises:
        OutputError: when the output is a folder, a special file, a dangling link, in a missing folder,
            one of ``inputs``, inside one of ``folders``, or a CodiEsp corpus's gold file or note.
    """
    path = Path(path)
    name = f"{flag} {shown(path)}"
    if path.is_dir():
        raise OutputError(f"{name}: is a folder; give a file name")
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{name}: is a symbolic link to nothing; give a file name")
    if path.exists():
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{name}: is {_kind(mode)}; medcode writes only regular files")
    if not make_parent and not path.parent.is_dir():
        raise OutputError(f"{name}: folder {shown(path.parent)} does not exist")
    if os.path.realpath(path) in real_paths(inputs):
        raise OutputError(f"{name}: is an input of this command; writing it would destroy it")
    for folder in folders:
        if _inside(path, Path(folder)):
            raise OutputError(f"{name}: is inside {shown(folder)}, which this command reads; write elsewhere")
    kind = corpus_file_kind(path)
    if kind:
        raise OutputError(f"{name}: is {kind}; write the output outside the corpus")
    return path


def check_writable(path: str | Path, flag: str = "--output") -> Path:
    """Refuse early an output whose folder does not exist, which is a folder or a special file."""
    return check_output(path, flag)


def _mode_for(path: Path) -> int:
    """The mode a written file gets: the replaced file's, else the default for new files (the umask)."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _target(path: Path) -> Path:
    # Writing through a symbolic link replaces the file it points to, not the link.
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None,
                  flag: str = "--output") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed.

    Raises:
        OutputError: when the folder of ``path`` does not exist, or ``path`` is a folder or a special file.
    """
    path = _target(check_output(path, flag))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))  # mkstemp makes the file private; the output gets the usual mode
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


def fresh_folder(beside: Path, suffix: str) -> Path:
    """A new, empty folder beside ``beside`` with a name no other file has (created with the umask)."""
    import secrets

    while True:
        folder = beside.with_name(f".{beside.name}.{secrets.token_hex(4)}.{suffix}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def swap_folder(partial: Path, final: Path) -> None:
    """Rename a finished folder into place; an old one is moved aside first and removed last, so an
    interruption leaves either the old folder or the new one, never neither."""
    import shutil

    if final.exists():
        old = fresh_folder(final, "old")
        final.rename(old / final.name)
        partial.rename(final)
        shutil.rmtree(old)
    else:
        partial.rename(final)
