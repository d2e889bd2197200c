"""``medcode_context``: assertion status of each mention, ConText style, with rules as data.

Each mention gets five flags: ``span._.is_negated``, ``is_historical``, ``is_family``,
``is_hypothetical`` and ``is_uncertain``. A flag is set when the mention lies in the scope of a
trigger of that category (rules in ``medcode/data/context_rules.json``), or in a section whose header
sets it ("Family history:"). A mention inside a trigger phrase (the "history" of "family history of")
is not in its scope.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from importlib import resources
from pathlib import Path

import numpy as np
from spacy.attrs import ORTH, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.strings import hash_string
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from medcode.about import MENTIONS_KEY, NEGATED, STATUSES
from medcode.nlp.matcher import GROUP_KEY, HITS_KEY

RULES_FILE = "context_rules.json"
CATEGORIES = STATUSES
#: Span extension set for each category.
ATTRS = {c: f"is_{c.lower()}" for c in CATEGORIES}

#: Where a doc keeps ``{(start token, end token): (category, ...)}`` for its mentions.
STATUS_KEY = "medcode_status"
_COLON = hash_string(":")
_NONE: tuple[list, list[int], list[int]] = ([], [], [])  # the triggers and terminators of a sentence without any
#: Terminators of a negation's scope only (``negation_terminators``): "no LOC, dx concussion" negates no concussion,
#: while "mother diagnosed with breast cancer" stays the mother's (f8-025: S06.0X0A had been set aside as negated).
_NEGATION_STOP = "TERMINATE_NEGATED"


def span_status(span: Span) -> tuple[str, ...]:
    """The assertion categories of a mention (empty: affirmed, current, the patient's)."""
    return tuple(span.doc.user_data.get(STATUS_KEY, {}).get((span.start, span.end), ()))


def _getter(category: str):
    return lambda span: category in span_status(span)


for _category, _attr in ATTRS.items():
    if not Span.has_extension(_attr):
        Span.set_extension(_attr, getter=_getter(_category))


def default_rules() -> dict:
    """The rules shipped with medcode."""
    return json.loads(resources.files("medcode.data").joinpath(RULES_FILE).read_text("utf-8"))


@Language.factory(
    "medcode_context",
    assigns=[f"span._.{a}" for a in ATTRS.values()],
    requires=["doc.spans"],
    default_config={"spans_key": MENTIONS_KEY},
)
def make_context(nlp: Language, name: str, spans_key: str) -> ContextAnnotator:
    return ContextAnnotator(nlp, name, spans_key=spans_key)

#: Docs whose sentences and triggers are kept (see :meth:`ContextAnnotator._read`): the coding engine matches
#: the sentences of at most this many docs at once (medcode.nlp.engine.CodingEngine.pipe), then asks each
#: doc's statuses; batches of 8, 32 and 128 CodiEsp dev notes matched at 0.84, 0.81 and 0.81 ms a note.
DOCS_KEPT = 32


class ContextAnnotator:
    """Rule-based assertion status (stateful: its rules are saved with the pipeline)."""

    def __init__(self, nlp: Language, name: str = "medcode_context", *, spans_key: str = MENTIONS_KEY):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.rules: dict = {}
        self._matcher: PhraseMatcher | None = None
        self._meta: dict[str, tuple[str, str]] = {}
        #: The last docs read, by id: (doc, its length, its sentences, their headers, their triggers).
        self._memo: dict[int, tuple] = {}

    def initialize(self, get_examples=None, *, nlp: Language | None = None, rules: dict | None = None) -> None:
        """Load the rules: the given ones, or those shipped with medcode."""
        self.set_rules(rules or default_rules())

    def set_rules(self, rules: dict) -> None:
        """Compile a rules object (the layout of ``context_rules.json``)."""
        self.rules = rules
        self._memo = {}
        self._matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._meta = {}

        def add(label: str, kind: str, direction: str, phrases) -> None:
            self._meta[label] = (kind, direction)
            self._matcher.add(label, [self.nlp.make_doc(p) for p in phrases])

        for category, directions in rules["triggers"].items():
            for direction, phrases in directions.items():
                if phrases:
                    add(f"{category}|{direction}", category, direction, phrases)
        add("PSEUDO", "PSEUDO", "", rules["pseudo"])
        add("TERMINATE", "TERMINATE", "", rules["terminators"])
        add(_NEGATION_STOP, _NEGATION_STOP, "", rules.get("negation_terminators", []))
        self._sections = {h.lower(): c for h, c in rules["sections"].items()}

    def _section_status(self, doc: Doc, start: int, end: int, orths: list[int]) -> tuple[bool, str | None, bool]:
        """Whether the sentence ``doc[start:end]`` opens with a known header, the status it sets, and whether the
        header stands alone (then it rules until the next header; an inline one only its sentence)."""
        # The colon is looked for in the doc's ORTH array: a Token object for each of a sentence's first tokens
        # was most of this method's time (35 sentences a CodiEsp dev note; few have a colon up front).
        for n in (4, 3, 2, 1):
            if end - start > n and orths[start + n] == _COLON:
                sent = doc[start:end]
                header = sent[:n].text.lower()
                if header in self._sections:
                    alone = all(t.is_space or t.is_punct for t in sent[n + 1:])
                    return True, self._sections[header], alone
        return False, None, False

    def __call__(self, doc: Doc) -> Doc:
        group = doc.spans.get(self.spans_key)
        extents = doc.user_data.get(HITS_KEY)
        # The alias matcher's group has a span for each extent of its hits, and nothing else: read them there, not
        # from a Span object per mention (~100 a CodiEsp dev note: 0.1 ms), unless the group is another by now.
        if group is None or not (self.spans_key == MENTIONS_KEY and extents is not None and len(extents) == len(group)
                                 and doc.user_data.get(GROUP_KEY) == id(group)):
            extents = {(s.start, s.end) for s in group or ()}
        doc.user_data[STATUS_KEY] = self.statuses(doc, extents)
        return doc

    def statuses(self, doc: Doc, extents) -> dict[tuple[int, int], tuple[str, ...]]:
        """The statuses of token extents ``(start, end)`` of a doc (extents without one are left out).

        The coding engine calls this for the extents it adds after this component has run.
        """
        if self._matcher is None:
            raise ValueError("medcode_context has no rules: call nlp.initialize() or load a saved pipeline")
        found: dict[tuple[int, int], tuple[str, ...]] = {}
        mentions = sorted(extents)
        if not mentions:
            return found
        bounds, orths, headers, matched = self._read(doc)
        section, m = None, 0
        for k, (start, end) in enumerate(bounds):
            header = headers.get(k)
            if header is None:
                header = headers[k] = self._section_status(doc, start, end, orths)
            is_header, status, alone = header
            if is_header:
                section = status if alone else None
            first = m
            while m < len(mentions) and mentions[m][0] < end:
                m += 1
            if m > first:
                if not matched:
                    matched.update(self._match(doc, bounds))
                    matched[-1] = _NONE  # matched, if without any match
                triggers = matched.get(k, _NONE)
                found.update(self._annotate(start, triggers, mentions[first:m],
                                            status if is_header and not alone else section))
            if m == len(mentions):
                break
        return found

    def _read(self, doc: Doc) -> tuple[list[tuple[int, int]], list[int], dict, dict]:
        """The doc's sentences (token bounds), its ORTH array, and the headers and triggers found in its sentences
        so far (kept for the last docs read: the engine asks for its extents' statuses twice after this component
        ran on the same doc, and the sentences, headers and trigger matches were computed anew each time, 0.5 of a
        CodiEsp dev note's ms; the engine codes a batch of docs after this component read them all, see
        :data:`DOCS_KEPT`)."""
        memo = self._memo.get(id(doc))
        if memo is None or memo[0] is not doc or memo[1] != len(doc):
            if len(self._memo) >= DOCS_KEPT:
                del self._memo[next(iter(self._memo))]  # the oldest
            memo = self._memo[id(doc)] = (doc, len(doc), *_sentences(doc), {}, {})
        return memo[2], memo[3], memo[4], memo[5]

    def _match(self, doc: Doc, bounds: list[tuple[int, int]]) -> dict[int, tuple[list, list[int], list[int]]]:
        """The triggers and terminators of each sentence that has some (see :meth:`_triggers`), by sentence number."""
        # One phrase-matcher call on the doc, its matches within a sentence kept: one call per sentence with a
        # mention (~16 a CodiEsp dev note) was 6 us each. The matcher finds every match, overlapping ones too,
        # so a sentence gets the same ones either way.
        strings, starts = self.nlp.vocab.strings, [start for start, _ in bounds]
        by_sentence: dict[int, list] = {}
        for m, s, e in self._matcher(doc, as_spans=False):
            k = bisect_right(starts, s) - 1
            if e <= bounds[k][1]:
                by_sentence.setdefault(k, []).append((strings[m], s - starts[k], e - starts[k]))
        return {k: self._triggers(matches) for k, matches in by_sentence.items()}

    def _triggers(self, matches: list[tuple[str, int, int]]) -> tuple[list, list[int], list[int]]:
        """A sentence's triggers (``((category, direction), start, end)``), terminators and a negation's
        terminators (those and ``negation_terminators``), from its matches (label, start, end; sentence offsets)."""
        # A pseudo-trigger hides the triggers it overlaps ("no change" is not a negation).
        pseudo = [(s, e) for label, s, e in matches if label == "PSEUDO"]
        stops = sorted(s for label, s, _ in matches if label == "TERMINATE")
        negation_stops = sorted(s for label, s, _ in matches if label == _NEGATION_STOP)
        triggers = [(self._meta[label], s, e) for label, s, e in matches
                    if label not in ("PSEUDO", "TERMINATE", _NEGATION_STOP)
                    and not any(ps <= s < pe or ps < e <= pe for ps, pe in pseudo)]
        # Longest match wins: "no history of" is a negation, not also a history.
        triggers = [t for t in triggers
                    if not any(o is not t and o[1] <= t[1] and t[2] <= o[2] and (o[2] - o[1]) > (t[2] - t[1])
                               for o in triggers)]
        return triggers, stops, sorted(stops + negation_stops) if negation_stops else stops

    def _annotate(self, offset: int, found: tuple[list, list[int], list[int]], spans: list[tuple[int, int]],
                  section: str | None) -> dict:
        triggers, any_stops, negation_stops = found
        out = {}
        for start, end in spans:
            s0, e0 = start - offset, end - offset
            flags = {section} if section else set()
            for (category, direction), ts, te in triggers:
                if ts < e0 and s0 < te:  # the mention overlaps the trigger itself
                    continue
                stops = negation_stops if category == NEGATED else any_stops
                forward = direction in ("forward", "bidirectional") and te <= s0 and not any(te <= x <= s0 for x in stops)
                backward = direction in ("backward", "bidirectional") and e0 <= ts and not any(e0 <= x < ts for x in stops)
                if forward or backward:
                    flags.add(category)
            if flags:
                out[(start, end)] = tuple(c for c in CATEGORIES if c in flags)
        return out

    def to_disk(self, path, *, exclude=()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / RULES_FILE).write_text(json.dumps(self.rules, indent=1), encoding="utf-8")

    def from_disk(self, path, *, exclude=()) -> ContextAnnotator:
        self.set_rules(json.loads((Path(path) / RULES_FILE).read_text("utf-8")))
        return self


def _sentences(doc: Doc) -> tuple[list[tuple[int, int]], list[int]]:
    """A doc's sentences as token bounds, from its SENT_START array (a Span object per sentence was 35 of them a
    CodiEsp dev note, for the ~16 that hold a mention), and its ORTH array."""
    if not len(doc):
        return [], []
    rows = doc.to_array([ORTH, SENT_START])
    starts = np.flatnonzero(rows[:, 1] == 1).tolist()
    if not starts:  # no sentence starts set here: doc.sents knows the other sources, or raises
        return [(s.start, s.end) for s in doc.sents], rows[:, 0].tolist()
    if starts[0] != 0:
        starts.insert(0, 0)
    return list(zip(starts, starts[1:] + [len(doc)])), rows[:, 0].tolist()


def status(span: Span) -> list[str]:
    """The assertion categories set on a mention (empty: affirmed, current, the patient's)."""
    return list(span_status(span))
