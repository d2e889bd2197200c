"""Bad inputs, tried as a careless or hostile user would: the catalogue behind ``tests/test_bad_inputs.py``
and the robustness figures of ``make bench``.

Each :class:`Case` writes its inputs into a fresh folder and runs one ``medcode`` command. Every note text
of every case holds :data:`MARKER`, standing for protected health information. :func:`check` then asserts,
for every case:

* no traceback (a bug), the expected exit code;
* a one-line ``error:`` message naming the file, row or flag (``Case.names``), or, for a batch that
  skipped notes, the errors file naming the row;
* the good notes of the input scored (``Case.scored``);
* every file that existed before the run unchanged (inputs, earlier outputs, model folders), unless
  the case expects it to be replaced (``Case.replaces``);
* the marker in no output, log, message or error file.

Cases only use the command line and the standard library (and the files they write), so the same
catalogue runs against any medcode, in this process or in fresh ones. The cases themselves are in
:mod:`devtools.bad_input_cases`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The groups of the catalogue, as issue #12 lists them.
LOSS, RESUME, PHI, TRUST, CRASH, AUDIT, DASK = (
    "writes that cannot destroy", "run fingerprint", "no text where it must not be", "model trust",
    "every bad row reported", "audit readers", "private dask")
#: Stands for note text (PHI): it must never leave the input files.
MARKER = "PHIMARK7Q3Z"
#: Note texts every model scores (the tiny test model's phrases are in them), each with the marker.
TEXTS = ("The patient presented fever of 39 C.", "The patient presented a chest X-ray.",
         "The patient presented a right lower lobe pneumonia.", "The patient presented chest pain.")


def note_text(i: int = 0) -> str:
    return f"{TEXTS[i % len(TEXTS)]}\nReference {MARKER} {i}."


@dataclass
class Outcome:
    """What one command did: exit code, its output, whether it ended in a traceback, and the log lines."""

    code: int
    stdout: str
    stderr: str
    traceback: bool
    logs: str = ""
    hung: bool = False


Invoke = Callable[[list[str], dict, str | None], Outcome]


@dataclass
class Env:
    """A case's folder, the model it may use (never modified), and a way to run setup commands."""

    root: Path
    model: Path
    invoke: Invoke
    vars: dict = field(default_factory=dict)  # environment variables a build adds to the case's

    def path(self, name: str) -> Path:
        return self.root / name

    def good(self, n: int = 3, prefix: str = "ok") -> list[dict]:
        return [{"id": f"{prefix}{i}", "text": note_text(i)} for i in range(n)]

    def jsonl(self, name: str, rows: list) -> str:
        """Write JSONL: dicts as JSON, ``str``/``bytes`` as raw lines."""
        lines = [r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode("utf-8")
                 for r in rows]
        self.path(name).write_bytes(b"\n".join(lines) + b"\n")
        return str(self.path(name))

    def write(self, name: str, data: str | bytes) -> str:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return str(path)

    def predict(self, source: str, *extra: str, out: str = "out.jsonl", model: Path | None = None) -> list[str]:
        return ["predict", source, "-o", str(self.path(out)), "-m", str(model or self.model), *extra]

    def run(self, args: list[str], env: dict | None = None) -> Outcome:
        return self.invoke(args, env or {}, None)

    def model_copy(self, name: str = "model") -> Path:
        target = self.path(name)
        shutil.copytree(self.model, target, symlinks=True)
        return target

    def codiesp(self, splits=("dev",)) -> Path:
        for split in splits:
            for i in range(3):
                self.write(f"corpus/{split}/text_files_en/{split}{i}.txt", note_text(i))
            self.write(f"corpus/{split}/{split}D.tsv", "".join(f"{split}{i}\tR50.9\n" for i in range(3)))
            self.write(f"corpus/{split}/{split}P.tsv", "".join(f"{split}{i}\tBW03ZZZ\n" for i in range(3)))
        return self.path("corpus")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rehash(folder: Path) -> str:
    """Rewrite a model folder's manifest to match its files, as an attacker would; returns the new model id.

    Follows the folder's own manifest style: with an entry for ``meta.json`` (its content less the
    manifest), or without one (older medcode, which left ``meta.json`` and the model card out).
    """
    meta = json.loads((folder / "meta.json").read_text("utf-8"))
    new_style = "meta.json" in meta.get("manifest", {})
    meta.pop("manifest", None)
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        name = path.relative_to(folder).as_posix()
        if name == "meta.json" or (not new_style and path.name in ("meta.json", "MODEL_CARD.md")):
            continue
        digests[name] = _sha256(path.read_bytes())
    if new_style:
        content = json.loads(json.dumps(meta))
        digests["meta.json"] = _sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
    meta["manifest"] = dict(sorted(digests.items()))
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), "utf-8")
    return model_id(folder)


def model_id(folder: Path) -> str:
    manifest = json.loads((folder / "meta.json").read_text("utf-8"))["manifest"]
    return _sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())


