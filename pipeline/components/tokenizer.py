"""scispaCy's rule tokenizer, registered so that a saved pipeline's config can name it."""

from __future__ import annotations

import warnings

import spacy
from spacy.language import Language


@spacy.registry.tokenizers("medcode.scispacy_tokenizer.v1")
def create_tokenizer():
    """Return a factory for scispaCy's ``combined_rule_tokenizer`` (biomedical prefixes/infixes)."""

    def make(nlp: Language):
        from scispacy.custom_tokenizer import combined_rule_tokenizer

        # scispaCy reads the default tokenizer's token_match, so give it one to read first.
        nlp.tokenizer = spacy.registry.tokenizers.get("spacy.Tokenizer.v1")()(nlp)
        with warnings.catch_warnings():
            # scispaCy's infix pattern trips a FutureWarning of Python's re module; it is harmless.
            warnings.simplefilter("ignore", FutureWarning)
            return combined_rule_tokenizer(nlp)

    return make
