"""The medcode spaCy pipeline: build it, save it, load it.

Components (one module each, registered with spaCy through the ``spacy_factories`` entry points, so
``spacy.load`` finds them in a fresh interpreter without importing medcode first):

* ``medcode.scispacy_tokenizer.v1`` (:mod:`medcode.nlp.tokenizer`): scispaCy's rule tokenizer;
* ``medcode_sentences`` (:mod:`medcode.nlp.sentences`): punctuation and line breaks;
* ``medcode_mentions`` (:mod:`medcode.nlp.matcher`): alias-lexicon mention finder;
* ``medcode_context`` (:mod:`medcode.nlp.context`): ConText-style assertion status;
* ``medcode_engine`` (:mod:`medcode.nlp.engine`): the codes each sentence describes, from the code sets;
* ``medcode_suggester`` (:mod:`medcode.nlp.suggester`): the ranked codes, as ``doc._.medcode_suggestions``
  (only in a model folder's pipeline: it reads the rest of the model folder).
"""

from __future__ import annotations

from pathlib import Path

import spacy
from spacy.language import Language

from medcode.about import MAX_ALIAS_WORDS

# Importing the modules registers their factories (entry points do the same for spacy.load).
from medcode.nlp import context, engine, matcher, sentences, suggester, tokenizer  # noqa: F401

PIPE_NAMES = ("medcode_sentences", "medcode_mentions", "medcode_context", "medcode_engine")
SUGGESTER = "medcode_suggester"


def build_nlp(lexicon: dict | None = None, context_rules: dict | None = None,
              max_words: int = MAX_ALIAS_WORDS, index=None) -> Language:
    """Create the pipeline on ``spacy.blank("en")`` with scispaCy's tokenizer.

    Args:
        lexicon: alias lexicon for ``medcode_mentions`` (see that module); empty when ``None``.
        context_rules: ConText rules; medcode's shipped rules when ``None``.
        max_words: longest alias window, in content words.
        index: the coding engine's :class:`medcode.coding.index.CodeIndex` (no engine codes without one).

    Returns:
        An initialised pipeline (without the suggester, which needs a trained model).
    """
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": tokenizer.TOKENIZER_NAME}}})
    nlp.add_pipe("medcode_sentences")
    nlp.add_pipe("medcode_mentions", config={"max_words": max_words})
    nlp.add_pipe("medcode_context")
    nlp.get_pipe("medcode_context").initialize(rules=context_rules)
    nlp.add_pipe("medcode_engine")
    if index is not None:
        nlp.get_pipe("medcode_engine").initialize(index=index)
    if lexicon:
        nlp.get_pipe("medcode_mentions").set_lexicon(lexicon)
    return nlp


def save_nlp(nlp: Language, path: str | Path) -> None:
    """Write a pipeline for :func:`load_nlp` (and for ``spacy.load``)."""
    nlp.to_disk(path)


def load_nlp(path: str | Path, with_suggester: bool = False) -> Language:
    """Load a pipeline saved with :func:`save_nlp`.

    Args:
        path: the ``nlp/`` folder of a model.
        with_suggester: also load ``medcode_suggester`` (which reads the model folder around
            ``path``); :class:`medcode.Medcoder` adds its own, already loaded, instead.
    """
    return spacy.load(path, exclude=[] if with_suggester else [SUGGESTER])
