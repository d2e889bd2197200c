"""The Cython-compiled hot path: stale copies are found, and this checkout has none."""

import importlib.machinery
import logging
import os

from medcode.compiled import compiled_modules, stale_modules, warn_if_stale

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]  # ".cpython-311-x86_64-linux-gnu.so" on Linux


def _package(tmp_path):
    """A fake ``medcode`` folder: ``a`` compiled after its source, ``nlp.b`` before it, ``c`` source gone."""
    root = tmp_path / "medcode"
    (root / "nlp").mkdir(parents=True)
    for name in ("a", "nlp/b", "c"):
        (root / f"{name}.py").write_text("x = 1\n")
        (root / f"{name}{SUFFIX}").write_bytes(b"")
        os.utime(root / f"{name}{SUFFIX}", (1_000_000, 1_000_000))
        os.utime(root / f"{name}.py", (500_000, 500_000))
    os.utime(root / "nlp/b.py", (2_000_000, 2_000_000))  # edited after it was compiled
    (root / "c.py").unlink()
    (root / "plain.py").write_text("y = 2\n")  # never compiled: not listed
    return root


def test_compiled_modules_are_named_from_disk(tmp_path):
    root = _package(tmp_path)
    assert sorted(compiled_modules(root)) == ["medcode.a", "medcode.c", "medcode.nlp.b"]
    assert compiled_modules(root)["medcode.nlp.b"] == root / "nlp" / "b.py"


def test_an_edited_or_removed_source_makes_its_compiled_copy_stale(tmp_path, caplog):
    root = _package(tmp_path)
    assert stale_modules(root) == ["medcode.c", "medcode.nlp.b"]
    with caplog.at_level(logging.WARNING, logger="medcode.compiled"):
        assert warn_if_stale(root) == ["medcode.c", "medcode.nlp.b"]
    assert "medcode.nlp.b" in caplog.text and "make build" in caplog.text


def test_no_compiled_module_of_this_checkout_is_older_than_its_source():
    # After editing a compiled module's source, `make build` (which `make test` runs first) recompiles it.
    assert stale_modules() == [], "run `make build`: these compiled modules would run their old code"
