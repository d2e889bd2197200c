"""How the coding engine reads a note: per sentence, its content tokens as canonical words (negated
words left out), the title words of its clinical phrases, and the follow-up words that only plan a visit."""

from __future__ import annotations

from spacy.attrs import LOWER, ORTH, SENT_START
from spacy.tokens import Doc

from medcode.coding.index import CodeIndex
from medcode.coding.terms import ONGOING, load_terms
from medcode.textnorm import norm_words

#: Words that make the following words of their clause absent for the engine, and words that end it.
#: "Influenza A" and "flu B" name an identified influenza virus (J10, not J11 "unidentified"): the type letter is
#: a stopword ("a") or no title word ("b"), so it is read as the titles' "identified".
_TYPED_VIRUSES = frozenset({"influenza", "flu"})
#: "r/o ACS" and "rule out PE" name what the visit excludes, no diagnosis: "Chest pain, r/o ACS, troponins negative"
#: had I25.119 (coronary disease with angina) before R07.9 (2 of 505 fresh2/fresh3 notes).
_NEGATORS = frozenset({"without", "no", "not", "w/o", "non", "denies", "denied", "negative", "nor", "r/o", "rule"})
_SCOPE_ENDS = frozenset({"but", "with", "except", "although", "however", "and", "or"}) - {"or", "and"}
#: Words that open a clause of circumstances, which ends a negation's scope and is read as words: "laceration w/o FB
#: after striking head on a shelf" had lost the striking to the "w/o" (W22.8 missed, 2 of 505 fresh2/fresh3 notes).
_OPENERS = frozenset({"after", "while"})
#: Words a negation states rather than denies: "could not afford the refill" is the reason of an underdosing
#: (Z91.120), which the engine must read; the negation ends at them.
_STATED_UNDER_NEGATION = frozenset({"afford"})
#: Side letters of charting shorthand ("R knee", "L breast", "Rt hip"), as the token is written: upper case only,
#: so "l" of a volume ("5 l") stays a unit. Norm words drop one-letter tokens, so "OA R ankle" had coded the
#: unspecified side (M19.079; 10 of 239 fresh chart-style notes wrote the side this way).
_SIDE_LETTERS = {"R": ("right",), "L": ("left",), "Rt": ("right",), "Lt": ("left",), "RT": ("right",), "LT": ("left",)}
#: A token joined by a slash is two words when a part is this long: "PT/aftercare" had no "aftercare" (Z47.1 missed).
_SLASH_PART = 4
#: What a token text is to a negation's scope (see :meth:`SentenceReader.words`); a gap is punctuation or space.
_PLAIN, _SCOPE_END, _CLAUSE_MARK, _NEGATOR, _STATED, _TYPE_LETTER, _GAP, _OPENER = range(8)
#: Words before a drug that say the patient takes it ("on apixaban").
_TAKING = frozenset({"on", "taking", "takes", "using"})
#: Words that join a drug to the one before it in a list: "on insulin glargine plus metformin" takes both (Z79.4 and
#: Z79.84, I.C.4.a.3); the metformin after "plus" had no Z79.84 (2 of 505 fresh2/fresh3 notes).
_LISTED = frozenset({"plus", "and", ",", "+", "&", "with", "/"})
#: Separates a sentence's own tokens from the phrase expansions appended after them.
_MARK = (-1, ())


#: A comma inside a negation goes on with it when a short list closed by "or" follows ("no perforation, abscess or
#: bleeding": K57.32 had lost to the with-perforation codes, 3 of 625 fresh2/fresh3/fresh5 notes read); a list
#: item is at most this many tokens, and the list at most _LIST_TOKENS.
_LIST_ITEM = 4
_LIST_TOKENS = 16
_LIST_CLOSERS = frozenset({"or", "nor"})


def _negated_list(rows: list, i: int, vocab) -> bool:
    """Whether the comma at token ``i`` is inside a list of negated findings closed by "or" ("no X, Y or Z").

    ``rows`` are the doc's ``(ORTH, SENT_START)`` rows, as :meth:`SentenceReader.words` reads them.
    """
    if vocab.strings[rows[i][0]] != ",":
        return False
    item = 0
    for orth, sent_start in rows[i + 1:i + 1 + _LIST_TOKENS]:
        lexeme = vocab[orth]
        text = lexeme.lower_
        if sent_start == 1 or (lexeme.is_punct and text != ","):
            return False
        if text in _LIST_CLOSERS:
            return item > 0
        item = 0 if text == "," else item + 1
        if item > _LIST_ITEM:
            return False
    return False


