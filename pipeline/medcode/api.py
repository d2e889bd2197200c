"""The public functions of medcode: load a model, list models.

Everything else a user calls is a method of :class:`medcode.Medcoder` or a pure function of its stage
(:func:`medcode.batch.predict.predict_file`, :func:`medcode.training.train_corpus`,
:func:`medcode.evaluation.run.evaluate_model`, ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from medcode.about import DEFAULT_MODEL_NAME, META_FILE, MODEL_ENV, SYSTEMS


def default_model_dir() -> Path:
    """The model used when none is named: ``$MEDCODE_MODEL``, else ``models/default`` of the checkout."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    # pipeline/medcode/api.py -> the repository root holds models/.
    return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME


def load(path: str | Path | None = None):
    """Load a model folder (the default model when ``path`` is ``None``).

    Returns:
        A :class:`medcode.Medcoder`.

    Raises:
        ModelError: when the folder is missing, altered, or of another format.
    """
    from medcode.coder import Medcoder

    return Medcoder.load(Path(path) if path else default_model_dir())


def list_models(folder: str | Path = "models") -> list[dict]:
    """The model folders under ``folder`` with their key figures (from their ``meta.json``)."""
    rows = []
    for meta_path in sorted(Path(folder).glob(f"*/{META_FILE}")):
        meta = json.loads(meta_path.read_text("utf-8"))
        metrics = meta.get("metrics", {})
        rows.append({"model": str(meta_path.parent), "created": meta.get("created"),
                     "trained_on": meta.get("training", {}).get("corpus"),
                     "notes": meta.get("training", {}).get("notes"),
                     "evaluated_on": metrics.get("corpus"),
                     **{f"MAP {s}": metrics.get(s, {}).get("MAP") for s in SYSTEMS}})
    return rows
