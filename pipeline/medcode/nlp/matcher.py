"""``medcode_mentions``: find diagnosis and procedure mentions by alias lookup.

The lexicon maps an alias key (see :mod:`pipeline.textnorm`) to the codes it names. Every window of
up to ``max_words`` consecutive content words of a sentence is looked up, so word order and function
words do not matter. Matches go to ``doc.spans["medcode_mentions"]`` with label ``DIAGNOSIS``, ``PROCEDURE``
(or both) and ``span._.medcode_codes``: a tuple of :class:`CodeHit`. Overlapping matches are all
kept; the ranker learns how much a match that a longer one contains is worth.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from spacy.attrs import ORTH, SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from medcode.about import CM, MAX_ALIAS_WORDS, MENTIONS_KEY, PCS
from medcode.textnorm import norm_words

LEXICON_FILE = "lexicon.json.gz"
LABELS = {CM: "DIAGNOSIS", PCS: "PROCEDURE"}
#: Label of a span whose alias names both diagnosis and procedure codes.
MIXED_LABEL = "DIAGNOSIS_OR_PROCEDURE"
#: Where a code hit comes from, most trusted first: a code-set title or other alias of the lexicon, the
#: coding engine (:mod:`medcode.nlp.engine`), or an alias learned from training notes. The ranker uses it.
SOURCES = ("title", "alias", "engine", "learned")


class CodeHit(NamedTuple):
    """One code a stretch of text names.

    Attributes:
        code: the code.
        system: its code system.
        source: one of :data:`SOURCES`.
        weight: the precision of a learned alias; the engine's coverage of the code's description;
            1 for the code sets' aliases.
        rank: the engine's rank of the code among the codes of its sentence (0: best).
    """

    code: str
    system: str
    source: str
    weight: float
    rank: int = 0


#: Where a doc keeps ``{(start token, end token): (alias key, hits)}`` for its mentions.
HITS_KEY = "medcode_hits"


def _span_codes(span: Span) -> tuple[CodeHit, ...]:
    _, hits = span.doc.user_data.get(HITS_KEY, {}).get((span.start, span.end), ("", ()))
    return tuple(h if isinstance(h, CodeHit) else CodeHit(*h) for h in hits)


if not Span.has_extension("medcode_codes"):
    Span.set_extension("medcode_codes", getter=_span_codes)


@Language.factory(
    "medcode_mentions",
    assigns=["doc.spans", "span._.medcode_codes"],
    requires=["token.is_sent_start"],
    default_config={"max_words": MAX_ALIAS_WORDS},
)
def make_mentions(nlp: Language, name: str, max_words: int) -> MentionMatcher:
    return MentionMatcher(name, max_words=max_words)


class MentionMatcher:
    """Alias-lexicon mention detector (stateful: the lexicon is saved with the pipeline)."""

    def __init__(self, name: str = "medcode_mentions", *, max_words: int = MAX_ALIAS_WORDS):
        self.name = name
        self.max_words = max_words
        # Stored compactly: a code table and, per key, a packed string of "code index,source
        # index,weight" triples, parsed only when a note hits the key. A model loads ~10x faster
        # than with one Python object per hit, and most keys are never hit.
        self._codes: list[tuple[str, str]] = []
        self._packed: dict[str, str] = {}
        self._known: set[str] = set()
        self._parsed: dict[str, tuple[CodeHit, ...]] = {}
        #: The span label of each key parsed so far (as many as ``_parsed``).
        self._labels: dict[str, str] = {}
        #: What each token text is to the windows (:func:`content_windows`), for this lexicon's words.
        self._kinds: dict[int, tuple[str, ...] | bool | None] = {}

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   lexicon: dict[str, Iterable] | None = None) -> None:
        """Set the lexicon (``{alias key: [(code, system, source, weight), ...]}``)."""
        if lexicon is not None:
            self.set_lexicon(lexicon)

    def set_lexicon(self, lexicon: dict[str, Iterable]) -> None:
        """Replace the lexicon."""
        index: dict[tuple[str, str], int] = {}
        packed = {}
        for key, hits in lexicon.items():
            parts = []
            for code, system, source, weight in hits:
                i = index.setdefault((code, system), len(index))
                parts.append(f"{i},{SOURCES.index(source)},{weight:g}")
            packed[key] = ";".join(parts)
        self._codes = list(index)
        self._packed = packed
        self._known = {word for key in packed for word in key.split()}
        self._parsed, self._labels, self._kinds = {}, {}, {}

    def __len__(self) -> int:
        return len(self._packed)

    def lookup(self, key: str) -> tuple[CodeHit, ...]:
        """The codes an alias key names (empty when none)."""
        hits = self._parsed.get(key)
        if hits is None:
            packed = self._packed.get(key)
            if packed is None:
                return ()
            hits = []
            for part in packed.split(";"):
                i, source, weight = part.split(",")
                code, system = self._codes[int(i)]
                hits.append(CodeHit(code, system, SOURCES[int(source)], float(weight)))
            hits = self._parsed[key] = tuple(hits)
        return hits

    def __call__(self, doc: Doc) -> Doc:
        spans, found = [], {}
        lookup, labels = self.lookup, self._labels
        for start, end, key in content_windows(doc, self.max_words, self._known, self._packed, self._kinds):
            hits = lookup(key)
            label = labels.get(key)
            if label is None:
                label = labels[key] = span_label(hits)
            found[(start, end)] = (key, hits)
            spans.append(Span(doc, start, end, label=label))
        # Codes live in one dict per doc, read by the span extension's getter: cheaper than an
        # extension value per span, and keyed by token offsets, so each stretch has one entry.
        doc.user_data[HITS_KEY] = found
        doc.spans[MENTIONS_KEY] = spans
        return doc

    def to_bytes(self, *, exclude=()) -> bytes:
        payload = {"max_words": self.max_words, "codes": self._codes, "words": sorted(self._known),
                   "lexicon": self._packed}
        return gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), mtime=0)

    def from_bytes(self, data: bytes, *, exclude=()) -> MentionMatcher:
        payload = json.loads(gzip.decompress(data))
        self.max_words = payload["max_words"]
        self._codes = [tuple(c) for c in payload["codes"]]
        self._packed = payload["lexicon"]
        self._known = set(payload["words"])
        self._parsed, self._labels, self._kinds = {}, {}, {}
        return self

    def to_disk(self, path, *, exclude=()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / LEXICON_FILE).write_bytes(self.to_bytes())

    def from_disk(self, path, *, exclude=()) -> MentionMatcher:
        return self.from_bytes((Path(path) / LEXICON_FILE).read_bytes())


def span_label(hits: tuple[CodeHit, ...]) -> str:
    """``DIAGNOSIS``, ``PROCEDURE``, or ``DIAGNOSIS_OR_PROCEDURE`` when the alias names both."""
    systems = {h.system for h in hits}
    return LABELS[systems.pop()] if len(systems) == 1 else MIXED_LABEL


#: What :func:`content_windows` caches per token text: no key word (a window ends there), or not a content word.
_BREAK, _SKIP = False, None
_UNSEEN = object()
#: Token texts whose kind a matcher keeps (a few MB: the texts of a few thousand notes).
KINDS_KEPT = 500_000


def _kind(orth: int, vocab, known: set[str] | None) -> tuple[str, ...] | bool | None:
    """What a token text is to the windows: its content words, :data:`_SKIP` or :data:`_BREAK`."""
    lexeme = vocab[orth]
    if lexeme.is_punct or lexeme.is_space:
        return _SKIP
    words = norm_words(lexeme.orth_)
    if not words:
        return _SKIP
    return _BREAK if known is not None and not known.issuperset(words) else words


def content_windows(doc: Doc, max_words: int, known: set[str] | None = None, keys=None,
                    kinds: dict | None = None) -> Iterator[tuple[int, int, str]]:
    """Every window of up to ``max_words`` content tokens within a sentence, as (start, end, key).

    Reads token attributes as one array (no Token objects): this loop is the matcher's hot path.
    With ``known`` (the words of a lexicon), windows stop at a word no key contains: no key can
    match them, and most words of a note are such words. With ``keys``, only the windows whose key
    is one of them. ``kinds`` keeps what each token text is (:func:`_kind`: it depends on the text and
    ``known`` only) across calls with the same ``known``: a norm, a punctuation and a lexicon test per
    token were a third of the matcher's time.
    """
    kinds = {} if kinds is None else kinds
    vocab = doc.vocab
    # Runs of consecutive content tokens that windows may span: a run ends at a sentence start
    # and (with ``known``) at a word no lexicon key has, which no window can cross.
    run: list[tuple[int, tuple[str, ...]]] = []
    rows = doc.to_array([ORTH, SENT_START]).tolist() if len(doc) else []
    for i, (orth, sent_start) in enumerate(rows):
        if sent_start == 1 and run:
            yield from _windows(run, max_words, keys)
            run = []
        kind = kinds.get(orth, _UNSEEN)
        if kind is _UNSEEN:
            kind = _kind(orth, vocab, known)
            if len(kinds) < KINDS_KEPT:
                kinds[orth] = kind
        if kind:
            run.append((i, kind))
        elif kind is _BREAK and run:
            yield from _windows(run, max_words, keys)
            run = []
    if run:
        yield from _windows(run, max_words, keys)


def _windows(run: list[tuple[int, tuple[str, ...]]], max_words: int, keys=None) -> list[tuple[int, int, str]]:
    # ~670 windows a CodiEsp dev note: the bag is kept as a sorted list, re-sorted and joined only when a token
    # adds a word, and the windows come back as one list (no generator step each). With the labels cached per
    # key, the matcher went from 1.43 to 1.13 ms of CPU a CodiEsp dev note.
    out = []
    n = len(run)
    for a in range(n):
        start, words = run[a]
        bag = sorted(set(words))
        key = " ".join(bag)
        if keys is None or key in keys:
            out.append((start, start + 1, key))
        for b in range(a + 1, min(a + max_words, n)):
            end, words = run[b]
            added = False
            for w in words:
                if w not in bag:
                    bag.append(w)
                    added = True
            if added:
                bag.sort()
                key = " ".join(bag)
            if keys is None or key in keys:
                out.append((start, end + 1, key))
    return out


def window_keys(doc: Doc, max_words: int) -> set[str]:
    """All alias keys of a doc's windows: training learns aliases from exactly what the matcher sees."""
    return {key for _, _, key in content_windows(doc, max_words)}
