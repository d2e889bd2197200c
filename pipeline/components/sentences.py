"""Sentence boundaries: punctuation rules plus line breaks.

Clinical notes put one statement per line far more often than prose does (CodiEsp's translation even
puts one sentence per line), and context rules must not leak across a line break.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc


@Language.factory("medcode_sentences", assigns=["token.is_sent_start"], default_config={})
def make_sentences(nlp: Language, name: str) -> "LineSentencizer":
    return LineSentencizer(name)


class LineSentencizer:
    """spaCy's rule sentencizer, with a new sentence after every line break."""

    def __init__(self, name: str = "medcode_sentences"):
        self.name = name
        self._sentencizer = Sentencizer()

    def __call__(self, doc: Doc) -> Doc:
        doc = self._sentencizer(doc)
        for token in doc[:-1]:
            if "\n" in token.whitespace_ or (token.is_space and "\n" in token.text):
                doc[token.i + 1].is_sent_start = True
        return doc