def own_count(sent: list) -> int:
    """How many entries of a sentence are its own tokens (the rest are phrase expansions)."""
    return sent.index(_MARK) if _MARK in sent else len(sent)


#: The ICD-10-PCS composer reads at most this many sentences of a note: the ones with the most procedure
#: words (composing costs ~0.7 ms a sentence, and a case report's sentences are mostly not procedures).
PCS_SENTENCES = 3


def procedural_sentences(sentences: list[list], action_words: frozenset[str], pcs_tokens: set[int]) -> set[int]:
    """The sentences worth composing procedure codes for: a procedure named by the lexicon or a root
    operation's word, most such words first, at most :data:`PCS_SENTENCES`."""
    scored = []
    for k, sent in enumerate(sentences):
        own = sent[:own_count(sent)]
        strength = sum(1 for i, words in own if i in pcs_tokens or not action_words.isdisjoint(words))
        if strength:
            scored.append((-strength, k))
    return {k for _, k in sorted(scored)[:PCS_SENTENCES]}


#: Words that put the encounter after active treatment (medcode.coding.encounter) but, followed by "in" or
#: "with", only plan the next visit: "orthopedic follow-up in one week" ends an initial encounter.
_FOLLOW_UP = {"followup": frozenset({"followup", "follow", "up"}), "recheck": frozenset({"recheck"}),
              "f/u": frozenset({"followup"}), "follow": frozenset({"follow", "up"})}
_PLAN_AFTER = frozenset({"in", "with", "at", "after"})
#: Lower-case hash -> its follow-up cue (or None), for :func:`planned_only` (hashes are the strings' own).
_CUE_OF: dict[int, str | None] = {}
#: The hashes of _CUE_OF whose cue is not None.
_CUE_HASHES: set[int] = set()
_CUES_KEPT = 500_000


def planned_only(doc: Doc) -> frozenset[str]:
    """The follow-up words of a note that only plan a later visit (none if any names this one)."""
    # Lower-case forms as hashes from one array, each hash's cue looked up once per process: Token objects
    # for every token were 0.27 ms of a CodiEsp dev note, and most notes have no follow-up word at all.
    strings = doc.vocab.strings
    lowers = doc.to_array(LOWER).tolist() if len(doc) else []
    # Set operations against the cache, a Python step only for the texts not yet read: a look-up per
    # distinct token was 0.1 ms of a CodiEsp dev note.
    distinct = set(lowers)
    for h in distinct.difference(_CUE_OF):
        text = strings[h].replace("-", "")
        _CUE_OF[h] = text if text in _FOLLOW_UP else None
        if _CUE_OF[h] is not None:
            _CUE_HASHES.add(h)
    cues = {h: _CUE_OF[h] for h in distinct.intersection(_CUE_HASHES)}
    if len(_CUE_OF) > _CUES_KEPT:
        _CUE_OF.clear()
        _CUE_HASHES.clear()
    if not cues:
        return frozenset()
    planned, current = set(), False
    for i, h in enumerate(lowers):
        text = cues.get(h)
        if text is None or (text == "follow" and (i + 1 >= len(lowers) or strings[lowers[i + 1]] != "up")):
            continue
        after = i + (2 if text == "follow" else 1)
        if after < len(lowers) and strings[lowers[after]] in _PLAN_AFTER:
            planned |= _FOLLOW_UP[text]
        else:
            current = True
    return frozenset() if current else frozenset(planned)


def inside_sentence(extent: tuple[int, int], sent: list) -> bool:
    own = sent[:own_count(sent)]
    return bool(own) and own[0][0] <= extent[0] <= own[-1][0]


def shared_words(index: CodeIndex) -> set[str]:
    # A table's prefix is itself the main term: the words every code under it shares count as present.
    if not index.codes:
        return set()
    shared = None
    for row in range(min(len(index.row_code), 64)):
        col = index.required.getcol(row).nonzero()[0]  # the row's words (a column's .indices are all 0)
        words = {index.words[c] for c in col}
        shared = words if shared is None else shared & words
    return shared or set()


