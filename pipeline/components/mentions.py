"""``medcode_mentions``: find diagnosis and procedure mentions by alias lookup.

The lexicon maps an alias key (see :mod:`pipeline.textnorm`) to the codes it names. Every window of
up to ``max_words`` consecutive content words of a sentence is looked up, so word order and function
words do not matter. Matches go to ``doc.spans["medcode_mentions"]`` with label ``DIAGNOSIS`` or
``PROCEDURE`` and ``span._.medcode_codes``: a tuple of :class:`CodeHit`. Overlapping matches are all
kept; the ranker learns how much a match that a longer one contains is worth.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, NamedTuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from pipeline.about import CM, MENTIONS_KEY, PCS
from pipeline.textnorm import STOPWORDS, alias_key, norm_word

LEXICON_FILE = "lexicon.json.gz"
LABELS = {CM: "DIAGNOSIS", PCS: "PROCEDURE"}
#: Where a lexicon entry comes from; the ranker uses it as a feature.
SOURCES = ("title", "alias", "learned")


class CodeHit(NamedTuple):
    """One code an alias names: its system, the alias source and a weight (precision for learned)."""

    code: str
    system: str
    source: str
    weight: float


if not Span.has_extension("medcode_codes"):
    Span.set_extension("medcode_codes", default=())


@Language.factory(
    "medcode_mentions",
    assigns=["doc.spans", "span._.medcode_codes"],
    requires=["token.is_sent_start"],
    default_config={"max_words": 6},
)
def make_mentions(nlp: Language, name: str, max_words: int) -> "MentionMatcher":
    return MentionMatcher(name, max_words=max_words)


class MentionMatcher:
    """Alias-lexicon mention detector (stateful: the lexicon is saved with the pipeline)."""

    def __init__(self, name: str = "medcode_mentions", *, max_words: int = 6):
        self.name = name
        self.max_words = max_words
        self.lexicon: dict[str, tuple[CodeHit, ...]] = {}
        self._norms: dict[str, str] = {}

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   lexicon: dict[str, Iterable] | None = None) -> None:
        """Set the lexicon (``{alias key: [(code, system, source, weight), ...]}``)."""
        if lexicon is not None:
            self.set_lexicon(lexicon)

    def set_lexicon(self, lexicon: dict[str, Iterable]) -> None:
        """Replace the lexicon."""
        self.lexicon = {key: tuple(CodeHit(*hit) for hit in hits) for key, hits in lexicon.items()}

    def _norm(self, text: str) -> str:
        # Token texts repeat a lot across notes; caching their normal form halves the matcher's time.
        norm = self._norms.get(text)
        if norm is None:
            norm = norm_word(text)
            if norm in STOPWORDS:
                norm = ""
            if len(self._norms) < 500_000:
                self._norms[text] = norm
        return norm

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        lexicon, max_words = self.lexicon, self.max_words
        for sent in doc.sents:
            words = [(t.i, w) for t in sent if not (t.is_punct or t.is_space) and (w := self._norm(t.text))]
            for a in range(len(words)):
                for b in range(a + 1, min(a + max_words, len(words)) + 1):
                    hits = lexicon.get(alias_key([w for _, w in words[a:b]]))
                    if not hits:
                        continue
                    start, end = words[a][0], words[b - 1][0] + 1
                    for system, label in LABELS.items():
                        mine = tuple(h for h in hits if h.system == system)
                        if mine:
                            span = Span(doc, start, end, label=label)
                            span._.medcode_codes = mine
                            spans.append(span)
        doc.spans[MENTIONS_KEY] = spans
        return doc

    def to_bytes(self, *, exclude=()) -> bytes:
        payload = {"max_words": self.max_words,
                   "lexicon": {k: [list(h) for h in v] for k, v in self.lexicon.items()}}
        return gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), mtime=0)

    def from_bytes(self, data: bytes, *, exclude=()) -> "MentionMatcher":
        payload = json.loads(gzip.decompress(data))
        self.max_words = payload["max_words"]
        self.set_lexicon(payload["lexicon"])
        return self

    def to_disk(self, path, *, exclude=()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / LEXICON_FILE).write_bytes(self.to_bytes())

    def from_disk(self, path, *, exclude=()) -> "MentionMatcher":
        return self.from_bytes((Path(path) / LEXICON_FILE).read_bytes())


def window_keys(doc: Doc, max_words: int, norm=None) -> set[str]:
    """All alias keys of windows of up to ``max_words`` content words in a doc's sentences.

    Used to learn aliases from training notes with exactly the windows the matcher looks up.
    """
    norm = norm or _default_norm
    keys = set()
    for sent in doc.sents:
        words = [w for t in sent if not (t.is_punct or t.is_space) and (w := norm(t.text))]
        for a in range(len(words)):
            for b in range(a + 1, min(a + max_words, len(words)) + 1):
                keys.add(alias_key(words[a:b]))
    return keys


def _default_norm(text: str) -> str:
    norm = norm_word(text)
    return "" if norm in STOPWORDS else norm
