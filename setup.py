"""Build hook: compile medcode's per-note hot path with Cython (pyproject.toml holds everything else).

The modules below run for every note (mentions, context, the coding engine, the PCS composer, candidates,
features, ranking, records). Compiled as they are, untyped, they run the same Python semantics without the
interpreter's dispatch: CodiEsp dev, default model, interleaved CPU time on the 2-core VM, 14.38 -> 12.78 ms
a note (-11%). The ``.py`` files stay the source; each compiles to a ``.so`` beside it, which Python
imports in its place. A module that fails to compile (no C compiler) is skipped and runs as Python:
``Extension(optional=True)``; ``medcode about`` says which modules are compiled, and
:func:`medcode.compiled.stale_modules` names any whose source changed after it was compiled.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
#: The compiled modules, as globs under pipeline/ (package ``__init__`` files stay Python).
COMPILED = (
    "medcode/nlp/*.py",
    "medcode/coding/*.py",
    "medcode/codesets/pcs/*.py",
    "medcode/codesets/excludes.py",
    "medcode/candidates.py",
    "medcode/coder.py",
    "medcode/counts.py",
    "medcode/features.py",
    "medcode/lexicon.py",
    "medcode/mentions.py",
    "medcode/notemodel.py",
    "medcode/ranker.py",
    "medcode/suggestions.py",
    "medcode/textnorm.py",
)
#: Python's semantics, unchanged: annotations are documentation (an ``int`` annotation would make Cython
#: reject a numpy integer), functions stay introspectable (spaCy's factories read their signatures), and
#: no fused multiply-add, so every float is the one the interpreter computes.
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True, "embedsignature": False}
CFLAGS = ["-O2", "-ffp-contract=off"]


def extensions() -> list[Extension]:
    """One optional extension per compiled module (its C file is generated under build/)."""
    from Cython.Build import cythonize

    sources = sorted(p for pattern in COMPILED for p in (ROOT / "pipeline").glob(pattern) if p.name != "__init__.py")
    modules = [Extension(".".join(p.relative_to(ROOT / "pipeline").with_suffix("").parts),
                         [str(p.relative_to(ROOT))], extra_compile_args=CFLAGS, optional=True) for p in sources]
    return cythonize(modules, compiler_directives=DIRECTIVES, build_dir="build/cython", quiet=True, nthreads=2)


#: ``MEDCODE_COMPILE=0`` installs without compiling: the Makefile compiles with ``build_ext --inplace`` itself,
#: whose build folder then makes each later ``make build`` recompile only what changed (a ``pip install``
#: compiles in a temporary folder, and the next ``build_ext`` would compile all 45 modules again).
setup(ext_modules=[] if os.environ.get("MEDCODE_COMPILE", "1") == "0" else extensions())
