"""Build and load the medcode spaCy pipeline."""

from __future__ import annotations

from pathlib import Path

import spacy
from spacy.language import Language

import pipeline.components  # noqa: F401  (registers the medcode_* factories)

PIPE_NAMES = ("medcode_sentences", "medcode_mentions", "medcode_context")
#: Not written to a model folder: the tokenizer is scispaCy's rules, rebuilt from the (pinned,
#: recorded) library by its registered factory. Saving it too doubled the load's slowest step,
#: reading back 4,000 special cases the factory has just made.
NOT_SAVED = ["tokenizer"]


def build_nlp(lexicon: dict | None = None, context_rules: dict | None = None, max_words: int = 6) -> Language:
    """Create the pipeline on ``spacy.blank("en")`` with scispaCy's tokenizer.

    Args:
        lexicon: alias lexicon for ``medcode_mentions`` (see that module); empty when ``None``.
        context_rules: ConText rules; medcode's shipped rules when ``None``.
        max_words: longest alias window, in content words.

    Returns:
        An initialised pipeline.
    """
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "medcode.scispacy_tokenizer.v1"}}})
    nlp.add_pipe("medcode_sentences")
    nlp.add_pipe("medcode_mentions", config={"max_words": max_words})
    nlp.add_pipe("medcode_context")
    nlp.get_pipe("medcode_context").initialize(rules=context_rules)
    if lexicon:
        nlp.get_pipe("medcode_mentions").set_lexicon(lexicon)
    return nlp


def save_nlp(nlp: Language, path: str | Path) -> None:
    """Write a pipeline for :func:`load_nlp`."""
    nlp.to_disk(path, exclude=NOT_SAVED)


def load_nlp(path: str | Path) -> Language:
    """Load a pipeline saved with :func:`save_nlp`."""
    return spacy.load(path, exclude=NOT_SAVED)
