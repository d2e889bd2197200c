"""scispaCy's rule tokenizer, registered so that a saved pipeline's config can name it."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import spacy
from spacy.language import Language


@spacy.registry.tokenizers("medcode.scispacy_tokenizer.v1")
def create_tokenizer():
    """Return a factory for scispaCy's ``combined_rule_tokenizer`` (biomedical prefixes/infixes)."""

    def make(nlp: Language):
        from scispacy.custom_tokenizer import combined_rule_tokenizer

        # scispaCy reads the language's vocab, defaults and current tokenizer's token_match; the
        # tokenizer does not exist yet while the language is being built, and making spaCy's
        # default one just to read that attribute cost a third of a second per load.
        view = SimpleNamespace(vocab=nlp.vocab, Defaults=nlp.Defaults,
                               tokenizer=SimpleNamespace(token_match=nlp.Defaults.token_match))
        with warnings.catch_warnings():
            # scispaCy's infix pattern trips a FutureWarning of Python's re module; it is harmless.
            warnings.simplefilter("ignore", FutureWarning)
            return combined_rule_tokenizer(view)

    return make
