"""Which of medcode's modules run compiled, and whether a compiled copy is older than its source.

``pip install`` (``make setup``) compiles the per-note hot path with Cython (see ``setup.py``): each
``name.py`` gets a ``name.<abi>.so`` beside it, which Python imports in its place. The ``.py`` stays the
source, so after an edit the compiled copy is stale until ``make build`` recompiles it, and the old code
would run without a word: :func:`stale_modules` finds such copies by their file times, the model loader
warns about them and a test fails on them.
"""

from __future__ import annotations

import importlib.machinery
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


def _binaries(root: Path):
    """``(module name, source path, compiled path)`` for each compiled module under ``root``."""
    for binary in sorted(root.rglob("*")):
        # The most specific suffix first (".cpython-311-x86_64-linux-gnu.so" before ".so"), as Python's own.
        suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if binary.name.endswith(s)), None)
        if suffix:
            source = binary.with_name(binary.name[: -len(suffix)] + ".py")
            yield ".".join((root.name, *source.relative_to(root).with_suffix("").parts)), source, binary


def compiled_modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """The compiled modules under ``root``: ``{module name: source path}`` (found on disk, nothing imported).

    Args:
        root: the ``medcode`` package folder (another one in tests).
    """
    return {name: source for name, source, _ in _binaries(root)}


def stale_modules(root: Path = PACKAGE_DIR) -> list[str]:
    """Compiled modules whose source was changed (or removed) after they were compiled, by name.

    Args:
        root: the ``medcode`` package folder (another one in tests).
    """
    return sorted(name for name, source, binary in _binaries(root)
                  if not source.exists() or source.stat().st_mtime > binary.stat().st_mtime)


def warn_if_stale(root: Path = PACKAGE_DIR) -> list[str]:
    """Log a warning naming the compiled modules older than their source; return their names."""
    stale = stale_modules(root)
    if stale:
        logger.warning("%d compiled module(s) are older than their source and run the old code: %s; "
                       "recompile with `make build`", len(stale), ", ".join(stale))
    return stale
