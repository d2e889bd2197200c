"""The public functions of medcode: load a model, list models.

Everything else a user calls is a method of :class:`medcode.Medcoder` or a pure function of its stage
(:func:`medcode.batch.predict.predict_file`, :func:`medcode.training.train_corpus`,
:func:`medcode.evaluation.run.evaluate_model`, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from medcode.about import DEFAULT_MODEL_NAME, META_FILE, MODEL_ENV, SYSTEMS


def default_model_dir() -> Path:
    """The model used when none is named: ``$MEDCODE_MODEL``, else ``models/default`` of the checkout."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    # pipeline/medcode/api.py -> the repository root holds models/.
    return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME


def load(path: str | Path | None = None, expect: str | None = None, release: str | None = None,
         date_of_service=None):
    """Load a model folder (the default model when ``path`` is ``None``) for a code-set release.

    Args:
        path: the model folder.
        expect: the only model id accepted (default: ``$MEDCODE_EXPECT_MODEL``, when set).
        release: the code-set release to code against (default: ``$MEDCODE_RELEASE``, else the newest
            installed release in force on ``date_of_service``; see :func:`medcode.codesets.releases.resolve_releases`).
        date_of_service: ``YYYY-MM-DD`` or a date (default: today).

    Returns:
        A :class:`medcode.Medcoder` (mapping its codes to the release when it is not the model's own).

    Raises:
        ModelError: when the folder is missing, altered, of another format, or not the expected model.
        ReleaseError: for an unknown release, or no release in force on the date of service.
    """
    from medcode.coder import Medcoder

    return Medcoder.load(Path(path) if path else default_model_dir(), expect, release, date_of_service)


def _get(value, *keys):
    """``value[k1][k2]...`` where each level is a dict, else ``None`` (a meta.json may be anything)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def list_models(folder: str | Path = "models") -> list[dict]:
    """The model folders under ``folder`` with their id and key figures (from their ``meta.json``).

    The id is SHA-256 of the folder's manifest, as :func:`medcode.manifest.model_id`; the files are not
    checked here (loading does). A ``meta.json`` that cannot be read is listed with the reason.
    """
    from medcode.errors import ModelError
    from medcode.manifest import model_id
    from medcode.storage import read_meta_file

    rows = []
    for meta_path in sorted(Path(folder).glob(f"*/{META_FILE}")):
        try:
            meta = read_meta_file(meta_path.parent)
        except ModelError as exc:
            rows.append({"model": str(meta_path.parent), "id": None, "error": str(exc)})
            continue
        rows.append({"model": str(meta_path.parent),
                     "id": model_id(meta) if isinstance(meta.get("manifest"), dict) else None,
                     "created": _get(meta, "created"), "trained_on": _get(meta, "training", "corpus"),
                     "notes": _get(meta, "training", "notes"), "evaluated_on": _get(meta, "metrics", "corpus"),
                     **{f"MAP {s}": _get(meta, "metrics", s, "MAP") for s in SYSTEMS}})
    # One set of columns for every row (an unreadable folder has only its reason).
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key) for key in keys} for row in rows]