@dataclass
class Case:
    """One bad input.

    Attributes:
        name: short name.
        issue: the part of issue #12 it comes from.
        build: writes the inputs (and runs setup commands) and returns the command's arguments.
        code: the exit code expected.
        names: what the one-line message (or, for exit code 3, the errors file) must contain.
        scored: ids the output must hold (the other notes were scored).
        output: the output the ids are read from.
        env: environment variables of the command.
        stdin: standard input of the command.
        replaces: files the command may replace (an earlier output, when it succeeds).
        extra: further checks, returning problems.
        subprocess: run in a fresh process (logs of worker processes are on its stderr).
    """

    name: str
    issue: str
    build: Callable[[Env], list[str]]
    code: int
    names: str = ""
    scored: tuple[str, ...] = ()
    output: str = "out.jsonl"
    env: dict = field(default_factory=dict)
    stdin: str | None = None
    replaces: tuple[str, ...] = ()
    extra: Callable[[Env, Outcome], list[str]] | None = None
    subprocess: bool = False


# ------------------------------------------------------------------------------------------- checking
def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            out[str(path.relative_to(root))] = "special"
            continue
        out[str(path.relative_to(root))] = _sha256(path.read_bytes()) if path.stat().st_size < (64 << 20) \
            else f"size:{path.stat().st_size}"
    return out


def _marker_in(path: Path) -> bool:
    if path.is_symlink() or not path.is_file() or path.stat().st_size > (256 << 20):
        return False
    return MARKER.encode() in path.read_bytes()


def check(case: Case, env: Env, before: dict[str, str], outcome: Outcome) -> list[str]:
    """The problems with how a case was handled (empty when it was handled as it must be)."""
    problems = []
    if outcome.hung:
        return ["the command hung"]
    if outcome.traceback or "Traceback (most recent call last)" in outcome.stderr + outcome.stdout:
        problems.append("traceback")
    if outcome.code != case.code:
        problems.append(f"exit code {outcome.code}, expected {case.code}")
    problems += _message_problems(case, env, outcome)
    after = _snapshot(env.root)
    for name, digest in before.items():
        if name not in case.replaces and after.get(name) != digest:
            problems.append(f"{name} was changed or removed")
    for text, where in ((outcome.stdout, "stdout"), (outcome.stderr, "stderr"), (outcome.logs, "logs")):
        if MARKER in text:
            problems.append(f"note text in {where}")
    for name in after:
        if (name not in before or after[name] != before[name]) and _marker_in(env.root / name):
            problems.append(f"note text in {name}")
    problems += _scored_problems(case, env)
    if case.extra:
        problems += case.extra(env, outcome)
    return problems


def _message_problems(case: Case, env: Env, outcome: Outcome) -> list[str]:
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if case.code in (2, 4, 5, 6):
        if len(errors) != 1 or lines[-1] != errors[0]:
            return [f"expected one error line, got {lines[-3:]}"]
        if case.names not in errors[0]:
            return [f"message does not name {case.names!r}: {errors[0][:200]}"]
    elif case.code == 3:
        report = env.path(case.output).with_name(Path(case.output).stem + ".errors.jsonl")
        text = report.read_text("utf-8", "replace") if report.exists() else ""
        if case.names not in text:
            return [f"errors file does not name {case.names!r}"]
    elif case.code == 0 and errors:
        return [f"unexpected error: {errors[0][:200]}"]
    return []


def _scored_problems(case: Case, env: Env) -> list[str]:
    if not case.scored:
        return []
    out = env.path(case.output)
    try:
        ids = {json.loads(line)["id"] for line in out.read_text("utf-8").splitlines() if line.strip()}
    except (OSError, ValueError, KeyError, TypeError):
        return [f"no readable output {case.output}"]
    missing = [i for i in case.scored if i not in ids]
    return [f"notes not scored: {missing}"] if missing else []


def run_case(case: Case, root: Path, model: Path, invoke: Invoke) -> list[str]:
    """Build a case in ``root`` (an empty folder), run it, and return its problems."""
    env = Env(root, model, invoke)
    args = case.build(env)
    before = _snapshot(root)
    outcome = invoke(args, {**case.env, **env.vars}, case.stdin)
    return check(case, env, before, outcome)


# -------------------------------------------------------------------------------------------- running
class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def invoke_in_process(args: list[str], env: dict, stdin: str | None) -> Outcome:
    """Run ``medcode ARGS`` in this process (fast: no interpreter start), capturing its log records."""
    from typer.testing import CliRunner

    from medcode.cli import app

    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        result = CliRunner().invoke(app, args, input=stdin, env=env)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    failed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stdout, result.stderr, failed, "\n".join(handler.lines))


def invoke_subprocess(args: list[str], env: dict, stdin: str | None, timeout: float = 300,
                      pythonpath: str | None = None) -> Outcome:
    """Run ``python -m medcode ARGS`` in a fresh process (its workers' logs land on its stderr)."""
    environ = {**os.environ, **env}
    if pythonpath:
        environ["PYTHONPATH"] = pythonpath
    try:
        run = subprocess.run([sys.executable, "-m", "medcode", *args], input=stdin, capture_output=True, text=True,
                             env=environ, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return Outcome(-1, "", "", False, hung=True)
    return Outcome(run.returncode, run.stdout, run.stderr, "Traceback (most recent call last)" in run.stderr,
                   run.stderr)
