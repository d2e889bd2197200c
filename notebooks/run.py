"""Execute notebooks headless, so they cannot rot: ``python notebooks/run.py NOTEBOOK... -o DIR``.

Each notebook runs top to bottom in a fresh kernel with the repository root as working directory;
the executed copy (with its plots) is written to DIR. The first failing cell stops the run with a
non-zero exit naming the notebook.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("notebooks")


def run(path: Path, output_dir: Path, timeout: int = 900) -> Path:
    """Execute one notebook and write the executed copy; raises on the first failing cell."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / path.name
    nbformat.write(notebook, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("-o", "--output-dir", type=Path, default=ROOT / "build" / "notebooks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in args.notebooks:
        try:
            target = run(path, args.output_dir)
        except CellExecutionError as exc:
            logger.error("%s failed:\n%s", path, exc)
            return 1
        logger.info("%s: executed, written to %s", path, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
