"""``python -m medcode``: the command line."""

from medcode.cli import app

app(prog_name="medcode")
