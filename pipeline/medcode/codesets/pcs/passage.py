"""How the PCS composer reads a passage: word expansion, negation, phrases, rules and counts."""

from __future__ import annotations

import re
from collections import defaultdict

from medcode.codesets.pcs.labels import _norm_cached
from medcode.codesets.pcs.quantities import _NUMBER_WORDS, _measured, _quantities
from medcode.codesets.pcs.records import _WORD_CACHE_SIZE, SIDES, _Query
from medcode.textnorm import norm_word

#: Endings that make a label's adjective from a note's noun ("axilla" -> "Axillary").
_ADJECTIVE_ENDINGS = ("ry", "r", "l", "ic", "al")


class PassageReader:
    """Reads a passage's canonical words as the PCS tables spell them: medcode's word knowledge
    (``pcs_words.json``) expands abbreviations, eponyms, suffixes and combining forms, drops what the note
    negates, and marks what it places before this encounter.

    Args:
        words: the parsed ``pcs_words.json``.
        vocab: the words of the tables' labels, with their weights (a word is known when it is here).
        labels: the tables' label texts (their hyphenated words are also read as two).
    """

    def __init__(self, words: dict, vocab: dict[str, float], labels: list[str]):
        self._lex = words
        self._idf = vocab
        # Keys as content_words spells a token ("k-wire" -> "kwire"), whoever edits the file.
        self._expansions = {norm_word(w): tuple(v.split()) for w, v in words["words"].items()}
        self._replace = {norm_word(w): tuple(v.split()) for w, v in words["replace"].items()}
        self._phrases = _PhraseIndex([(tuple(k.split()), tuple(v.split())) for k, v in words["phrases"].items()])
        self._rules = _RuleIndex(words["rules"])
        self._expanded: dict[str, tuple[str, ...]] = {}
        # "Dual-Chamber" in one label, "Dual Chamber" in another: the joined word also names the parts.
        self._hyphenated = {norm_word(a + b): (norm_word(a), norm_word(b)) for label in labels
                            for a, b in re.findall(r"([A-Za-z]{3,})-([A-Za-z]{3,})", label)}
        self._forms = words["combining_forms"]
        self._triggers = _compile_triggers(words["negation"])
        self._affirm = frozenset(words["negation"].get("affirm", ()))
        self._comparators = {tuple(k.split()): v for k, v in words.get("comparators", {}).items()}

    @property
    def known_words(self) -> frozenset[str]:
        """The note words this reader expands or replaces (they may name a procedure)."""
        return frozenset(self._expansions) | frozenset(self._replace)

    def read(self, words: list[str]) -> _Query:
        """Expand the words with medcode's PCS word knowledge, dropping negated and past ones."""
        lex = self._lex
        dropped, past = _negated(words, self._triggers, self._affirm)
        tokens: list[tuple[str, int]] = []
        for i, word in enumerate(words):
            if i in dropped or _measured(words, i):
                continue
            if word in self._replace:
                tokens += [(t, i) for t in self._replace[word]]
                continue
            tokens.append((word, i))
            tokens += [(t, i) for t in self._expand(word)]
        tokens += self._phrases.tokens(words, dropped)
        tokens = self._rules.apply(tokens)
        tokens = _count_vessels(tokens, lex["vessels"])
        tokens = _count_devices([w for i, w in enumerate(words) if i not in dropped], tokens, lex["device_nouns"])
        route = {j for i, word in enumerate(words) for j in range(i + 1, i + 1 + lex["route"].get(word, 0))}
        return _Query(words, tokens, past=frozenset(past), quantities=_quantities(words, self._comparators),
                      route=frozenset(route))

    def _expand(self, word: str) -> tuple[str, ...]:
        """A word's extra tokens: listed, else decomposed by suffix and combining forms ("-ectomy").

        Cached by word (bounded): the suffix scan was a tenth of the composer's time, and notes repeat words.
        """
        found = self._expanded.get(word)
        if found is None:
            found = self._decompose(word)
            if len(self._expanded) < _WORD_CACHE_SIZE:
                self._expanded[word] = found
        return found

    def _decompose(self, word: str) -> tuple[str, ...]:
        if word in self._expansions:
            return self._expansions[word]
        adjective = self._adjective_of(word)
        if adjective:
            return tuple(t for a in adjective for t in (a, *self._expand(a)) if t != word)
        for suffix, meaning in self._lex["suffixes"].items():
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                parts = _segment(word[: -len(suffix)], self._forms)
                if parts is not None:
                    return (*meaning.split(), *parts)
        return self._label_spelling(word)

    def _adjective_of(self, word: str) -> tuple[str, ...]:
        """The canonical words of the adjective an adverb is made from ("cystoscopically" -> cystoscopic,
        "laparoscopically" -> percutaneous endoscopic, "percutaneously" -> percutaneous), or ``()``.

        content_words keeps adverbs as they are, so "stent placed cystoscopically" stated no approach.
        The adjective counts only when medcode knows it (a label word, a listed word, a textnorm synonym).
        """
        if len(word) < 8 or not word.endswith("ly"):
            return ()
        stems = (word[:-4], word[:-2]) if word.endswith("ically") else (word[:-2],)
        for stem in stems:
            canonical = _norm_cached(stem)
            known = stem in self._idf or stem in self._expansions or stem in SIDES
            if canonical and (canonical != (stem,) or known):
                return canonical
        return ()

    def _label_spelling(self, word: str) -> tuple[str, ...]:
        """The label words a word is also spelled as: the parts of a hyphenated label word the tokenizer
        joined ("dual-chamber" -> dual chamber, as "Pacemaker, Dual Chamber" writes it), a word no label
        has split into two that labels have ("toenail" -> toe nail), or the label's adjective of a noun
        ("axilla" -> axillary, as "Lymphatic, Left Axillary" writes it)."""
        vocab = self._idf
        if word in self._hyphenated:
            return self._hyphenated[word]
        if len(word) < 6 or not word.isalpha():
            return ()
        adjective = tuple(word + end for end in _ADJECTIVE_ENDINGS if word + end in vocab)[:1]
        if word in vocab or word.endswith(("ed", "ing")):   # "transferred" is not "transfer red"
            return adjective
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if head in vocab and tail in vocab:
                return head, tail
        return adjective


