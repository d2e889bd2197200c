"""scispaCy's rule tokenizer, registered so that a saved pipeline's config can name it.

The tokenizer is rebuilt from scispaCy's rules (pinned and recorded in the model card) every time a
pipeline is made or loaded, never read back from a model folder: reading back 4,000 special cases the
factory has just made doubled the load's slowest step. :class:`RuleTokenizer` is spaCy's tokenizer
with serialisation that says so, so ``spacy.load`` of a model's ``nlp/`` folder needs no tokenizer
file and cannot overwrite the rules with stale ones.

spaCy's tokenizer caches the tokens of each whitespace-delimited chunk it splits, but only until the first
special case of a text (an abbreviation such as "e.g." or "1."): its flag for "this chunk met a special case"
is one per text, so every chunk after the first special case is split anew with the prefix, suffix and infix
patterns, in every note. :class:`RuleTokenizer` splits each chunk it has not seen on its own first, so that
every chunk without a special case is cached (the tokens are the ones spaCy makes for it: a chunk's tokens do
not depend on the text around it).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from types import SimpleNamespace

import spacy
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import ensure_path

#: The registered name a saved pipeline's config refers to.
TOKENIZER_NAME = "medcode.scispacy_tokenizer.v1"
_MARKER = "rebuilt from scispaCy's rules by medcode.scispacy_tokenizer.v1; nothing is stored\n"
#: Chunks a tokenizer caches the tokens of (spaCy's default is 10,000; the 250 CodiEsp dev notes have 13,600
#: distinct chunks). About 15 MB when full.
CHUNKS_KEPT = 50_000


class RuleTokenizer(Tokenizer):
    """spaCy's tokenizer whose rules come from its factory only (serialisation stores none), caching every chunk
    without a special case (see the module's docstring).

    CodiEsp dev, CPU ms a note, after 20 warm-up notes: 2.39 -> 1.83 on notes it has not seen, 1.39 -> 0.15 on
    notes seen before (bare ``spacy.blank("en")``: 2.41 and 1.45); the tokens are the same.
    """

    def __init__(self, *args, **kwargs):
        # spaCy's __reduce__ (a pipeline sent to worker processes) passes no cache size: this is its default.
        kwargs.setdefault("max_cache_size", CHUNKS_KEPT)
        super().__init__(*args, **kwargs)
        self._tried: set[str] = set()

    def __call__(self, text: str) -> Doc:
        tried = self._tried
        if len(tried) < CHUNKS_KEPT:
            for chunk in text.split():  # str.split's whitespace is str.isspace's, which spaCy splits at
                if chunk not in tried:
                    tried.add(chunk)
                    Tokenizer.__call__(self, chunk)  # caches its tokens unless it meets a special case
        return Tokenizer.__call__(self, text)

    def to_disk(self, path, **kwargs) -> None:
        ensure_path(path).write_text(_MARKER, encoding="utf-8")

    def from_disk(self, path, *, exclude=()) -> RuleTokenizer:
        return self

    def to_bytes(self, *, exclude=()) -> bytes:
        return _MARKER.encode("utf-8")

    def from_bytes(self, bytes_data: bytes, *, exclude=()) -> RuleTokenizer:
        return self


@contextmanager
def _building_rule_tokenizers():
    # scispaCy's factory calls the name `Tokenizer` of its module; for the duration of one call that
    # name is RuleTokenizer, so the tokenizer is built once, with scispaCy's own arguments.
    import scispacy.custom_tokenizer as custom

    original = custom.Tokenizer
    custom.Tokenizer = RuleTokenizer
    try:
        yield custom.combined_rule_tokenizer
    finally:
        custom.Tokenizer = original


@spacy.registry.tokenizers(TOKENIZER_NAME)
def create_tokenizer():
    """Return a factory for scispaCy's ``combined_rule_tokenizer`` (biomedical prefixes/infixes)."""

    def make(nlp: Language) -> RuleTokenizer:
        # scispaCy reads the language's vocab, defaults and current tokenizer's token_match; the
        # tokenizer does not exist yet while the language is being built, and making spaCy's
        # default one just to read that attribute cost a third of a second per load.
        view = SimpleNamespace(vocab=nlp.vocab, Defaults=nlp.Defaults,
                               tokenizer=SimpleNamespace(token_match=nlp.Defaults.token_match))
        with warnings.catch_warnings(), _building_rule_tokenizers() as combined_rule_tokenizer:
            # scispaCy's infix pattern trips a FutureWarning of Python's re module; it is harmless.
            warnings.simplefilter("ignore", FutureWarning)
            return combined_rule_tokenizer(view)

    return make