class SentenceReader:
    """Reads a doc's sentences for :class:`medcode.nlp.engine.CodingEngine` (keeps a bounded cache of
    each token text's canonical words: notes repeat their words)."""

    def __init__(self) -> None:
        self._norms: dict[int, tuple[int, tuple[str, ...]]] = {}

    def words(self, doc: Doc) -> list[list[tuple[int, tuple[str, ...]]]]:
        """Per sentence, its content tokens and their canonical words.

        Words a negation governs ("without obstruction", "no fever") are left out: for the engine they
        are absent, so "cholecystitis without obstruction" fits the code *without* obstruction.
        """
        vocab, norms = doc.vocab, self._norms
        sentences: list[list[tuple[int, tuple[str, ...]]]] = []
        rows = doc.to_array([ORTH, SENT_START]).tolist() if len(doc) else []
        negated = False
        sent: list[tuple[int, tuple[str, ...]]] = []
        for i, (orth, sent_start) in enumerate(rows):
            if sent_start == 1 or not sentences:
                sent = []
                sentences.append(sent)
                negated = False
            # What a token text is to the negation scope and its words, read once per text: its lower-case form
            # and set tests for every token made this loop 0.27 ms of a CodiEsp dev note, then 0.20 (CPU time).
            # Punctuation and space are the text's too (lexeme flags), so one array and one test a plain token.
            entry = norms.get(orth)
            if entry is None:
                entry = self._entry(vocab[orth])
                if len(norms) < 500_000:
                    norms[orth] = entry
            kind, words = entry
            if kind == _PLAIN:
                if words and not negated:
                    sent.append((i, words))
            elif kind == _GAP:
                continue
            elif kind == _SCOPE_END:
                negated = negated and _negated_list(rows, i, vocab)
            elif kind == _OPENER:
                negated = False
                sent.append((i, words))
            elif kind == _NEGATOR:
                negated = True
            elif not negated or kind == _STATED:
                negated = False
                if kind == _TYPE_LETTER and i and vocab.strings[rows[i - 1][0]].lower() in _TYPED_VIRUSES:
                    sent.append((i, ("identified",)))
                elif words:
                    sent.append((i, words))
        return sentences

    def _entry(self, lexeme) -> tuple[int, tuple[str, ...]]:
        """A token text's kind (for the negation scope) and canonical words."""
        token = lexeme.orth_
        text = token.lower()
        kind = (_SCOPE_END if text in _SCOPE_ENDS else _CLAUSE_MARK if text in ",;:" else _NEGATOR if text in _NEGATORS
                else _STATED if text in _STATED_UNDER_NEGATION else _TYPE_LETTER if text in ("a", "b")
                else _OPENER if text in _OPENERS else _PLAIN)
        if lexeme.is_punct or lexeme.is_space:
            # A clause mark ends a negation's scope (and so does a scope word, whatever it is); other punctuation
            # and space are skipped.
            kind = _SCOPE_END if kind == _SCOPE_END or (lexeme.is_punct and kind == _CLAUSE_MARK) else _GAP
        elif kind == _CLAUSE_MARK:
            kind = _PLAIN
        return kind, self._norm(token)

    def _norm(self, token: str) -> tuple[str, ...]:
        """A token's canonical words; a hyphenated word also gives its parts.

        The tokenizer keeps "late-onset", "right-sided", "second-degree" whole ("lateonset"), while most
        titles write "late onset", "right side", "second degree" (a few spell it whole, so both are kept).
        """
        side = _SIDE_LETTERS.get(token)
        if side:
            return side
        words = norm_words(token)
        if "-" in token:
            parts = tuple(w for part in token.split("-") for w in _SIDE_LETTERS.get(part) or norm_words(part))
            words = tuple(dict.fromkeys(words + parts))
        if "/" in token and any(len(part) >= _SLASH_PART for part in token.split("/")):
            # "PT/aftercare", "diet/exercise": two words ("s/p", "w/o", "ER/PR" are abbreviations, kept whole)
            # (parts first: "counseled on diet/exercise" reads "counseled diet" as a phrase)
            words = tuple(dict.fromkeys(tuple(w for part in token.split("/") for w in norm_words(part)) + words))
        return words

    def expand(self, doc: Doc, sentences: list[list]) -> list[tuple[int, int, str]]:
        """Add the title words of the sentences' clinical phrases (as words of the phrases' tokens, after
        the sentence's own); return the Z79 long-term drug codes the sentences support, with their extents."""
        terms = load_terms()
        drugs = []
        for sent in sentences:
            sent.append(_MARK)
            flat = [(i, w) for i, words in sent[:-1] for w in words]
            seq = [w for _, w in flat]
            for a, b, added in terms.expand(seq):
                sent.append((flat[a][0], added))
                sent.append((flat[b - 1][0], added))
            cue = ONGOING.intersection(seq)
            taken = False
            for a, b, code in terms.drug_codes(seq):
                first = flat[a][0]
                before = doc[first - 1].lower_ if first > 0 else ""
                taken = bool(cue) or before in _TAKING or (taken and before in _LISTED)
                if taken:
                    drugs.append((first, flat[b - 1][0] + 1, code))
        return drugs
