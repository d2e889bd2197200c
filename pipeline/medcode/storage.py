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
file cannot run code. Loading checks, before anything else is read: the size of every file (and of
what a gzip file or an array would take in memory), that the folder holds only regular files, and
every file against the SHA-256 manifest in ``meta.json``. The manifest covers every file, ``meta.json``
itself included (all of it but the manifest), so an edited release mapping or list of training-note
fingerprints is refused like an edited array. The model id, SHA-256 of the manifest, therefore names
every byte of the model: ``--expect-model`` / ``$MEDCODE_EXPECT_MODEL`` pin it, so a folder whose files
and manifest were both rewritten is refused too.
"""


from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import stat
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from medcode.about import (
    ARRAYS_FILE,
    CM,
    CODES_FILE,
    EXCLUDES1_FILE,
    EXPECT_MODEL_ENV,
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
from medcode.batch.files import fresh_folder, swap_folder
from medcode.codesets.excludes import Excludes1Index
from medcode.config import TrainConfig
from medcode.errors import ConfigError, ModelError, OutputError
from medcode.features import FEATURES
from medcode.manifest import (
    MAX_META_BYTES,
    check_manifest_shape,
    expected_model_id,
    gunzip,
    library_versions,
    manifest,
    meta_digest,
    model_files,
    model_id,
    read_json_gz,
    sha256_file,
    verify_manifest,
    write_json_gz,
)
from medcode.notemodel import NoteModel
from medcode.ranker import CalibratedRanker
from medcode.suggestions import Suggester
from medcode.textsafe import shown

logger = logging.getLogger(__name__)


def _not_replaceable(folder: Path) -> str | None:
    """Why a non-empty folder is not a medcode model folder that may be replaced, or ``None`` if it is.

    A model of this format must pass the full check; one of an older format must have every file
    listed in its manifest with the right hash (formats before 4 left ``meta.json`` and the model card out;
    later ones list ``meta.json`` by :func:`~medcode.manifest.meta_digest` of its content, as now).
    """
    try:
        meta = read_meta_file(folder)
        found = meta.get("model_format")
        if found == MODEL_FORMAT:
            verify_manifest(folder, meta.get("manifest"), meta)
            return None
        if isinstance(found, bool) or not isinstance(found, int) or not 1 <= found < MODEL_FORMAT:
            return f"is not a medcode model folder (model format {shown(repr(found), 40)})"
        check_manifest_shape(folder, meta.get("manifest"))
        files, expected = model_files(folder), meta["manifest"]
        for name, digest in expected.items():
            # meta.json's entry is its content's digest (a format-7 model could not be retrained over at format 8).
            found_digest = meta_digest(meta) if name == META_FILE else sha256_file(files[name]) if name in files else None
            if found_digest != digest:
                return f"is not an intact medcode model folder ({shown(name, 60)} does not match its manifest)"
        extra = sorted(n for n in files if n not in expected and Path(n).name not in (META_FILE, MODEL_CARD_FILE))
        if extra:
            return f"is not a medcode model folder alone (it also holds {shown(', '.join(extra), 120)})"
        return None
    except ModelError as exc:
        return f"is not a medcode model folder ({exc})"


def check_model_output(path: str | Path, flag: str = "--output") -> Path:
    """Refuse a model output folder that saving would destroy: checked before training, and again before saving.

    A model is written into a missing or empty folder, or replaces a medcode model folder whose files
    all match its manifest (so only model files are deleted); anything else is left alone.

    Raises:
        OutputError: for a file, a symbolic link, or a folder holding anything but an intact model.
    """
    final = Path(path)
    name = f"{flag} {shown(final)}"
    if final.is_symlink():
        raise OutputError(f"{name}: is a symbolic link; give the folder itself")
    if final.exists() and not final.is_dir():
        raise OutputError(f"{name}: is a file; a model is saved to a folder (an empty one, or a model to replace)")
    if final.is_dir() and any(final.iterdir()):
        problem = _not_replaceable(final)
        if problem:
            raise OutputError(f"{name}: {problem}; medcode only replaces an empty folder or an intact medcode "
                              "model folder (choose another --output)")
    return final


def save_model(coder, path: str | Path, extra_meta: dict | None = None) -> Path:
    """Write a model folder (see the module docstring) and its manifest of hashes.

    The folder is written beside its destination and moved into place at the end, so an
    interrupted save leaves the previous model whole, and files of an older format do not
    linger in the new folder. Nothing but a model folder is ever replaced (:func:`check_model_output`).

    Raises:
        OutputError: when ``path`` is a file, or a folder that is neither empty nor an intact model.
    """
    final = check_model_output(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = fresh_folder(final, "partial")
    try:
        _write(coder, partial, final.name, extra_meta)
        check_model_output(final)  # again: the folder may have changed while the model was trained
        swap_folder(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
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
    meta = json.loads(json.dumps(meta))  # as it will read back (lists for tuples, string keys)
    (path / MODEL_CARD_FILE).write_text(model_card(meta), encoding="utf-8")
    # Last: the manifest covers every other file, and meta.json itself less this entry.
    meta["manifest"] = manifest(path, meta)
    (path / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    suggester.meta = meta


# -------------------------------------------------------------------------------------------- loading
def read_meta_file(path: Path) -> dict:
    """``meta.json`` of a folder as a dict: only a regular file, only under :data:`MAX_META_BYTES`."""
    meta_path = path / META_FILE
    try:
        info = os.lstat(meta_path)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelError(f"{shown(path)}: not a medcode model folder (no {META_FILE}); "
                         "run `make setup` or `medcode train` to build one") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{shown(meta_path)}: is not a regular file")
    if info.st_size > MAX_META_BYTES:
        raise ModelError(f"{shown(meta_path)}: {info.st_size:,} bytes, over the limit of {MAX_META_BYTES:,}; "
                         "refusing to read it")
    with meta_path.open("rb") as handle:
        raw = handle.read(MAX_META_BYTES + 1)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{shown(meta_path)}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{shown(meta_path)}: not a JSON object")
    return meta


#: Fields of ``meta.json`` that medcode reads, with their type (``None``: optional).
_META_FIELDS = {"releases": (dict, True), "libraries": (dict, True), "config": (dict, True),
                "features": (list, False), "labels": (dict, False), "name": (str, False),
                "created": (str, False), "medcode_version": (str, False), "training": (dict, False),
                "metrics": (dict, False), "release_mapping": (dict, False), "code_release": (dict, False)}


def _check_meta_fields(path: Path, meta: dict) -> None:
    """Refuse a ``meta.json`` whose fields are not of the types medcode reads (even with a valid manifest)."""
    where = f"{shown(path / META_FILE)}:"
    for key, (kind, required) in _META_FIELDS.items():
        if (required or key in meta) and not isinstance(meta.get(key), kind):
            raise ModelError(f"{where} {key} is not a JSON {'object' if kind is dict else kind.__name__}")
    for key in ("releases", "libraries"):
        if not all(isinstance(v, str) for v in meta[key].values()):
            raise ModelError(f"{where} {key} must map names to strings")
    training, mapping = meta.get("training", {}), meta.get("release_mapping", {})
    fingerprints = training.get("note_fingerprints", [])
    if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
        raise ModelError(f"{where} training.note_fingerprints is not a list of strings")
    mapped = mapping.get("mapped", {})
    if not isinstance(mapped, dict) or not all(isinstance(v, str) for v in mapped.values()):
        raise ModelError(f"{where} release_mapping.mapped must map codes to codes")
    try:
        TrainConfig.from_dict(meta["config"], f"{where} config")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None


def read_meta(path: str | Path, expect: str | None = None) -> dict:
    """A model folder's ``meta.json``, after checking the format and every file against the manifest.

    Args:
        path: the model folder.
        expect: the model id the folder must have (default: ``$MEDCODE_EXPECT_MODEL``, if set).

    Raises:
        ModelError: when the folder is missing, a file is missing, altered or over its size limit, it is
            of another format, or its id is not the expected one.
        UsageError: when the expected id is not a SHA-256.
    """
    path = Path(path)
    meta = read_meta_file(path)
    if meta.get("model_format") != MODEL_FORMAT:
        raise ModelError(f"{shown(path)}: model format {shown(repr(meta.get('model_format')), 40)} is not this "
                         f"medcode's format {MODEL_FORMAT}; retrain it (`make setup` rebuilds the default model)")
    expected = expected_model_id(expect)
    check_manifest_shape(path, meta.get("manifest"))
    if expected and model_id(meta) != expected:
        raise ModelError(f"{shown(path)}: model id {model_id(meta)} is not the expected {expected} "
                         f"(--expect-model or ${EXPECT_MODEL_ENV}); refusing to use it")
    verify_manifest(path, meta["manifest"], meta)
    _check_meta_fields(path, meta)
    if meta["releases"] != RELEASE:
        # Not an error: the codes are mapped to the release chosen when the model is used (codesets.mapping).
        logger.info("model %s was trained with the code-set releases %s", shown(path), meta["releases"])
    installed = library_versions()
    for lib, version in meta["libraries"].items():
        if installed.get(lib) != version and lib != "python":
            logger.warning("model %s was built with %s %s; %s is installed", shown(path), shown(lib, 40),
                           shown(version, 40), installed.get(lib))
    return meta


def _read_state(path: Path) -> dict:
    try:
        state = json.loads((path / STATE_FILE).read_bytes().decode("utf-8"))
    except (ValueError, RecursionError):
        raise ModelError(f"{shown(path / STATE_FILE)}: not valid JSON") from None
    if not isinstance(state, dict):
        raise ModelError(f"{shown(path / STATE_FILE)}: not a JSON object")
    return state


def load_suggester(path: str | Path, meta: dict | None = None) -> Suggester:
    """The learned stages of a model folder (checked first, unless ``meta`` says it was just checked).

    Raises:
        ModelError: when the folder fails its checks or a file's content is not what medcode wrote.
    """
    path = Path(path)
    meta = meta if meta is not None else read_meta(path)
    state = _read_state(path)
    try:
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = dict(stored)
        note_model = NoteModel.from_state(state["note_model"], arrays)
        rankers = {s: CalibratedRanker.from_state(state["rankers"][s], arrays, f"ranker_{i}")
                   for i, s in enumerate(SYSTEMS)}
        codes = {}
        for line in gunzip(path / CODES_FILE, keep=True).decode("utf-8").splitlines():
            code, system, billable, title = line.split("\t", 3)
            codes[(system, code)] = (billable == "1", title)
        config = TrainConfig.from_dict(meta["config"], f"{shown(path / META_FILE)}: config")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelError(f"{shown(path)}: the model's state cannot be read ({type(exc).__name__}); "
                         "it was not written by this medcode") from None
    return Suggester(note_model, rankers, codes, config, meta,
                     lambda: read_json_gz(path / QUERIES_FILE),
                     lambda: Excludes1Index.from_dict(read_json_gz(path / EXCLUDES1_FILE)))


def model_card(meta: dict) -> str:
    """Render ``meta.json`` as a short Markdown model card."""
    lines = [f"# medcode model `{meta.get('name')}`", "",
             f"- medcode {meta['medcode_version']}, created {meta['created']}",
             f"- Code sets: {meta['releases'][CM]}; {meta['releases'][PCS]}"]
    for system, release in meta.get("code_release", {}).items():
        if not release.get("bundled"):  # an installed release: name it and the files it was built from
            sources = ", ".join(f"{s['file']} (SHA-256 {s['sha256'][:12]}…)" for s in release.get("sources", [])[:6])
            lines.append(f"- {system} release `{release['name']}`, effective {release['effective'].get(system)}: {sources}")
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
