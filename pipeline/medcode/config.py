"""Training configuration: the one place every hyper-parameter and its default lives.

A config file is TOML with a ``[train]`` table whose keys are the fields below; ``medcode train --set
key=value`` overrides one. The note model, the candidate generator and the ranker take their settings
from a :class:`TrainConfig` and have no defaults of their own, so a default can only differ in one place.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from medcode.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of training. The defaults were chosen on CodiEsp dev with models trained on train.

    Attributes:
        seed: random state of the folds and the ranker.
        folds: out-of-fold folds for the ranker's training candidates (and its calibration).
        ridge_alpha: (note model) regularisation of the note-level ridge classifier.
        knn_k: (note model) neighbours that vote.
        ridge_candidates: (candidates) top classifier codes that become candidates.
        max_candidates: (candidates) cap on candidates per note and code system.
        learned_max_words: (lexicon) longest window (content words) learned as an alias.
        learned_min_count: (lexicon) notes a learned alias must share with its code.
        learned_min_precision: (lexicon) share of the alias's notes that must carry the code.
        learned_min_lift: (lexicon) how many times the code's base rate that share must be.
        ranker_iter: (ranker) boosting rounds.
        ranker_learning_rate: (ranker) boosting shrinkage.
        ranker_leaves: (ranker) leaves per tree.
        also_pcs_weight: (ranker) weight, in the ICD-10-PCS ranker, of the notes of extra corpora
            (``medcode train --also``): the vignettes code every procedure to 7 characters where CodiEsp's
            coders stopped at 4 when the note left an axis open; at full weight they cost 0.02 CodiEsp dev PCS MAP.
        also_unlinked_weight: (ranker) weight, in the ICD-10-CM ranker, of an extra corpus's candidates that no
            mention in the note names. The vignettes were written beside the engine, which links 584 of their 602
            gold codes, so their unlinked rows taught that a code the note does not name is never right on a short
            note (9 gold in 14,626 rows); on unseen vignettes such codes at scores 0.003-0.03 were gold 6 times in
            106 rows. At 0.3: unseen development vignettes (fresh8, 260 notes) exact@5 0.849 -> 0.859, category@5
            0.892 -> 0.905, CodiEsp dev CM MAP 0.4908 -> 0.4886 (one refit of the ranker on the same rows).
    """

    seed: int = 0
    folds: int = 5
    ridge_alpha: float = 0.1
    knn_k: int = 10
    ridge_candidates: int = 40
    max_candidates: int = 300
    learned_max_words: int = 3
    learned_min_count: int = 2
    learned_min_precision: float = 0.3
    learned_min_lift: float = 3.0
    ranker_iter: int = 400
    ranker_learning_rate: float = 0.04
    ranker_leaves: int = 15
    also_pcs_weight: float = 0.05
    also_unlinked_weight: float = 0.3

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        """A config from ``{key: value}``; values are converted to each field's type.

        Raises:
            ConfigError: for an unknown key or a value of the wrong type, naming ``source``.
        """
        known = {f.name: type(f.default) for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown config keys: {', '.join(unknown)} "
                              f"(known: {', '.join(known)})")
        converted = {}
        for key, value in values.items():
            try:
                converted[key] = known[key](value)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {key} = {value!r} is not a {known[key].__name__}") from None
        return cls(**converted)


def read_config(path: str | Path | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Training config from a TOML file (its ``[train]`` table or top level) and ``key=value`` overrides.

    Raises:
        ConfigError: when the file is missing or not TOML, or a key or value is wrong (the message
            names the file or the ``--set`` item).
    """
    values: dict = {}
    source = "config"
    if path:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        table = data.get("train", data)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [train] must be a table")
        values.update(table)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        values[key.strip().removeprefix("train.")] = value.strip()
        source = f"{source} with --set" if path else "--set"
    return TrainConfig.from_dict(values, source)
