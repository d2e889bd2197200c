"""``medcode_engine``: the coding engine as a spaCy component, after ``medcode_context``.

For each sentence it finds the ICD-10-CM codes whose descriptions the sentence carries (see
:mod:`medcode.coding.engine`), adds each as a mention over the words that name it (a span of the
``medcode_mentions`` group whose hits have source ``engine``), and gives those spans their assertion
status with the context component's rules. A condition named as a relative's becomes the family-history
code (Z80-Z84) instead; one named as past becomes the personal-history code (Z85-Z87) besides. The 7th
character of injury and poisoning codes comes from the note's encounter (:mod:`medcode.coding.encounter`); an
adult BMI, weeks-of-gestation or burn-extent code from a stated value (:mod:`medcode.coding.measurements`);
combination and history codes from the codes of the note's conditions (:mod:`medcode.coding.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path, minibatch

from medcode.about import CM, FAMILY, HISTORICAL, HYPOTHETICAL, MENTIONS_KEY, NEGATED, PCS
from medcode.coding import FAMILY_HISTORY, PERSONAL_HISTORY
from medcode.coding.assertions import overruled_status
from medcode.coding.chapters import outside_record
from medcode.coding.devices import cardiac_device_codes
from medcode.coding.encounter import seventh_character
from medcode.coding.engine import Matcher
from medcode.coding.index import CodeIndex
from medcode.coding.labs import lab_finding_codes
from medcode.coding.laterality import SidePairs
from medcode.coding.measurements import VALUE_CATEGORIES, ValueRanges, trimester, value_codes
from medcode.coding.newborn import NEWBORN_CATEGORIES, NewbornCodes
from medcode.coding.receptors import RECEPTOR_CATEGORY, receptor_codes
from medcode.coding.regions import read_regions
from medcode.coding.rules import (
    COMBINATION_RANK,
    absence_codes,
    combination_codes,
    elevated_bp_codes,
    follow_up_codes,
    therapy_encounter_codes,
)
from medcode.coding.screening import observation_codes, screening_codes
from medcode.coding.stated import stated_codes
from medcode.coding.tables import table_codes
from medcode.coding.transport import transport_codes
from medcode.coding.trimesters import TrimesterCodes
from medcode.nlp.context import DOCS_KEPT, STATUS_KEY
from medcode.nlp.histories import add_histories
from medcode.nlp.matcher import HITS_KEY, CodeHit, span_label
from medcode.nlp.reading import (
    SentenceReader,
    own_count,
    planned_only,
    procedural_sentences,
    shared_words,
)
from medcode.textnorm import alias_key

#: Codes the engine proposes per sentence.
PER_SENTENCE = 8
#: ICD-10-PCS codes (or prefixes) the composer proposes per sentence.
PCS_PER_SENTENCE = 3
#: Index subsets kept for completing table codes (a prefix each).
_SUBSETS_KEPT = 2048
#: Statuses under which a condition is not the patient's current one, so it joins no combination.
_NOT_CURRENT = frozenset({NEGATED, FAMILY, HISTORICAL, HYPOTHETICAL})
#: Where a doc keeps the engine's codes when the engine is asked to remember them.
_REMEMBERED = "medcode_engine_codes"


@Language.factory(
    "medcode_engine",
    assigns=["doc.spans", "span._.medcode_codes"],
    requires=["doc.spans", "token.is_sent_start"],
    default_config={"per_sentence": PER_SENTENCE},
)
def make_engine(nlp: Language, name: str, per_sentence: int) -> CodingEngine:
    return CodingEngine(nlp, name, per_sentence=per_sentence)


class CodingEngine:
    """Finds the codes each sentence describes (stateful: the code index is saved with the pipeline)."""

    def __init__(self, nlp: Language, name: str = "medcode_engine", *, per_sentence: int = PER_SENTENCE):
        self.nlp = nlp
        self.name = name
        self.per_sentence = per_sentence
        self.index: CodeIndex | None = None
        self._matchers: dict[str, Matcher] = {}
        self._subsets: dict[str, tuple[Matcher, set[str]] | None] = {}
        self._reader = SentenceReader()
        #: Keep each doc's engine codes in the doc (training: the same docs pass once per fold).
        self.remember = False

    def initialize(self, get_examples=None, *, nlp: Language | None = None, index: CodeIndex | None = None) -> None:
        """Set the code index (built from the code sets at training time)."""
        if index is not None:
            self.set_index(index)

    def set_index(self, index: CodeIndex) -> None:
        self.index = index
        self._matchers = {}
        self._subsets = {}
        self._positions = {code: i for i, code in enumerate(index.codes)}
        self._trimesters = TrimesterCodes(index, self._positions)
        self._ranges: ValueRanges | None = None
        self._newborn: NewbornCodes | None = None
        self._sides = SidePairs(index.codes, index.titles)

    def _value_ranges(self) -> ValueRanges:
        """The BMI and gestation ranges of the index's release, from its titles (computed once)."""
        if self._ranges is None:
            self._ranges = ValueRanges.from_titles((code, title) for code, title in zip(self.index.codes, self.index.titles)
                                                   if code.startswith(VALUE_CATEGORIES))
        return self._ranges

    def _newborn_codes(self) -> NewbornCodes:
        """The P07 ranges, Z38 and newborn examination codes of the index's release, from its titles (computed once)."""
        if self._newborn is None:
            self._newborn = NewbornCodes.from_titles((code, title) for code, title in zip(self.index.codes, self.index.titles)
                                                     if code.startswith(NEWBORN_CATEGORIES))
        return self._newborn

    def refine(self, prefix: str, words: set[str]) -> str | None:
        """The reportable code a table's code or prefix becomes with the sentence's words (side, 7th character)."""
        position = self._positions.get(prefix)
        if position is None:
            entry = self._subsets.get(prefix, False)
            if entry is False:
                subset = self.index.subset((prefix,))
                # The prefix's shared words with its matcher: reading them was 0.35 ms a call.
                entry = (Matcher(subset), shared_words(subset)) if subset.codes else None
                if len(self._subsets) < _SUBSETS_KEPT:
                    self._subsets[prefix] = entry
            if entry is None:
                return None
            matcher, shared = entry
            found = matcher.match([words | shared], 1)[0]
            if not found:
                return None
            return self._complete(matcher.index, found[0].code, words)
        return self._complete(self.index, position, words)

    def seventh_of(self, base: str) -> dict[str, str] | None:
        """The valid 7th characters of a code without its 7th (``{character: meaning}``), if it takes one."""
        position = self._positions.get(base) if self.index is not None else None
        return self.index.seventh.get(position) if position is not None else None

    @staticmethod
    def _complete(index: CodeIndex, position: int, words: set[str]) -> str:
        options = index.seventh.get(position)
        return index.codes[position] + (seventh_character(options, words) if options else "")

    def _matcher(self, kind: str) -> Matcher:
        # The history matchers search only their Z-code categories; built on first use.
        matcher = self._matchers.get(kind)
        if matcher is None:
            prefixes = {"family": FAMILY_HISTORY, "personal": PERSONAL_HISTORY}.get(kind)
            matcher = self._matchers[kind] = Matcher(self.index if prefixes is None else self.index.subset(prefixes))
        return matcher

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 64) -> Iterator[Doc]:
        """The docs of a batch share one match of all their sentences: a match per doc cost 0.25 ms of a CodiEsp
        dev note in fixed costs (a sentence's matches are its own, the same in any batch)."""
        for batch in minibatch(docs, size=min(batch_size, DOCS_KEPT)):
            read = [self._read(doc) for doc in batch]
            bags = [bag for r in read if r is not None for bag in r[2]]
            found = iter(self._matcher("all").match(bags, self.per_sentence) if bags else ())
            for doc, r in zip(batch, read):
                if r is not None:
                    self._code(doc, *r, [next(found) for _ in r[2]])
                yield doc

    def _read(self, doc: Doc) -> tuple | None:
        """A doc's sentences, drug codes, sentence bags and note words; ``None`` when it needs no coding."""
        if self.index is None:
            return None
        remembered = doc.user_data.get(_REMEMBERED)
        if remembered is not None:
            # Training runs the pipeline after the sentences once per fold on the same docs; the engine's
            # codes do not depend on the fold's learned aliases, so they are computed once.
            hits, keys, statuses = remembered
            known = doc.user_data.setdefault(STATUS_KEY, {})
            known.update({extent: status for extent, status in statuses.items() if extent not in known})
            self._store(doc, {extent: list(found) for extent, found in hits.items()}, keys)
            return None
        sentences = self._reader.words(doc)
        drugs = self._reader.expand(doc, sentences)
        bags = [{w for _, words in sent for w in words} for sent in sentences]
        planned = planned_only(doc)
        if planned:  # a follow-up that is only planned says nothing of this encounter (nor is it Z09's)
            bags = [bag - planned for bag in bags]
        for bag in bags:  # a joint's or the skin's site by its region: great toe -> ankle and foot (medcode.coding.regions)
            read_regions(bag)
        note_words = set().union(*bags) if bags else set()
        return sentences, drugs, bags, note_words

    def _code(self, doc: Doc, sentences: list, drugs: list, bags: list, note_words: set[str], found: list) -> None:
        """Code one doc from what :meth:`_read` read and the match of its sentences."""
        hits: dict[tuple[int, int], list[CodeHit]] = {}
        keys: dict[tuple[int, int], str] = {}
        # A sentence's words are among the note's (note_words is their union): the 7th character reads the
        # note's words, without a new set per match (0.4 ms of a CodiEsp dev note).
        for sent, matches in zip(sentences, found):
            for rank, match in enumerate(matches):
                self._add(hits, keys, sent, match, rank, note_words)
        for start, end, code in drugs:
            hits.setdefault((start, end), []).append(CodeHit(code, CM, "engine", 1.0, 0))
            keys.setdefault((start, end), alias_key(["long", "term", "use", code]))
        text = doc.text  # Doc.text joins a Token object per token on each read (8 reads: 1.1 ms of a dev note)
        values = (value_codes(text, self._value_ranges()) + self._newborn_codes().newborn_codes(text)
                  + absence_codes(text) + follow_up_codes(text) + receptor_codes(text) + elevated_bp_codes(text)
                  + therapy_encounter_codes(text) + transport_codes(text, self.refine, note_words)
                  + screening_codes(text) + observation_codes(text) + lab_finding_codes(text))
        signed = set()  # receptor statuses read with their sign (medcode.coding.assertions)
        for system, found_codes in ((CM, values), (PCS, cardiac_device_codes(text))):
            for start_char, end_char, code in found_codes:
                span = doc.char_span(start_char, end_char, alignment_mode="expand")
                if span is not None and len(span):
                    hits.setdefault((span.start, span.end), []).append(CodeHit(code, system, "engine", 1.0, 0))
                    keys.setdefault((span.start, span.end), alias_key(["value", code]))
                    if code.startswith(RECEPTOR_CATEGORY):
                        signed.add((span.start, span.end))
        pcs_tokens = {i for (start, end), (_, found) in doc.user_data.get(HITS_KEY, {}).items()
                      if any(h[1] == PCS for h in found) for i in range(start, end)}
        self._tables_and_procedures(sentences, hits, keys, note_words, pcs_tokens)
        statuses = self._statuses(doc, hits, frozenset(signed))
        self._combinations(doc, hits, keys, statuses, note_words)
        add_histories(self, doc, sentences, bags, hits, keys, statuses, note_words)
        self._trimesters.apply(hits, next((trimester(code) for _, _, code in values if code.startswith("Z3A")), None))
        statuses = self._statuses(doc, hits)  # the history codes' extents too
        if self.remember:
            doc.user_data[_REMEMBERED] = ({e: tuple(h) for e, h in hits.items()}, dict(keys),
                                          {e: statuses[e] for e in hits if e in statuses})
        self._store(doc, hits, keys)

    def _add(self, hits: dict, keys: dict, sent: list, match, rank: int, words: set[str], index: CodeIndex | None = None):
        index = index or self.index
        # The code's tests first, then the sentence's tokens (a scan of the sentence per match, 19,148 on CodiEsp dev).
        code = base = index.codes[match.code]
        if code.startswith(VALUE_CATEGORIES):
            return  # coded from the stated value (medcode.coding.measurements), not from words
        if outside_record(code, words):
            return  # a pregnancy's or a newborn's code in a note that names neither (medcode.coding.chapters)
        vocab_words = {index.words[c] for c in match.columns}
        tokens = [i for i, ws in sent if not vocab_words.isdisjoint(ws)]
        if not tokens:
            return
        if "right" in words and "left" in words and index is self.index:  # a note that names both sides
            code = base = self._sides.nearest(base, vocab_words, sent)
        extent = (min(tokens), max(tokens) + 1)
        options = index.seventh.get(match.code)
        if options:
            code += seventh_character(options, words)
        hits.setdefault(extent, []).append(CodeHit(code, CM, "engine", round(match.coverage, 3), rank))
        for side in self._sides.both(base, sent) if rank == 0 and index is self.index else ():
            hits[extent].append(CodeHit(side + code[len(base):], CM, "engine", round(match.coverage, 3), 0))
        if extent not in keys:
            keys[extent] = alias_key(sorted(vocab_words))

    def _tables_and_procedures(self, sentences: list[list], hits: dict, keys: dict, note_words: set[str],
                               pcs_tokens: set[int]) -> None:
        """Neoplasm, drug and external-cause codes from the index tables; ICD-10-PCS codes from the composer."""
        from medcode.codesets.pcs import PcsComposer

        composer = PcsComposer.load()
        procedural = procedural_sentences(sentences, composer.action_words, pcs_tokens)
        for k, sent in enumerate(sentences):
            seq = [w for _, words in sent[:own_count(sent)] for w in words]
            if not seq:
                continue
            for matched, code in table_codes(seq, lambda prefix, bag: self.refine(prefix, bag | note_words), note_words):
                self._add_words(hits, keys, sent, matched, CodeHit(code, CM, "engine", 1.0, 0))
                # A table's site of both sides, where the category has no bilateral code: "bilateral pulmonary
                # metastases" is C78.01 and C78.02 (the table gave C78.00 alone; 1 of 260 fresh8 notes).
                for side in self._sides.both(code, sent):
                    self._add_words(hits, keys, sent, matched, CodeHit(side, CM, "engine", 1.0, 0))
            if k not in procedural:
                continue
            proposals = composer.propose(seq, PCS_PER_SENTENCE)
            top = max((p.score for p in proposals), default=1.0) or 1.0
            for rank, proposal in enumerate(proposals):
                hit = CodeHit(proposal.code, PCS, "engine", round(proposal.score / top, 3), rank)
                self._add_words(hits, keys, sent, proposal.evidence, hit)

    @staticmethod
    def _add_words(hits: dict, keys: dict, sent: list, words, hit: CodeHit) -> None:
        words = set(words)  # once, not per token
        tokens = [i for i, ws in sent if not words.isdisjoint(ws)]
        if tokens:
            extent = (min(tokens), max(tokens) + 1)
            hits.setdefault(extent, []).append(hit)
            keys.setdefault(extent, alias_key(sorted(words)))

    def _statuses(self, doc: Doc, hits: dict, signed: frozenset = frozenset()) -> dict:
        known = doc.user_data.setdefault(STATUS_KEY, {})
        new = [extent for extent in hits if extent not in known]
        if new and "medcode_context" in self.nlp.pipe_names:
            known.update(self.nlp.get_pipe("medcode_context").statuses(doc, new))
            for extent in new:  # what the codes' own evidence overrules (medcode.coding.assertions)
                if known.get(extent):
                    known[extent] = overruled_status(doc, extent, [h.code for h in hits[extent]], known[extent],
                                                     extent in signed)
        return known

    def _combinations(self, doc: Doc, hits: dict, keys: dict, statuses: dict, note_words: set[str]) -> None:
        """Combination codes the guidelines presume from the note's current conditions (hypertension with
        CKD -> I12.9; diabetes with a foot ulcer -> E11.621; see :mod:`medcode.coding.rules`)."""
        found = [(h.code, h.rank, extent) for extent, new in hits.items()
                 if _NOT_CURRENT.isdisjoint(statuses.get(extent, ()))
                 for h in new if h.system == CM and h.rank <= COMBINATION_RANK]
        # The lexicon's finds count too when they name one category ("hypertension" -> I10 by the Index-style
        # short form): a sentence's engine codes can all be another condition's variants.
        # ("hypertension" also names I1A, resistant hypertension: two categories.) Headers are left out: a
        # rule reads the codes' own characters.
        for extent, (_, old) in doc.user_data.get(HITS_KEY, {}).items():
            # Learned aliases are correlates ("diabetes" learned I10 from notes that had both), not conditions.
            named = {h[0] for h in old if h[1] == CM and h[2] != "learned" and h[0] in self._positions}
            # A find of several codes ("dementia": F03.90, F03.92, F03.93) is no better than a near miss: its first
            # code had beaten the sentence's own F03.B11 ("moderate dementia and agitation", 2 of 505 fresh notes).
            if len({c[:3] for c in named}) <= 2 and _NOT_CURRENT.isdisjoint(statuses.get(extent, ())):
                found += [(code, 0 if len(named) == 1 else COMBINATION_RANK, extent) for code in named]
        # A condition the sentence's codes left out, stated by its word ("... CKD stage 3a and HTN"): with its status.
        stated = [(code, extent) for code, extent in stated_codes(doc) if not any(c.startswith(code[:2]) for c, _, _ in found)]
        if stated and "medcode_context" in self.nlp.pipe_names:
            status_of = self.nlp.get_pipe("medcode_context").statuses(doc, [extent for _, extent in stated])
            found += [(code, 0, extent) for code, extent in stated if _NOT_CURRENT.isdisjoint(status_of.get(extent, ()))]
        for extent, code in combination_codes(found, note_words):
            if code in self._positions:
                # A rule's code that takes a 7th character gets the note's encounter (M80.08X -> M80.08XA / D).
                code = self._complete(self.index, self._positions[code], note_words)
                # The combination is the code of its conditions: it goes first, also when the sentence's words
                # already ranked it lower.
                hits[extent] = [h for h in hits.get(extent, ()) if h.code != code] + [CodeHit(code, CM, "engine", 1.0, 0)]
                keys.setdefault(extent, alias_key(["combination", code]))

    def _store(self, doc: Doc, hits: dict, keys: dict) -> None:
        """Merge the engine's hits into the doc's mentions (one entry per extent, as the matcher keeps)."""
        found = doc.user_data.setdefault(HITS_KEY, {})
        spans = []
        for extent, new in hits.items():
            key, old = found.get(extent, (keys[extent], ()))
            # The engine's hit stays beside a lexicon hit of the same code: the ranker reads both.
            seen = {(h[0], h[1], h[2]) for h in old}
            merged = tuple(old) + tuple(h for h in dict.fromkeys(new) if (h.code, h.system, h.source) not in seen)
            if extent not in found:
                spans.append(Span(doc, extent[0], extent[1], label=span_label(merged)))
            found[extent] = (key, merged)
        # The new spans go after the group's own: reading the group out and back made a Span object of each
        # of its ~100 spans (0.3 ms of a CodiEsp dev note).
        if MENTIONS_KEY in doc.spans:
            doc.spans[MENTIONS_KEY].extend(spans)
        else:
            doc.spans[MENTIONS_KEY] = spans

    def to_disk(self, path, *, exclude=()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.index is not None:
            self.index.to_disk(path)

    def from_disk(self, path, *, exclude=()) -> CodingEngine:
        if (Path(path) / "index.json").exists():
            self.set_index(CodeIndex.from_disk(Path(path)))
        return self
