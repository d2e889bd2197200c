"""The ``medcode`` command: thin typer wrappers over medcode's pure functions, one module per area.

Importing this package registers every command on :data:`app` (the console-script entry point).
"""

from medcode.cli import audit, codes, notes, server, training  # noqa: F401 (registration)
from medcode.cli.app import app

__all__ = ["app"]
