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
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from spacy.attrs import ORTH, SENT_START
from spacy.language import Language
from spacy.strings import hash_string
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from medcode.about import CM, MAX_ALIAS_WORDS, MENTIONS_KEY, PCS
from medcode.textnorm import norm_words

LEXICON_FILE = "lexicon.json.gz"
LABELS = {CM: "DIAGNOSIS", PCS: "PROCEDURE"}
#: Label of a span whose alias names both diagnosis and procedure codes.
MIXED_LABEL = "DIAGNOSIS_OR_PROCEDURE"
_ALL_LABELS = (*LABELS.values(), MIXED_LABEL)
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
#: Where a doc keeps the id of the span group the matcher made (which holds one span per extent of the hits).
GROUP_KEY = "medcode_group"


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
        #: The span label (its hash) of each key parsed so far (as many as ``_parsed``).
        self._labels: dict[str, int] = {}
        #: What each token text is to the windows (:func:`content_windows`), for this lexicon's words.
        self._kinds: dict[int, tuple[str, ...] | bool | None] = {}
        #: Each key word's companions in some key (:func:`companions`), made on the first note.
        self._companions: dict[str, frozenset[str]] | None = None

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
        self._parsed, self._labels, self._kinds, self._companions = {}, {}, {}, None

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
        lookup, parsed, labels = self.lookup, self._parsed, self._labels
        if self._companions is None:
            self._companions = companions(self._packed)
        # Labels as hashes (a Span given a label string adds it to the strings: 0.02 ms of a CodiEsp dev note's
        # ~100 spans); the doc's strings get them once.
        strings = doc.vocab.strings
        for label in _ALL_LABELS:
            strings.add(label)
        for start, end, key in content_windows(doc, self.max_words, self._known, self._packed, self._kinds,
                                               self._companions):
            hits = parsed.get(key) or lookup(key)
            label = labels.get(key)
            if label is None:
                label = labels[key] = hash_string(span_label(hits))
            found[(start, end)] = (key, hits)
            spans.append(Span(doc, start, end, label=label))
        # Codes live in one dict per doc, read by the span extension's getter: cheaper than an
        # extension value per span, and keyed by token offsets, so each stretch has one entry.
        doc.user_data[HITS_KEY] = found
        doc.spans[MENTIONS_KEY] = spans
        doc.user_data[GROUP_KEY] = id(doc.spans[MENTIONS_KEY])
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
        self._parsed, self._labels, self._kinds, self._companions = {}, {}, {}, None
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
_ALONE: frozenset[str] = frozenset()  # the companions of a word no key has
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


def companions(keys: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each word of the keys -> the words it shares a key with (itself included).

    A window whose bag has a word outside a new word's companions is in no key, and neither is any longer
    window from the same start: :func:`_windows` stops there. That skips 60% of a CodiEsp dev note's ~670
    windows (274 are pairwise possible; 100 are keys), each a sort, a join and a lookup in a 115,000-key dict.
    """
    # Built on a matcher's first note, not at load: 0.3 s and 22 MB for the default model's 115,000 keys.
    found: defaultdict[str, set[str]] = defaultdict(set)
    for key in keys:
        words = key.split()
        for word in words:
            found[word].update(words)
    return {word: frozenset(words) for word, words in found.items()}


def content_windows(doc: Doc, max_words: int, known: set[str] | None = None, keys=None,
                    kinds: dict | None = None, mates: dict[str, frozenset[str]] | None = None,
                    ) -> Iterator[tuple[int, int, str]]:
    """Every window of up to ``max_words`` content tokens within a sentence, as (start, end, key).

    Reads token attributes as one array (no Token objects): this loop is the matcher's hot path.
    With ``known`` (the words of a lexicon), windows stop at a word no key contains: no key can
    match them, and most words of a note are such words. With ``keys``, only the windows whose key
    is one of them. ``kinds`` keeps what each token text is (:func:`_kind`: it depends on the text and
    ``known`` only) across calls with the same ``known``: a norm, a punctuation and a lexicon test per
    token were a third of the matcher's time. ``mates`` (:func:`companions` of ``keys``) stops a start's windows
    once they hold two words no key has together.
    """
    kinds = {} if kinds is None else kinds
    vocab = doc.vocab
    # Runs of consecutive content tokens that windows may span: a run ends at a sentence start
    # and (with ``known``) at a word no lexicon key has, which no window can cross.
    run: list[tuple[int, tuple[str, ...]]] = []
    rows = doc.to_array([ORTH, SENT_START]).tolist() if len(doc) else []
    for i, (orth, sent_start) in enumerate(rows):
        if sent_start == 1 and run:
            yield from _windows(run, max_words, keys, mates)
            run = []
        kind = kinds.get(orth, _UNSEEN)
        if kind is _UNSEEN:
            kind = _kind(orth, vocab, known)
            if len(kinds) < KINDS_KEPT:
                kinds[orth] = kind
        if kind:
            run.append((i, kind))
        elif kind is _BREAK and run:
            yield from _windows(run, max_words, keys, mates)
            run = []
    if run:
        yield from _windows(run, max_words, keys, mates)


def _windows(run: list[tuple[int, tuple[str, ...]]], max_words: int, keys=None,
             mates: dict[str, frozenset[str]] | None = None) -> list[tuple[int, int, str]]:
    # ~670 windows a CodiEsp dev note: the bag is kept as a sorted list, joined only when a token adds a word,
    # and the windows come back as one list (no generator step each). With the labels cached per key, the matcher
    # went from 1.43 to 1.13 ms of CPU a CodiEsp dev note. A one-word start needs no sort nor join, a word goes
    # in by insort, and an unchanged bag keeps its lookup: 0.47 -> 0.36 ms a note; with ``mates``, 0.26 (in-process,
    # best of 7, the runs of CodiEsp dev).
    out = []
    append = out.append
    n = len(run)
    for a in range(n):
        start, words = run[a]
        if len(words) == 1:
            key = words[0]
            bag = [key]
        else:
            bag = sorted(set(words))
            key = " ".join(bag)
        hit = keys is None or key in keys
        if hit:
            append((start, start + 1, key))
        for b in range(a + 1, min(a + max_words, n)):
            end, words = run[b]
            added = False
            for w in words:
                if w not in bag:
                    if mates is not None and not mates.get(w, _ALONE).issuperset(bag):
                        break
                    insort(bag, w)
                    added = True
            else:
                if added:  # an unchanged bag is the last window's key, looked up already
                    key = " ".join(bag)
                    hit = keys is None or key in keys
                if hit:
                    append((start, end + 1, key))
                continue
            break  # no key holds this bag, nor any bag a longer window adds to it
    return out


def window_keys(doc: Doc, max_words: int) -> set[str]:
    """All alias keys of a doc's windows: training learns aliases from exactly what the matcher sees."""
    return {key for _, _, key in content_windows(doc, max_words)}
