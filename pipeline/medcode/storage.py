"""The model folder: writing it, checking it, reading it back, and its model card.

A model is a folder (fixed names, see :mod:`medcode.about`)::

    meta.json       versions, code-set releases, training-data hash, config, metrics, file hashes
    MODEL_CARD.md   the same for people
    nlp/            the spaCy pipeline (sentences, mentions with their lexicon, context, suggester)
    model.json      settings and small tables of the note model (TF-IDF vocabularies, priors, link
                    statistics) and of the calibrated rankers
    model.npz       their arrays: training-note vectors, ridge weights, tree nodes, calibration
    codes.tsv.gz    code, system, billable, title of every code the model can suggest
    queries.json.gz the question to ask the physician for each unspecified or header code
    excludes1.json.gz  the ICD-10-CM Excludes1 notes, to flag codes that cannot be reported together

Nothing is pickled: arrays load with ``allow_pickle=False`` and everything else is JSON, so a model
file cannot run code. Loading checks every file against the SHA-256 in ``meta.json`` first and
refuses a mismatch, so a corrupted or edited file is named instead of half-loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import platform
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from medcode.about import (
    ARRAYS_FILE,
    CM,
    CODES_FILE,
    EXCLUDES1_FILE,
    META_FILE,
    MODEL_CARD_FILE,
    MODEL_FORMAT,
    NLP_DIR,
    PCS,
    QUERIES_FILE,
    RELEASE,
    STATE_FILE,
    SYSTEMS,
    __version__,
)
from medcode.codesets.excludes import Excludes1Index
from medcode.config import TrainConfig
from medcode.errors import ModelError
from medcode.features import FEATURES
from medcode.notemodel import NoteModel
from medcode.ranker import CalibratedRanker
from medcode.suggestions import Suggester

logger = logging.getLogger(__name__)

#: Libraries whose versions a model records and checks on load.
LIBRARIES = ("medcode", "spacy", "scispacy", "scikit-learn", "numpy", "scipy", "simple-icd-10-cm")


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


def manifest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a model folder except ``meta.json`` and the model card."""
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (META_FILE, MODEL_CARD_FILE)}


