"""Robustness figures for ``make bench``: bad inputs, kill-and-resume chains, refused model files.

* **Bad inputs**: every case of :mod:`devtools.bad_input_cases` run against the default model (in this
  process, or a fresh one where worker logs must be seen): how many were tried, how many were reported as
  they must be (see :func:`devtools.bad_inputs.check`), and how many ended in a traceback.
* **Kill and resume**: ``medcode predict`` on notes with bad rows and duplicate ids, killed with SIGKILL
  at random points and resumed (``--resume``) until it finishes, in fresh processes; the final output and
  errors file must be byte for byte those of an uninterrupted run.
* **Refused model files**: copies of the default model with a 400 MB ``meta.json``, a gzip bomb in the
  lexicon (1.5 GB out of 1.5 MB), arrays that claim 8 TB and a 300 MB ``model.json`` (the manifest
  rewritten to match where that gets further), each loaded in a fresh process: refused, and at what
  peak memory (against the intact model's load).

``run(default_model, workdir)`` returns the figures; ``python -m devtools.bench_robustness`` prints them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devtools.bad_inputs import MARKER, invoke_in_process, invoke_subprocess, note_text, rehash, run_case

PIPELINE = Path(__file__).resolve().parents[1]


def _child_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PIPELINE), os.environ.get("PYTHONPATH")]))}


# ------------------------------------------------------------------------------------------- bad inputs
def bad_inputs(default_model: str, workdir: Path) -> dict:
    """Every catalogue case against the default model: tried, reported as required, tracebacks."""
    from devtools.bad_input_cases import CASES

    failures, tracebacks = {}, 0
    for i, case in enumerate(CASES):
        root = workdir / f"case{i:03d}"
        root.mkdir(parents=True)
        invoke = invoke_subprocess if case.subprocess else invoke_in_process
        try:
            problems = run_case(case, root, Path(default_model), invoke)
        except Exception as exc:  # noqa: BLE001 - a case that cannot even be set up is a failure to report
            problems = [f"setup failed ({type(exc).__name__})"]
        shutil.rmtree(root, ignore_errors=True)
        tracebacks += "traceback" in problems
        if problems:
            failures[case.name] = problems
    return {"tried": len(CASES), "reported": len(CASES) - len(failures), "tracebacks": tracebacks,
            "not_reported": failures}


# ------------------------------------------------------------------------------------- kill and resume
def _chain_input(path: Path, notes: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = [json.dumps({"id": f"n{i:05d}", "text": note_text(rng.randrange(100)) * rng.randint(1, 4)})
            for i in range(notes)]
    for at in sorted(rng.sample(range(notes), 8), reverse=True):
        bad = rng.choice([json.dumps({"id": f"n{rng.randrange(notes):05d}", "text": note_text(1)}),  # duplicate
                          json.dumps({"id": f"blank{at}", "text": " "}), '{"id": "torn", "text": "' + MARKER,
                          b'{"id": "latin", "text": "caf\xe9"}'.decode("latin-1")])
        rows.insert(at, bad)
    path.write_text("\n".join(rows) + "\n", encoding="latin-1", errors="strict")


def _predict(src: Path, out: Path, model: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medcode", "predict", str(src), "-o", str(out), "-m", model, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env())


def _kill_when(child: subprocess.Popen, partial: Path, lines: int, timeout: float = 600) -> bool:
    """SIGKILL ``child`` once ``partial`` has ``lines`` lines; ``False`` if it finished first."""
    deadline = time.time() + timeout
    while time.time() < deadline and child.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= lines:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return True
        time.sleep(0.05)
    child.wait()
    return False


def kill_and_resume(default_model: str, workdir: Path, chains: int = 3, notes: int = 700) -> dict:
    """Chains of SIGKILL and ``--resume`` in fresh processes: is the final output the uninterrupted one?"""
    src = workdir / "chain.jsonl"
    _chain_input(src, notes, seed=12)
    reference = workdir / "reference.jsonl"
    _predict(src, reference, default_model).wait()
    expected = [reference.read_bytes(), reference.with_name("reference.errors.jsonl").read_bytes()]
    rng, identical, kills = random.Random(7), 0, 0
    for chain in range(chains):
        out = workdir / f"chain{chain}.jsonl"
        extra = ("-w", "2") if chain == chains - 1 else ()
        points = sorted(rng.sample(range(5, notes - 5), 2))
        for point in points:
            kills += _kill_when(_predict(src, out, default_model, *extra, "--resume"), out.with_name(f".{out.name}.partial"),
                                point)
        _predict(src, out, default_model, *extra, "--resume").wait()
        errors = out.with_name(out.stem + ".errors.jsonl")
        identical += out.exists() and [out.read_bytes(), errors.read_bytes() if errors.exists() else b""] == expected
    return {"tried": chains, "identical_outputs": identical, "kills": kills, "notes": notes}


# ------------------------------------------------------------------------------------- refused models
def _child_load(model: str) -> dict:
    """Run in a fresh process: load a model folder; refused or not, and the peak memory."""
    from devtools.bench import peak_memory_mb
    from medcode.coder import Medcoder
    from medcode.errors import MedcodeError

    try:
        Medcoder.load(model)
        refused, message = False, ""
    except MedcodeError as exc:
        refused, message = True, str(exc)
    return {"refused": refused, "message": message[-160:],
            "peak_memory_mb": round(peak_memory_mb(), 1)}


def _load_in_child(model: Path) -> dict:
    run = subprocess.run([sys.executable, "-m", "devtools.bench_robustness", "--child-load", str(model)],
                         capture_output=True, text=True, env=_child_env())
    if run.returncode != 0:
        return {"refused": False, "message": run.stderr[-300:], "peak_memory_mb": None}
    return json.loads(run.stdout.strip().splitlines()[-1])


def _gzip_bomb(path: Path, size: int) -> None:
    with gzip.open(path, "wb", compresslevel=9) as bomb:
        block = b"\0" * (1 << 24)
        for _ in range(size // len(block)):
            bomb.write(block)


def _forged_arrays(path: Path) -> None:
    import io
    import zipfile

    import numpy as np

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 6, 10 ** 6)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("forged.npy", header.getvalue() + b"\0" * 64)


def refused_models(default_model: str, workdir: Path) -> dict:
    """Load tampered copies of the default model in fresh processes: refused, at what peak memory."""
    tampered = {
        "meta.json of 400 MB": ("meta.json", 400 << 20, lambda p: os.truncate(p, 400 << 20), False),
        "lexicon gzip bomb (1.5 GB decompressed)": ("nlp/medcode_mentions/lexicon.json.gz", 1536 << 20,
                                                    lambda p: _gzip_bomb(p, 1536 << 20), True),
        "arrays claiming 8 TB": ("model.npz", 8 * 10 ** 12, _forged_arrays, True),
        "model.json of 300 MB": ("model.json", 300 << 20, lambda p: os.truncate(p, 300 << 20), False),
    }
    out = {"intact": _load_in_child(Path(default_model)), "files": {}}
    for name, (file, would_take, tamper, rewrite_manifest) in tampered.items():
        copy = workdir / "model"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(default_model, copy)
        tamper(copy / file)
        if rewrite_manifest:
            rehash(copy)
        out["files"][name] = {"file": file, "would_take_mb": round(would_take / (1 << 20)), **_load_in_child(copy)}
        shutil.rmtree(copy, ignore_errors=True)
    largest = max(out["files"].values(), key=lambda f: f["would_take_mb"])
    out["largest_refused"] = {"file": largest["file"], "would_take_mb": largest["would_take_mb"],
                              "refused": largest["refused"], "peak_memory_mb": largest["peak_memory_mb"]}
    out["all_refused"] = all(f["refused"] for f in out["files"].values())
    return out


# ------------------------------------------------------------------------------------------------ run
def run(default_model: str, workdir: Path) -> dict:
    """All robustness figures (see the module docstring); ``workdir`` is an empty scratch folder."""
    workdir = Path(workdir)
    report = {}
    for name, part in (("bad_inputs", bad_inputs), ("kill_and_resume", kill_and_resume),
                       ("refused_model_files", refused_models)):
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        report[name] = {**part(default_model, folder), "seconds": round(time.perf_counter() - start, 1)}
    return report


def summary(report: dict) -> list[str]:
    """The lines ``make bench`` prints."""
    bad, chains, models = report["bad_inputs"], report["kill_and_resume"], report["refused_model_files"]
    largest = models["largest_refused"]
    return [f"bad-input cases: {bad['tried']} tried, {bad['reported']} reported, {bad['tracebacks']} tracebacks",
            f"kill-and-resume chains: {chains['tried']} tried, {chains['identical_outputs']} identical outputs "
            f"({chains['kills']} kills)",
            f"largest refused model file: {largest['file']} ({largest['would_take_mb']:,} MB) "
            f"{'refused' if largest['refused'] else 'NOT refused'} at a peak of {largest['peak_memory_mb']} MB "
            f"(intact model load: {models['intact']['peak_memory_mb']} MB)"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default-model", default=None)
    parser.add_argument("--output", "-o", default=None, help="Also write the figures as JSON here.")
    parser.add_argument("--child-load", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_load:
        print(json.dumps(_child_load(args.child_load)))
        return
    from medcode.api import default_model_dir

    with tempfile.TemporaryDirectory(prefix="medcode-robustness-") as workdir:
        report = run(args.default_model or str(default_model_dir()), Path(workdir))
    print("\n".join(summary(report)))
    print(json.dumps(report, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