def _segment(stem: str, forms: dict[str, str]) -> list[str] | None:
    """Split a combining-form stem ("salpingooophor") into canonical words, or ``None``."""
    if not stem:
        return []
    for end in range(len(stem), 1, -1):
        piece = stem[:end]
        if piece not in forms:
            continue
        rest = stem[end:]
        for tail in (rest, rest[1:] if rest[:1] in ("o", "i") else None):
            parts = _segment(tail, forms) if tail is not None else None
            if parts is not None:
                return forms[piece].split() + parts
    return None


#: Kinds of negation trigger: whether each drops words (else marks them past) and which way it reaches.
_TRIGGER_KINDS = {"forward": (True, 1), "past": (False, 1), "backward": (True, -1),
                  "intent": (True, 1), "intent_backward": (True, -1)}


def _compile_triggers(rules: dict) -> dict[str, list[tuple[tuple[str, ...], str, int]]]:
    """Negation triggers by their first word: ``(words, kind, reach)``, so a passage reads only its own."""
    out: dict[str, list[tuple[tuple[str, ...], str, int]]] = defaultdict(list)
    for kind in _TRIGGER_KINDS:
        for trigger, reach in rules.get(kind, {}).items():
            parts = tuple(trigger.split())
            out[parts[0]].append((parts, kind, reach))
    return dict(out)


def _negated(words: list[str], triggers: dict, affirm: frozenset[str]) -> tuple[set[int], set[int]]:
    """Positions of words a note says did not happen ("no reduction performed", "the left lobe was left
    in place", "chest tube placement was deferred", "plan: laparoscopic cholecystectomy"), and of words it
    says happened before ("after total hip arthroplasty").

    An intent trigger ("planned", "scheduled", "discussed") is void when a word saying the procedure was done
    ("performed", "underwent") is near: "the planned procedure was performed" is this encounter's.
    """
    gone, past = set(), set()
    n = len(words)
    for i, word in enumerate(words):
        for parts, kind, reach in triggers.get(word, ()):
            end = i + len(parts)
            if tuple(words[i:end]) != parts:
                continue
            if kind.startswith("intent") and not affirm.isdisjoint(words[max(0, i - reach):end + 2 * reach]):
                continue
            drops, direction = _TRIGGER_KINDS[kind]
            span = range(i, min(n, end + reach)) if direction > 0 else range(max(0, i - reach), end)
            (gone if drops else past).update(span)
    return gone, past


