"""A model folder's integrity: the library versions it records, the SHA-256 manifest of its files, the
model id that names them, and the size limits checked before any file is read (see :mod:`medcode.storage`)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import re
import stat
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from medcode.about import EXPECT_MODEL_ENV, META_FILE, __version__
from medcode.errors import ModelError, UsageError
from medcode.textsafe import shown

#: Libraries whose versions a model records and checks on load.
LIBRARIES = ("medcode", "spacy", "scispacy", "scikit-learn", "lightgbm", "numpy", "scipy", "simple-icd-10-cm")


#: Size limits, checked before a model file is read: ``meta.json``; any other file read whole (JSON,
#: spaCy's config and strings); a gzip file, compressed and once decompressed; the arrays file and
#: the arrays it holds. The default model's largest file is its 16 MB arrays file.
MAX_META_BYTES = 64 << 20


MAX_FILE_BYTES = 256 << 20


MAX_GZIP_BYTES = 256 << 20


MAX_ARRAYS_BYTES = 4 << 30


#: Most files a model folder may hold (the default model has 17).
MAX_FILES = 1000


_HEX64 = re.compile(r"[0-9a-f]{64}")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = __version__ if name == "medcode" else "missing"
    return versions


def note_fingerprint(text: str) -> str:
    """Short hash of a note's text: lets evaluation spot notes the model was trained on (no PHI kept)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(folder: Path) -> dict[str, Path]:
    """Every file of a model folder by its relative path, refusing anything but folders and regular files.

    A symbolic link, a FIFO or a device has no place in a model folder (a FIFO would hang the check,
    a link to ``/dev/zero`` never end it).

    Raises:
        ModelError: for a link or a special file, or more than :data:`MAX_FILES` files.
    """
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
                raise ModelError(f"{shown(path)}: is {kind}; a model folder holds only regular files")
            files[path.relative_to(folder).as_posix()] = path
            if len(files) > MAX_FILES:
                raise ModelError(f"{shown(folder)}: more than {MAX_FILES} files; not a medcode model folder")
    return files


