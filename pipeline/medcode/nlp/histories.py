"""The coding engine's history codes: a relative's condition (Z80-Z84), a past one of the patient's (Z85-Z87).

Read by :class:`medcode.nlp.engine.CodingEngine` after the assertion statuses of its mentions are known.
"""

from __future__ import annotations

from medcode.about import CM, FAMILY, HISTORICAL, NEGATED
from medcode.coding import FAMILY_HISTORY, PERSONAL_HISTORY
from medcode.coding.rules import COMBINATION_RANK, history_code
from medcode.nlp.matcher import HITS_KEY, CodeHit
from medcode.nlp.reading import inside_sentence
from medcode.textnorm import alias_key

#: The words the history matchers add to a sentence, by kind (and taken out again to find the condition).
HISTORY_WORDS = {"family": frozenset({"family", "history"}), "personal": frozenset({"personal", "history"})}
_ALL_HISTORY_WORDS = frozenset().union(*HISTORY_WORDS.values())


def add_histories(engine, doc, sentences, bags, hits, keys, statuses, note_words) -> None:
    """Family-history codes for a relative's condition; personal-history codes for a past one.

    Args:
        engine: the :class:`medcode.nlp.engine.CodingEngine` (its matchers and ``_add``).
        doc: the note.
        sentences: the engine's sentences (see :class:`medcode.nlp.reading.SentenceReader`).
        bags: each sentence's words.
        hits: ``{extent: [CodeHit, ...]}`` of the engine so far (extended here).
        keys: ``{extent: alias key}`` (extended here).
        statuses: ``{extent: statuses}`` of the extents.
        note_words: the note's words (for the 7th character).
    """
    # A condition's code gives its history code directly where the rules data list it (a relative's
    # colon cancer, C18.9 from the Table of Neoplasms, is Z80.0 "digestive organs": no title word of
    # Z80.0 says "colon"; a past myocardial infarction is I25.2, not a Z code).
    lexicon = doc.user_data.get(HITS_KEY, {})
    for extent, status in list(statuses.items()):
        if NEGATED in status or not (FAMILY in status or HISTORICAL in status):
            continue
        kind = "family" if FAMILY in status else "personal"
        # A sentence's near misses name no history: "Mother had breast cancer" ranks C44.501, skin of breast,
        # 4th, and its Z80.8 came out beside Z80.3 at the same score.
        named = [h for h in hits.get(extent, ()) if h.rank <= COMBINATION_RANK] + [
            CodeHit(*h) for h in lexicon.get(extent, ("", ()))[1] if h[2] != "learned"]
        for code in sorted({history_code(kind, h.code) for h in named if h.system == CM} - {None}):
            _add_history(hits, keys, extent, code, lexicon[extent][0] if extent in lexicon else None)
    _stated_histories(engine, sentences, bags, hits, keys, note_words)
    for kind, status in (("family", FAMILY), ("personal", HISTORICAL)):
        # The extents of that status first (most notes have none): testing every extent against every
        # sentence was 0.4-0.6 ms of a CodiEsp dev note.
        flagged = [extent for extent in hits
                   if status in statuses.get(extent, ()) and NEGATED not in statuses.get(extent, ())]
        wanted = [i for i, sent in enumerate(sentences) if any(inside_sentence(e, sent) for e in flagged)]
        if not wanted:
            continue
        matcher = engine._matcher(kind)
        extra = HISTORY_WORDS[kind]
        found = matcher.match([bags[i] | extra for i in wanted], 3)
        for i, matches in zip(wanted, found):  # a match of the added words alone names nothing ("hx" -> Z85.6)
            for rank, match in enumerate(m for m in matches if not {matcher.index.words[c] for c in m.columns} <= extra):
                engine._add(hits, keys, sentences[i], match, rank, note_words, matcher.index)


def _stated_histories(engine, sentences, bags, hits, keys, note_words) -> None:
    """The history code of a condition written after a history word ("FHx colon ca", "h/o colon ca").

    The sentence's history codes, found by their title words, can fill its places: "FHx colon ca" ranked eight
    Z80 codes, Z80.9 "unspecified" first, and no C18.9 to give Z80.0 "digestive organs" (no title word of Z80.0
    says "colon"); "Surveillance colonoscopy, h/o colon ca" had Z85.9, not Z85.038. The sentence without the
    history words is matched again for its condition, whose history code the rules data give.
    """
    found = {}  # sentence -> (kind, the history code's extent)
    for extent, new in hits.items():
        for h in new:
            # A relative's condition, or a personal history code that names none of its own ("malignant neoplasm,
            # unspecified", "other"): a match for every note with a personal history code was 0.4 ms of a CodiEsp
            # dev note (profiled), and most such codes name their condition.
            if h.rank <= COMBINATION_RANK and h.system == CM and (
                    h.code.startswith(FAMILY_HISTORY) or h.code.startswith(PERSONAL_HISTORY) and _unnamed(engine, h.code)):
                i = next((i for i, sent in enumerate(sentences) if inside_sentence(extent, sent)), None)
                if i is not None and i not in found:
                    found[i] = ("family" if h.code.startswith(FAMILY_HISTORY) else "personal", extent)
    if not found:
        return
    wanted = sorted(found)
    matches = engine._matcher("all").match([bags[i] - _ALL_HISTORY_WORDS for i in wanted], COMBINATION_RANK + 1)
    for i, best in zip(wanted, matches):
        kind, extent = found[i]
        for match in best:
            code = history_code(kind, engine.index.codes[match.code])
            if code is not None:
                _add_history(hits, keys, extent, code)


def _add_history(hits: dict, keys: dict, extent: tuple[int, int], code: str, key: str | None = None) -> None:
    """Add a history code at an extent unless it is there already (its key: the mention's, else its own)."""
    if not any(h.code == code for h in hits.get(extent, ())):
        hits.setdefault(extent, []).append(CodeHit(code, CM, "engine", 1.0, 0))
        keys.setdefault(extent, key if key is not None else alias_key(["history", code]))


def _unnamed(engine, code: str) -> bool:
    """Whether a history code's title names its condition only as unspecified or other."""
    position = engine._positions.get(code)
    title = engine.index.titles[position].lower() if position is not None else ""
    return "unspecified" in title or "other" in title