class _PhraseIndex:
    """Known phrases by their first word: a passage looks up only the phrases its words can start."""

    def __init__(self, phrases: list[tuple[tuple[str, ...], tuple[str, ...]]]):
        self.by_first: dict[str, list[tuple[int, tuple[str, ...], tuple[str, ...]]]] = defaultdict(list)
        for k, (phrase, meaning) in enumerate(phrases):
            if phrase:
                self.by_first[phrase[0]].append((k, phrase, meaning))

    def tokens(self, words: list[str], dropped: set[int]) -> list[tuple[str, int]]:
        """Extra tokens for runs of input words (not negated) that spell a known phrase, in the order of the
        phrase list, then of the position (scanning every phrase at every position was a tenth of the time)."""
        found = []
        for i, word in enumerate(words):
            for k, phrase, meaning in self.by_first.get(word, ()):
                n = len(phrase)
                if tuple(words[i:i + n]) == phrase and not dropped & set(range(i, i + n)):
                    found.append((k, i, meaning))
        found.sort(key=lambda f: (f[0], f[1]))
        return [(m, i) for _, i, meaning in found for m in meaning]


class _RuleIndex:
    """Co-occurrence rules with the words each needs: a rule is tried only when they are all present.

    Trying all 127 rules on every passage was a tenth of the composer's time; most passages fire none.
    """

    def __init__(self, rules: list[dict]):
        self.rules = [(rule, frozenset(rule.get("all", [])), frozenset(rule.get("any", []))) for rule in rules]

    def apply(self, tokens: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """When all (and any) trigger words occur within a window, add and drop tokens (rules in order)."""
        present = _present(tokens)
        # The words as a set, made once per change: frozenset.issubset(dict.keys()) built a set of the keys
        # for every rule (127 a passage), a third of the rules' time.
        words = set(present)
        for rule, need, anyof in self.rules:
            if not need <= words or (anyof and anyof.isdisjoint(words)):
                continue
            at = _rule_fires(rule, present)
            if at is None:
                continue
            drop = set(rule.get("drop", "").split())
            tokens = [(t, s) for t, s in tokens if t not in drop] + [(t, at) for t in rule.get("add", "").split()]
            present = _present(tokens)  # only when a rule fires
            words = set(present)
        return tokens


def _present(tokens: list[tuple[str, int]]) -> dict[str, set[int]]:
    present: dict[str, set[int]] = defaultdict(set)
    for token, src in tokens:
        present[token].add(src)
    return present


def _rule_fires(rule: dict, present: dict[str, set[int]]) -> int | None:
    """Where a rule fires (the position its added tokens take), or ``None`` when it does not."""
    need = rule.get("all", [])
    if any(w not in present for w in need) or any(w in present for w in rule.get("none", [])):
        return None
    anyof = [w for w in rule.get("any", []) if w in present]
    if rule.get("any") and not anyof:
        return None
    groups = [present[w] for w in need] + ([set().union(*(present[w] for w in anyof))] if anyof else [])
    if not groups:
        return None
    if "within" not in rule:
        return min(min(g) for g in groups)
    # Some occurrence of every trigger lies within the window of one occurrence of the first.
    for anchor in sorted(groups[0]):
        if all(any(abs(p - anchor) <= rule["within"] for p in g) for g in groups[1:]):
            return anchor
    return None


def _count_vessels(tokens: list[tuple[str, int]], vessels: dict) -> list[tuple[str, int]]:
    """Coronary body parts count the arteries treated: say the count ("two") the vessel names show."""
    bag = {t for t, _ in tokens}
    if not bag & set(vessels["context"]):
        return tokens
    seen = {group for group, names in vessels["groups"].items() if bag & set(names)}
    stated = [_NUMBER_WORDS[t] for t, _ in tokens if _NUMBER_WORDS.get(t, 0) > 1]
    count = max([len(seen)] + stated)
    if not count:
        return tokens
    words = vessels["count_words"]
    at = min(s for _, s in tokens)
    return [(t, s) for t, s in tokens if t not in words] + [(words[min(count, len(words)) - 1], at)]


def _count_devices(words: list[str], tokens: list[tuple[str, int]], nouns: list[str]) -> list[tuple[str, int]]:
    """Say how many stents a note places ("one stent in the LAD and one in the RCA": "2devices")."""
    total, at = 0, None
    for i, word in enumerate(words):
        if word in nouns:
            before = [_NUMBER_WORDS.get(w, 0) for w in words[max(0, i - 2):i]]
            total += max([1] + before)
            at = i if at is None else at
    if total < 2:
        return tokens
    return [*tokens, (f"{min(total, 4)}devices", at)]