def meta_digest(meta: dict) -> str:
    """SHA-256 of ``meta.json``'s content less its manifest (canonical JSON): the manifest's entry for it."""
    content = {k: v for k, v in json.loads(json.dumps(meta)).items() if k != "manifest"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def manifest(folder: Path, meta: dict | None = None) -> dict[str, str]:
    """SHA-256 of every file in a model folder; ``meta.json``'s entry is :func:`meta_digest` of ``meta``."""
    digests = {name: sha256_file(p) for name, p in sorted(model_files(folder).items()) if name != META_FILE}
    if meta is not None:
        digests[META_FILE] = meta_digest(meta)
    return dict(sorted(digests.items()))


def model_id(meta: dict) -> str:
    """The model's identity: SHA-256 of its manifest (every file's hash, ``meta.json``'s included), as hex.

    Two folders with the same id hold the same bytes; outputs and decisions record it.
    """
    canonical = json.dumps(meta.get("manifest", {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_model_id(value: str, flag: str = "--expect-model") -> str:
    """A model id as given by a user: 64 hexadecimal characters (case ignored).

    Raises:
        UsageError: for anything else.
    """
    text = str(value).strip().lower()
    if not _HEX64.fullmatch(text):
        raise UsageError(f"{flag} {shown(value, 80)}: a model id is 64 hexadecimal characters "
                         "(the SHA-256 `medcode models list` prints)")
    return text


def expected_model_id(expect: str | None = None) -> str | None:
    """The model id a load must match: ``expect``, else ``$MEDCODE_EXPECT_MODEL``, else ``None``."""
    if expect:
        return check_model_id(expect)
    if os.environ.get(EXPECT_MODEL_ENV, "").strip():
        return check_model_id(os.environ[EXPECT_MODEL_ENV], f"${EXPECT_MODEL_ENV}")
    return None


def check_manifest_shape(folder: Path, expected) -> None:
    if not isinstance(expected, dict) or not expected:
        raise ModelError(f"{shown(folder)}: {META_FILE} has no manifest of file hashes; refusing to load")
    for name, digest in expected.items():
        parts = name.split("/") if isinstance(name, str) else []
        if not parts or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
            raise ModelError(f"{shown(folder)}: {META_FILE}: manifest entry {shown(name, 60)!r} is not a path in the folder")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ModelError(f"{shown(folder)}: {META_FILE}: manifest entry {shown(name, 60)!r} is not a SHA-256")


def _check_sizes(files: dict[str, Path]) -> None:
    """Refuse a file over its size limit before any file is read (hashing included)."""
    for name, path in files.items():
        size = path.stat().st_size
        limit = (MAX_META_BYTES if name == META_FILE else MAX_ARRAYS_BYTES if name.endswith(".npz")
                 else MAX_GZIP_BYTES if name.endswith(".gz") else MAX_FILE_BYTES)
        if size > limit:
            raise ModelError(f"{shown(path)}: {size:,} bytes, over the limit of {limit:,}; refusing to read it")


def verify_manifest(folder: Path, expected: dict[str, str], meta: dict | None = None) -> None:
    """Refuse a model folder whose files differ from its manifest (before anything in it is read).

    Args:
        folder: the model folder.
        expected: the manifest.
        meta: ``meta.json``'s content, checked against the manifest's entry for it.
    """
    check_manifest_shape(folder, expected)
    files = model_files(folder)
    _check_sizes(files)
    if meta is not None and expected.get(META_FILE) != meta_digest(meta):
        raise ModelError(f"{shown(folder / META_FILE)}: does not match its manifest entry; the file was altered")
    for name, digest in expected.items():
        if name == META_FILE:
            continue
        if name not in files:
            raise ModelError(f"{shown(folder)}/{shown(name)}: file listed in the manifest is missing")
        if sha256_file(files[name]) != digest:
            raise ModelError(f"{shown(folder)}/{shown(name)}: SHA-256 does not match the manifest; the file was altered")
    extra = set(files) - set(expected) - {META_FILE}
    if extra:
        raise ModelError(f"{shown(folder)}: files not in the manifest: {shown(', '.join(sorted(extra)), 200)}")
    for name, path in files.items():
        if name.endswith(".gz"):
            gunzip(path)  # checks the decompressed size in bounded memory
        elif name.endswith(".npz"):
            check_arrays_file(path)


def gunzip(path: Path, limit: int = MAX_GZIP_BYTES, keep: bool = False) -> bytes:
    """Decompress a gzip file a block at a time, refusing it once it passes ``limit`` bytes.

    A small gzip file can decompress to gigabytes (a "gzip bomb"): the size is checked as the data
    comes out, so memory stays bounded by ``limit`` (and by one block when ``keep`` is false).
    """
    import zlib

    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header
    out, total = [], 0
    with path.open("rb") as handle:
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or handle.read(1 << 16)
            try:
                data = inflater.decompress(chunk, 1 << 20)
            except zlib.error:
                raise ModelError(f"{shown(path)}: not a valid gzip file") from None
            if not chunk and not data:
                raise ModelError(f"{shown(path)}: gzip file is cut short")
            total += len(data)
            if total > limit:
                raise ModelError(f"{shown(path)}: decompresses to more than {limit:,} bytes; refusing it")
            if keep:
                out.append(data)
    return b"".join(out)


def check_arrays_file(path: Path, limit: int = MAX_ARRAYS_BYTES) -> None:
    """Refuse an ``.npz`` whose arrays would take more than ``limit`` bytes, or hold Python objects.

    Each array's header (shape, dtype) is read and its size checked against the data the member holds,
    so a forged header cannot make :func:`numpy.load` allocate terabytes.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > limit:
                raise ModelError(f"{shown(path)}: its arrays take more than {limit:,} bytes; refusing it")
            for member in members:
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    shape, _, dtype = (np.lib.format.read_array_header_1_0(handle) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(handle))
                    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if dtype.hasobject or size > member.file_size:
                        raise ModelError(f"{shown(path)}: array {shown(member.filename, 60)} is not a plain "
                                         "array of its stated size; refusing it")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelError(f"{shown(path)}: not a valid arrays file ({type(exc).__name__})") from None


def read_json_gz(path: Path):
    """A gzip JSON file of a model folder (decompressed in bounded memory, see :func:`gunzip`)."""
    try:
        return json.loads(gunzip(path, keep=True))
    except (ValueError, RecursionError):
        raise ModelError(f"{shown(path)}: not valid JSON") from None


def write_json_gz(path: Path, value) -> None:
    # mtime=0: the same content gives the same bytes, so manifests of retrained models compare.
    path.write_bytes(gzip.compress(json.dumps(value, sort_keys=True).encode("utf-8"), mtime=0))