def model_id(meta: dict) -> str:
    """The model's identity: SHA-256 of its manifest (every file's hash), as hex.

    Two folders with the same id hold the same bytes; outputs and decisions record it.
    """
    canonical = json.dumps(meta.get("manifest", {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify_manifest(folder: Path, expected: dict[str, str]) -> None:
    """Refuse a model folder whose files differ from its manifest (before anything in it is read)."""
    if not expected:
        raise ModelError(f"{folder}: {META_FILE} has no manifest of file hashes; refusing to load")
    actual = manifest(folder)
    for name, digest in expected.items():
        if name not in actual:
            raise ModelError(f"{folder / name}: file listed in the manifest is missing")
        if actual[name] != digest:
            raise ModelError(f"{folder / name}: SHA-256 does not match the manifest; the file was altered")
    extra = set(actual) - set(expected)
    if extra:
        raise ModelError(f"{folder}: files not in the manifest: {', '.join(sorted(extra))}")


def read_json_gz(path: Path):
    return json.loads(gzip.decompress(path.read_bytes()))


def write_json_gz(path: Path, value) -> None:
    # mtime=0: the same content gives the same bytes, so manifests of retrained models compare.
    path.write_bytes(gzip.compress(json.dumps(value, sort_keys=True).encode("utf-8"), mtime=0))


# --------------------------------------------------------------------------------------------- saving
def save_model(coder, path: str | Path, extra_meta: dict | None = None) -> Path:
    """Write a model folder (see the module docstring) and its manifest of hashes.

    The folder is written beside its destination and moved into place at the end, so an
    interrupted save leaves the previous model whole, and files of an older format do not
    linger in the new folder.

    Raises:
        ModelError: when ``path`` exists and is not a model folder (it is never overwritten).
    """
    final = Path(path)
    if final.exists() and any(final.iterdir()) and not (final / META_FILE).exists():
        raise ModelError(f"{final}: exists and is not a medcode model folder; choose another --output")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    _write(coder, partial, final.name, extra_meta)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        partial.rename(final)
        shutil.rmtree(old)
    else:
        partial.rename(final)
    return final


def _write(coder, path: Path, name: str, extra_meta: dict | None) -> None:
    from medcode.nlp import save_nlp

    suggester = coder.suggester
    save_nlp(coder.nlp, path / NLP_DIR)
    note_values, arrays = suggester.note_model.get_state()
    ranker_values = {}
    for i, s in enumerate(SYSTEMS):
        ranker_values[s], ranker_arrays = suggester.rankers[s].get_state(f"ranker_{i}")
        arrays.update(ranker_arrays)
    state = {"note_model": note_values, "rankers": ranker_values}
    (path / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    with (path / ARRAYS_FILE).open("wb") as handle:
        np.savez(handle, **arrays)
    # Plain tab-separated lines (titles hold no tabs or newlines), parsed with split on load.
    table = "".join(f"{code}\t{system}\t{int(billable)}\t{title}\n"
                    for (system, code), (billable, title) in sorted(suggester.codes.items(), key=lambda kv: (kv[0][1], kv[0][0])))
    (path / CODES_FILE).write_bytes(gzip.compress(table.encode("utf-8"), mtime=0))
    write_json_gz(path / QUERIES_FILE, suggester.queries)
    write_json_gz(path / EXCLUDES1_FILE, suggester.excludes1.to_dict())
    meta = {
        "name": name,
        "medcode_version": __version__,
        "model_format": MODEL_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "releases": RELEASE,
        "libraries": library_versions(),
        "config": asdict(suggester.config),
        "features": list(FEATURES),
        "labels": {s: len(suggester.note_model.labels[s]) for s in SYSTEMS},
        "lexicon_keys": len(coder.nlp.get_pipe("medcode_mentions")),
        **{k: v for k, v in suggester.meta.items() if k not in ("manifest",)},
        **(extra_meta or {}),
    }
    meta["manifest"] = manifest(path)
    (path / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (path / MODEL_CARD_FILE).write_text(model_card(meta), encoding="utf-8")
    suggester.meta = meta


# -------------------------------------------------------------------------------------------- loading
def read_meta(path: str | Path) -> dict:
    """A model folder's ``meta.json``, after checking the format and every file against the manifest.

    Raises:
        ModelError: when the folder is missing, a file is missing or altered, or it is of another format.
    """
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise ModelError(f"{path}: not a medcode model folder (no {META_FILE}); "
                         "run `make setup` or `medcode train` to build one")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("model_format") != MODEL_FORMAT:
        found = meta.get("model_format") if isinstance(meta, dict) else None
        raise ModelError(f"{path}: model format {found} is not this medcode's format "
                         f"{MODEL_FORMAT}; retrain it (`make setup` rebuilds the default model)")
    verify_manifest(path, meta.get("manifest", {}))
    if meta.get("releases") != RELEASE:
        logger.warning("model %s was built for %s; this medcode uses %s", path, meta.get("releases"), RELEASE)
    installed = library_versions()
    for lib, version in meta.get("libraries", {}).items():
        if installed.get(lib) != version and lib != "python":
            logger.warning("model %s was built with %s %s; %s is installed", path, lib, version, installed.get(lib))
    return meta


def load_suggester(path: str | Path, meta: dict | None = None) -> Suggester:
    """The learned stages of a model folder (checked first, unless ``meta`` says it was just checked)."""
    path = Path(path)
    meta = meta if meta is not None else read_meta(path)
    state = json.loads((path / STATE_FILE).read_text("utf-8"))
    with np.load(path / ARRAYS_FILE, allow_pickle=False) as stored:
        arrays = dict(stored)
    note_model = NoteModel.from_state(state["note_model"], arrays)
    rankers = {s: CalibratedRanker.from_state(state["rankers"][s], arrays, f"ranker_{i}")
               for i, s in enumerate(SYSTEMS)}
    codes = {}
    for line in gzip.decompress((path / CODES_FILE).read_bytes()).decode("utf-8").splitlines():
        code, system, billable, title = line.split("\t", 3)
        codes[(system, code)] = (billable == "1", title)
    config = TrainConfig.from_dict(meta["config"], f"{path / META_FILE}: config")
    return Suggester(note_model, rankers, codes, config, meta,
                     lambda: read_json_gz(path / QUERIES_FILE),
                     lambda: Excludes1Index.from_dict(read_json_gz(path / EXCLUDES1_FILE)))


def model_card(meta: dict) -> str:
    """Render ``meta.json`` as a short Markdown model card."""
    lines = [f"# medcode model `{meta.get('name')}`", "",
             f"- medcode {meta['medcode_version']}, created {meta['created']}",
             f"- Code sets: {meta['releases'][CM]}; {meta['releases'][PCS]}"]
    training = meta.get("training", {})
    if training:
        lines.append(f"- Trained on {training.get('notes')} notes ({training.get('corpus', 'corpus')}), "
                     f"data SHA-256 `{training.get('data_sha256', '')[:16]}…`")
    lines += ["", "## Libraries", ""] + [f"- {k} {v}" for k, v in meta["libraries"].items()]
    lines += ["", "## Config", "", "```json", json.dumps(meta["config"], indent=1), "```"]
    if meta.get("metrics"):
        lines += ["", "## Metrics", "", "```json", json.dumps(meta["metrics"], indent=1), "```"]
    mapping = meta.get("release_mapping", {}).get("counts")
    if mapping:
        lines += ["", "## Codes the release cannot report as trained", "",
                  f"- {mapping['mapped']} training codes mapped to a current billable code (suggestions carry "
                  f"`current_code`); {mapping['unmapped']} left as they are (listed in meta.json)"]
    report = training.get("report", {})
    if report:
        lines += ["", "## Training report (out-of-fold candidates of the training notes)", ""]
        for system, r in report.items():
            lines.append(f"- {system}: candidate recall {r['candidate_recall_oof']:.3f}, "
                         f"{r['candidates_per_note']:.0f} candidates per note")
    return "\n".join(lines) + "\n"
