"""Compose ICD-10-PCS codes from the words of a procedure note, one axis at a time, as a coder does.

A coder builds a PCS code from the tables: the root operation from its definition ("removal of the
gallbladder" takes out all of a body part: Resection), the body part from the table labels and the Body
Part Key ("neck of femur" is the Upper Femur), the side, the approach ("laparoscopic" is Percutaneous
Endoscopic), the device (Device Key: "Foley catheter" is a Drainage Device; none named: No Device) and the
qualifier (Diagnostic for a biopsy, the source of a bypass, otherwise No Qualifier).

:class:`PcsComposer` does the same with the vendored FY2026 tables and definitions and the FY2025 PCS Index
(``pcs_tables.json.gz``, ``pcs_terms.json.gz``, built by ``pipeline/devtools/build_pcs.py``) and medcode's
own word knowledge (``pcs_words.json``: procedure suffixes, eponyms, abbreviations, coding conventions).

Words arrive as :func:`medcode.textnorm.content_words` returns them (canonical, singular, no stopwords).
Every row of every table whose root operation the words name (or the PCS Index points to) is scored axis by
axis: a value scores the weighted share of its label, or of a Body Part Key / Device Key / index alias,
that the words cover, words far from the operation's words counting less, and words one axis used are not
used again by a later one. A complete code is proposed when every axis is named by the words, fixed by the
row, or fixed by a coding convention; otherwise the longest valid prefix is proposed with the open axes in
``missing`` (the engine asks the physician), and its completions follow at a lower score.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from medcode.codesets.kb import PCS_FILE as PCS_TITLES_FILE
from medcode.textnorm import content_words, norm_word

logger = logging.getLogger(__name__)

TABLES_FILE = "pcs_tables.json.gz"
TERMS_FILE = "pcs_terms.json.gz"
WORDS_FILE = "pcs_words.json"

#: What :meth:`_Call.label` gives a label no word of the passage names.
_NO_MATCH: tuple[float, frozenset[str]] = (0.0, frozenset())
#: Words whose expansion is kept (see :meth:`PcsComposer._expand`).
_WORD_CACHE_SIZE = 200_000
#: Axis names by character position (3-7). Outside Medical and Surgical a position keeps its name
#: ("approach" is imaging's contrast, "device" a substance); :meth:`PcsComposer.axis_title` gives the
#: table's own title for the question.
AXIS_NAMES = {3: "root operation", 4: "body part", 5: "approach", 6: "device", 7: "qualifier"}
LATERALITY = "laterality"
SIDES = ("right", "left", "bilateral")
#: Words of an approach label a note can state; the rest ("via", "artificial") only make it long.
APPROACH_FEATURES = frozenset({"open", "percutaneous", "endoscopic", "natural", "external"})
#: Tables (by how well the words name their operation) whose rows a passage is scored against, and the
#: share of the best operation score a table needs.
MAX_TABLES = 8
TABLE_SHARE = 0.3
#: Root-operation and index words too common in notes to say a procedure was done.
_GENERIC_ACTION_WORDS = frozenset({"other", "family", "daily", "function", "activity", "control", "management",
                                   "group", "individual", "living", "light", "motor", "nerve", "medication",
                                   "medicine", "performance", "assessment", "device", "map", "change", "creation",
                                   "left", "right", "upper", "lower", "body", "part"})
#: The token a bare "contrast" becomes: "with" and "without" are stopwords, so it cannot say which.
CONTRAST_MENTION = "contrastmention"

# Weights. A root operation the words name outweighs an index pointer to it; a conventional default
# costs a little, a guess for an open axis more than the question, so the prefix ranks above its guesses.
OP_WEIGHT = 3.0
INDEX_OP_WEIGHT = 1.5
INDEX_BONUS = 1.0
#: An index entry all of whose words the note has and that gives a whole code ("Circumcision 0VTTXZZ",
#: "AROM 10907ZC") is the coder's own look-up. With a quarter of INDEX_BONUS such codes scored under
#: MIN_SCORE and were never proposed (fresh vignettes: 3 of 98 codes); 1.5, 2 and 3 measured the same.
INDEX_CODE_BONUS = OP_WEIGHT / 2
SIDE_BONUS = 0.5
APPROACH_WEIGHT = 1.5
ALIAS_FACTOR = 0.8        # a key or index name counts a little less than the table's own label
UNKNOWN_WEIGHT = 3.0      # weight of an alias word no label has
LABEL_MISS = 0.6          # share of an unmatched label word's weight taken off
DEFAULT_PENALTY = 0.3
SINGLE_PENALTY = 0.5      # a row's only value, unnamed, where other rows of the body part offer others
MISSING_PENALTY = 0.6
GUESS_PENALTY = 1.2
RANGE_WEIGHT = 2.0        # a stated quantity ("for 6 days") inside a label's range ("Greater than 96 Hours")
#: A body part named mostly by the words of an access route ("via right femoral vein"): 0.3 lets the part the
#: device ends in lead ("IVC filter via right femoral vein": 06HM3DZ led 06H03DZ before); tune and fresh unchanged.
ROUTE_FACTOR = 0.3
PAST_FACTOR = 0.2         # an operation the note places before this encounter ("after ...")
MIN_SCORE = 3.0           # below this a proposal is noise (a stray word in a diagnosis sentence)
TOP_VALUES = 2            # values kept per axis and row before combining
FAMILY_CAP = 3            # proposals per table before other tables get a turn
SIDE_WINDOW_BEFORE, SIDE_WINDOW_AFTER = 6, 3
#: How fast a label word's weight falls with its distance from the operation's words: full weight up
#: to ``near`` words away, then down to ``floor`` over ``span`` words. An imaging report names its body
#: part right after the modality; an operative note may name it further on.
DECAY = {"default": (6, 0.5, 10), "B": (3, 0.2, 4), "C": (3, 0.2, 4)}


@dataclass(frozen=True)
class PcsProposal:
    """One proposed ICD-10-PCS code or prefix.

    Attributes:
        code: 7 characters when complete, else the longest valid prefix (3-6 characters).
        complete: whether ``code`` is a full, valid FY2026 code.
        missing: axes the text leaves open ("root operation", "body part", "laterality", "approach",
            "device", "qualifier"); empty when complete.
        score: how well the text supports it (higher is better; comparable within one call).
        evidence: the canonical words that chose each axis.
        title: the code's official title when complete, else the operation and body part it has so far.
    """

    code: str
    complete: bool
    missing: tuple[str, ...]
    score: float
    evidence: frozenset[str]
    title: str


@dataclass(frozen=True)
class _Label:
    """A normalised axis label: its words without the side, the side it names, and how it reads."""

    text: str
    words: frozenset[str]
    side: str | None
    full: frozenset[str]  # the words with the side: on other axes "Left Heart" is two words
    none: bool          # "No Device", "No Qualifier", "None": the value when nothing is named
    loose: bool         # "Assistive, Adaptive, Supportive or Protective": any one word names it


@dataclass
class _Table:
    prefix: str
    op: int                                   # label index of the root operation
    op_words: frozenset[str]                  # its words, spelled as a note's root-operation word is
    system: int                               # label index of the body system
    titles: tuple[str, ...]                   # axis titles of characters 4-7
    rows: list[tuple[tuple[tuple[str, int], ...], ...]]
    _options: dict[str, list[set[str]]] | None = None

    @functools.cached_property
    def single_part(self) -> bool:
        """Whether every row has the same one body part."""
        return len({code for row in self.rows for code, _ in row[0]}) == 1

    def options(self, part: str, pos: int) -> set[str]:
        """The values character ``pos`` (5-7) takes over all the rows that have body part ``part``."""
        if self._options is None:   # built on first use: most calls touch a few tables
            options: dict[str, list[set[str]]] = defaultdict(lambda: [set(), set(), set()])
            for row in self.rows:
                for code, _ in row[0]:
                    for k in range(3):
                        options[code][k].update(c for c, _ in row[k + 1])
            self._options = dict(options)
        return self._options.get(part, [set(), set(), set()])[pos - 5]


@dataclass
class _Query:
    """The words of one call, expanded, with the input word each token came from."""

    words: list[str]
    tokens: list[tuple[str, int]]
    past: frozenset[int] = frozenset()   # positions of words about an earlier procedure
    quantities: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)   # see _quantities
    route: frozenset[int] = frozenset()  # positions of words naming the way in ("via right femoral vein")
    bag: frozenset[str] = frozenset()
    origin: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bag = frozenset(t for t, _ in self.tokens)
        for token, src in self.tokens:
            self.origin.setdefault(token, set()).add(src)

    def sources(self, tokens: Iterable[str]) -> frozenset[str]:
        """The input words behind some tokens (the evidence a proposal shows)."""
        return frozenset(self.words[i] for t in tokens for i in self.origin.get(t, ()))

    def positions(self, tokens: Iterable[str]) -> frozenset[int]:
        """The input positions of some tokens."""
        return frozenset(i for t in tokens for i in self.origin.get(t, ()))


@dataclass
class _Fired:
    """Index entries a query fires: by table, by 4-character prefix, full codes, root operations."""

    tables: dict[str, frozenset[str]] = field(default_factory=dict)
    prefixes: dict[str, frozenset[str]] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)
    ops: dict[str, frozenset[str]] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)   # codes and prefixes of 5+ characters the index gives


@dataclass
class _Op:
    """How a table's root operation is supported: score, its label's words found, the index's words."""

    score: float
    hit: frozenset[str] = frozenset()
    hint: frozenset[str] = frozenset()


@dataclass
class _Choice:
    """One value of one axis: its code, score, evidence tokens and how it was chosen."""

    code: str
    score: float
    tokens: frozenset[str] = frozenset()
    how: str = "words"          # words | fixed | default | missing | side-missing


def _data(name: str) -> bytes:
    """A vendored data file's bytes (read through importlib.resources, so it works from a wheel)."""
    return resources.files("medcode.data").joinpath(name).read_bytes()


def _json(name: str) -> dict:
    """A vendored JSON file, gzipped or not, parsed."""
    raw = _data(name)
    return json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)


@functools.cache
def _norm_cached(text: str) -> tuple[str, ...]:
    return tuple(content_words(re.sub(r"\((?:R|tm|TM)\)", " ", text).replace("/", " ")))


def _norm(text: str) -> list[str]:
    """Canonical words of a label or alias; brand marks like "(R)" dropped, "/" separating words.

    Cached: the index repeats a few thousand titles ("Left", "Right", "Upper Arteries") 50,000 times.
    """
    return list(_norm_cached(text))


def _read_titles() -> dict[str, str]:
    """``{code: title}`` from the vendored CMS code-title file (the same file :mod:`medcode.codesets.kb`
    reads), split in one pass: the composer's load time is mostly this file."""
    text = gzip.decompress(_data(PCS_TITLES_FILE)).decode("utf-8")
    return dict(line.split(" ", 1) for line in text.splitlines() if line.strip())


def _split_side(words: list[str]) -> tuple[frozenset[str], str | None]:
    """A label's words without its side word, and the side ("right", "left", "bilateral") or ``None``."""
    side = next((w for w in words if w in SIDES), None)
    return frozenset(w for w in words if w not in SIDES), side


def _make_label(text: str) -> _Label:
    """Normalise one table label for matching."""
    words, side = _split_side(_norm(text))
    count = _DEVICE_COUNT_RE.match(text)
    if count:
        # "Intraluminal Device, Drug-eluting, Two": the count is matched as "2devices", not as "two".
        words = (words - {count.group(1).lower(), "more"}) | {f"{_NUMBER_WORDS[count.group(1).lower()]}devices"}
    if _RANGE_RE.search(text):
        # "24-96 Consecutive Hours": the numbers are matched as a range, not as words.
        words = frozenset(w for w in words if not w.isdigit() and w not in _RANGE_WORDS)
    none = text.startswith("No ") or text == "None"
    # "Assistive, Adaptive, Supportive or Protective" lists alternatives; "Drug-eluting, Four or More" does not.
    parts = [p.strip() for p in text.split(",")]
    loose = len(parts) > 1 and " or " in parts[-1] and all(len(p.split()) == 1 for p in parts[:-1])
    return _Label(text, words, side, words | {side} if side else words, none, loose)


_DEVICE_COUNT_RE = re.compile(r"^.*Device.*, (Two|Three|Four)(?: or More)?$")
#: " in Heart and Great Vessels", " for Insertion in ...": the Device Key's body-system tails.
_SUFFIX_IN = re.compile(r"(?: for [A-Z]\w+)? in [A-Z].*$")


class PcsComposer:
    """Builds ICD-10-PCS codes from canonical words; see the module docstring.

    Build it with :meth:`load`; the constructor takes the parsed data files so tests can pass others.
    """

    def __init__(self, tables: dict, terms: dict, words: dict, titles: dict[str, str] | None = None):
        self._title_map = titles
        self._lex = words
        self._labels = [_make_label(text) for text in tables["labels"]]
        self._tables = [self._table(prefix, t) for prefix, t in sorted(tables["tables"].items())]
        self._tables_by_word: dict[str, set[str]] | None = None
        self._hints_by_word: dict[str, list] | None = None
        self._part_words_cache: dict[str, tuple[frozenset[str], bool]] = {}
        self._label_words_cache: dict[int, frozenset[str]] = {}
        self._queries: dict[str, dict | None] = {}
        self._codes_by_table: dict[str, list[str]] | None = None
        self._by_prefix = {t.prefix: t for t in self._tables}
        self._idf = self._weights()
        self._aliases = self._build_aliases(terms)
        self._hints = self._build_hints(terms["index"])
        # Keys as content_words spells a token ("k-wire" -> "kwire"), whoever edits the file.
        self._expansions = {norm_word(w): tuple(v.split()) for w, v in words["words"].items()}
        self._replace = {norm_word(w): tuple(v.split()) for w, v in words["replace"].items()}
        self._phrases = _PhraseIndex([(tuple(k.split()), tuple(v.split())) for k, v in words["phrases"].items()])
        self._rules = _RuleIndex(words["rules"])
        self._expanded: dict[str, tuple[str, ...]] = {}
        # "Dual-Chamber" in one label, "Dual Chamber" in another: the joined word also names the parts.
        self._hyphenated = {norm_word(a + b): (norm_word(a), norm_word(b)) for label in tables["labels"]
                            for a, b in re.findall(r"([A-Za-z]{3,})-([A-Za-z]{3,})", label)}
        self._forms = words["combining_forms"]
        self._triggers = _compile_triggers(words["negation"])
        self._affirm = frozenset(words["negation"].get("affirm", ()))
        self._comparators = {tuple(k.split()): v for k, v in words.get("comparators", {}).items()}

    @classmethod
    @functools.cache
    def load(cls) -> PcsComposer:
        """The composer over the vendored FY2026 data (built on first call, then cached)."""
        composer = cls(_json(TABLES_FILE), _json(TERMS_FILE), _json(WORDS_FILE))
        logger.info("PCS composer: %d tables, %d alias keys, %d index hints", len(composer._tables),
                    len(composer._aliases), len(composer._hints))
        return composer

    @property
    def _titles(self) -> dict[str, str]:
        """The 79,115 official titles, read on the first proposal (a third of the load time otherwise)."""
        if self._title_map is None:
            self._title_map = _read_titles()
        return self._title_map

    # ----------------------------------------------------------------- loading

    def _table(self, prefix: str, raw: dict) -> _Table:
        """One table from its vendored form: rows as ``(code, label index)`` pairs per axis."""
        rows = [tuple(tuple(zip(codes, labels, strict=True)) for codes, labels in row) for row in raw["rows"]]
        titles = tuple(self._labels[i].text for i in raw["titles"])
        op = self._labels[raw["fixed"][2]].text
        # synonyms.json reads "removal" as "resection" (of an organ); the root operation Removal (of a
        # device) must keep its own word, which pcs_words.json restores where a device is named.
        op_words = frozenset([norm_word(op)]) if " " not in op else self._labels[raw["fixed"][2]].words
        return _Table(prefix, raw["fixed"][2], op_words, raw["fixed"][1], titles, rows)

    def _weights(self) -> dict[str, float]:
        """Inverse document frequency of each word over the distinct labels: "joint" weighs less than "hip"."""
        keys = {label.words for label in self._labels}
        df: dict[str, int] = defaultdict(int)
        for key in keys:
            for word in key:
                df[word] += 1
        return {w: math.log(1 + len(keys) / n) for w, n in df.items()}

    def _build_aliases(self, terms: dict) -> dict[str, list[frozenset[str]]]:
        """Label text (side dropped) -> other names: Body Part Key, Device Key, index "use" entries."""
        aliases: dict[str, set[frozenset[str]]] = defaultdict(set)

        def add(title: str, name: str) -> None:
            """Record ``name`` as another name of the label ``title``."""
            words, _ = _split_side(_norm(re.sub(r"\([^)]*\)", " ", name)))
            if words and len(words) <= 6:
                aliases[_label_key(_SUFFIX_IN.sub("", title))].add(words)
                # "Non-tunneled central venous catheter": a note names the usual device without the negative
                # ("central venous catheter"); the other kind says so ("tunneled").
                plain = frozenset(w for w in words if not w.startswith("non"))
                if len(plain) >= 2 and plain != words:
                    aliases[_label_key(_SUFFIX_IN.sub("", title))].add(plain)

        for section in terms["definitions"]["sections"].values():
            for axis in section["axes"].values():
                for term in axis["terms"]:
                    for title in term.get("titles", []):
                        for name in term.get("includes", []):
                            add(title, name)
        for path, kind, text, _code in terms["index"]:
            if kind == "use" and len(path) == 1:
                add(text, path[0])
        return {k: sorted(v, key=sorted) for k, v in aliases.items()}

    def _build_hints(self, index: list) -> list[tuple[frozenset[str], str, str]]:
        """Index entries as ``(words, target, kind)``: the words name a code prefix or a root operation."""
        op_names = {self._labels[t.op].text.lower() for t in self._tables}
        findings = frozenset(self._lex.get("findings", ()))
        hints = []
        for path, kind, text, code in index:
            # Entries under a root operation ("Resection > Appendix") restate the tables, which are scored
            # anyway; those under a procedure's name ("Cholecystectomy", "EGD") add what the tables lack.
            if kind == "use" or path[0].lower() in op_names:
                continue
            op = text.split(",")[0].strip().lower()
            if len(code) < 3 and op not in op_names:
                continue
            if len(code) < 3 and not findings.isdisjoint(_norm_cached(path[0])):
                # "Enlargement see Dilation": alone, a finding ("lymph node enlargement in the axilla" was a
                # Repair of the axillary lymphatic) is no procedure.
                continue
            target, kind = (code, "prefix") if len(code) >= 3 else (op, "op")
            hints += [(words, target, kind) for words in _variants(path)]
        return hints

    # ----------------------------------------------------------------- query

    def _query(self, words: list[str]) -> _Query:
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

    def _fire(self, query: _Query) -> _Fired:
        """Index entries all of whose words the query has."""
        if self._hints_by_word is None:
            # Each entry filed under its rarest word: a passage reads the few entries it can fire, not all 5,000.
            frequency: dict[str, int] = defaultdict(int)
            for words, _, _ in self._hints:
                for w in words:
                    frequency[w] += 1
            by_word: dict[str, list] = defaultdict(list)
            for hint in self._hints:
                if hint[0]:
                    by_word[min(hint[0], key=lambda w: (frequency[w], w))].append(hint)
            self._hints_by_word = dict(by_word)
        fired = _Fired()
        for words, target, kind in (h for w in sorted(query.bag) for h in self._hints_by_word.get(w, ())):
            if not words <= query.bag:
                continue
            if kind == "op":
                fired.ops[target] = fired.ops.get(target, frozenset()) | words
                continue
            fired.prefixes[target[:4]] = fired.prefixes.get(target[:4], frozenset()) | words
            fired.tables[target[:3]] = fired.tables.get(target[:3], frozenset()) | words
            if len(target) == 7:
                fired.codes.add(target)
            if len(target) >= 5:
                fired.targets.add(target)
        return fired

    # ----------------------------------------------------------------- proposals

    def propose(self, words: list[str], limit: int = 5) -> list[PcsProposal]:
        """Propose codes (or prefixes with their open axes) for the canonical words of a passage.

        Args:
            words: canonical content words, as :func:`medcode.textnorm.content_words` returns them.
            limit: how many proposals to return at most.

        Returns:
            Proposals, best supported first; every code is a valid FY2026 code or prefix of one.
        """
        query = self._query(list(words))
        if not query.tokens:
            return []
        call = _Call(self, query)
        found: dict[str, PcsProposal] = {}
        # Rows are scored only in the tables whose operation the words name best: a passage names one or
        # two operations, and scoring the body parts of every table an operation word touches cost ~2 ms.
        ops = []
        for i, table in enumerate(self._candidate_tables(call)):
            op = call.operation(table).score
            if op > 0:
                words, fixed = self._part_words(table)
                parts = sum(self._idf.get(w, UNKNOWN_WEIGHT) for w in words & call.q.bag) or (INDEX_BONUS if fixed else 0)
                # An operation only the index points to ("bone graft": Replacement or Supplement) names its
                # tables' body parts at its own strength: at full weight, the many body parts of such tables
                # crowded out the table the words name ("spinal fusion ... bone graft" lost 0SG).
                ops.append((op + parts * min(1.0, op / OP_WEIGHT), i, table))
        best = max((score for score, _, _ in ops), default=0.0)
        top = {t.prefix for score, _, t in sorted(ops, key=lambda o: (-o[0], o[1]))[:MAX_TABLES]
               if score >= TABLE_SHARE * best}
        # A table the index points into is always scored: the index is the coder's own route to it.
        tables = [t for _, _, t in ops if t.prefix in top or t.prefix in call.fired.tables]
        for table in tables:
            for proposal in call.table(table):
                if proposal.code not in found or found[proposal.code].score < proposal.score:
                    found[proposal.code] = proposal
        ranked = sorted(found.values(), key=lambda p: (-p.score, not p.complete, p.code))
        return _diverse([p for p in ranked if p.score >= MIN_SCORE], limit)

    @functools.cached_property
    def action_words(self) -> frozenset[str]:
        """Canonical note words that name a procedure: root operations' words, index main terms, and the words
        medcode's PCS word knowledge expands (a sentence with none of them names no procedure)."""
        words = set().union(*(t.op_words for t in self._tables))
        words |= {w for hint_words, _, _ in self._hints for w in hint_words}
        words |= set(self._expansions) | set(self._replace)
        return frozenset(words - _GENERIC_ACTION_WORDS)

    def _label_words(self, index: int) -> frozenset[str]:
        """Every word a label can be matched by: its own (with the side) and its aliases' (cached)."""
        found = self._label_words_cache.get(index)
        if found is None:
            label = self._labels[index]
            words = set(label.full | label.words)
            for alias in self._aliases.get(_label_key(label.text), ()):
                words |= alias
            found = self._label_words_cache[index] = frozenset(words)
        return found

    def _part_words(self, table: _Table) -> tuple[frozenset[str], bool]:
        """Every word a body part of the table is named by (labels and aliases), and whether one is fixed."""
        found = self._part_words_cache.get(table.prefix)
        if found is None:
            words: set[str] = set()
            fixed = table.single_part
            for row in table.rows:
                for _, index in row[0]:
                    label = self._labels[index]
                    fixed = fixed or label.none
                    words |= label.full | label.words
                    for alias in self._aliases.get(_label_key(label.text), ()):
                        words |= alias
            found = self._part_words_cache[table.prefix] = (frozenset(words), fixed)
        return found

    def _candidate_tables(self, call: _Call) -> list[_Table]:
        """The tables whose operation the words can name or the index points into (the rest score 0).

        Scoring every one of the 914 tables cost ~40 ms a sentence; a table's operation scores only
        when a word of it is in the passage or a fired index entry names it, so those are read first.
        """
        if self._tables_by_word is None:
            by_word: dict[str, set[str]] = defaultdict(set)
            by_op: dict[str, set[str]] = defaultdict(set)
            for table in self._tables:
                for word in table.op_words:
                    by_word[word].add(table.prefix)
                if table.prefix[0] == "0":
                    by_op[self._labels[table.op].text.lower()].add(table.prefix)
            self._tables_by_word, self._tables_by_op = dict(by_word), dict(by_op)
        wanted: set[str] = set()
        for word in call.q.bag:
            wanted |= self._tables_by_word.get(word, set())
        wanted |= set(call.fired.tables)
        for op in call.fired.ops:
            wanted |= self._tables_by_op.get(op, set())
        return [self._by_prefix[p] for p in sorted(wanted) if p in self._by_prefix]

    def axis_title(self, prefix: str, axis: str) -> str:
        """The title a table gives an axis ("Contrast" for character 5 of an imaging code).

        Args:
            prefix: a code or prefix of at least 3 characters.
            axis: one of the names :attr:`PcsProposal.missing` uses.

        Returns:
            The table's axis title, or ``axis`` itself when the table or the name is unknown.
        """
        table = self._by_prefix.get(prefix[:3])
        positions = {name: pos for pos, name in AXIS_NAMES.items()}
        if table is None or axis not in positions:
            return "Laterality" if axis == LATERALITY else axis
        return "Operation" if positions[axis] == 3 else table.titles[positions[axis] - 4]

    def query(self, prefix: str, max_options: int = 8) -> dict | None:
        """The question for the axis a partial code leaves open, and a code for each answer.

        Args:
            prefix: a valid ICD-10-PCS prefix of 3 to 6 characters.

        Returns:
            ``{"detail", "question", "options": [{"code", "title"}]}`` (the detail is the table's name
            for the axis: "approach", "device", "contrast", ...), or ``None`` for a complete or unknown code.
        """
        if not 3 <= len(prefix) < 7 or prefix[:3] not in self._by_prefix:
            return None
        position = len(prefix) + 1
        axis = self.axis_title(prefix, AXIS_NAMES.get(position, "qualifier")).lower()
        found = self._queries.get(prefix)
        if found is None:
            found = self._queries[prefix] = self._query_for(prefix, axis, max_options)
        return found

    def _query_for(self, prefix: str, axis: str, max_options: int) -> dict | None:
        if self._codes_by_table is None:
            by_table: dict[str, list[str]] = defaultdict(list)
            for code in self._titles:
                by_table[code[:3]].append(code)
            self._codes_by_table = dict(by_table)
        examples: dict[str, tuple[str, str]] = {}
        for code, title in ((c, self._titles[c]) for c in self._codes_by_table.get(prefix[:3], ())):
            # For each answer, its plainest code (no device, no qualifier: the shortest title).
            if code.startswith(prefix) and len(title) < len(examples.get(code[len(prefix)], ("", "x" * 999))[1]):
                examples[code[len(prefix)]] = (code, title)
        if not examples:
            return None
        return {"detail": axis, "question": f"Which {axis} does the documentation support?",
                "options": [{"code": code, "title": title} for code, title in sorted(examples.values())[:max_options]]}

    def _prefix_title(self, prefix: str) -> str:
        """The operation (and body part) a prefix has fixed: PCS gives prefixes no titles."""
        table = self._by_prefix[prefix[:3]]
        title = self._labels[table.op].text
        if len(prefix) >= 4:
            for row in table.rows:
                for code, index in row[0]:
                    if code == prefix[3]:
                        return f"{title} of {self._labels[index].text}"
        return f"{title}, {self._labels[table.system].text}"


class _Call:
    """The scoring state of one :meth:`PcsComposer.propose` call: the query, caches, fired index entries."""

    def __init__(self, composer: PcsComposer, query: _Query):
        self.c = composer
        self.q = query
        self.fired = composer._fire(query)
        self.cache: dict = {}
        self.ops: dict[str, _Op] = {}
        self.prefix = ""            # the table being scored
        self.cues = [dict(cue, words=frozenset(cue["any"]) & query.bag)
                     for cue in composer._lex["cues"] if frozenset(cue["any"]) & query.bag]

    # ----------------------------------------------------------------- matching

    def closeness(self, word: str, near: frozenset[int], decay: tuple[float, float, float]) -> float:
        """1 for a word close to the operation's words, less the further it is."""
        if not near:
            return 1.0
        full, floor, span = decay
        distance = min(abs(a - b) for a in self.q.origin[word] for b in near)
        if distance <= full:
            return 1.0
        return max(floor, 1.0 - (1.0 - floor) * (distance - full) / span)

    def match(self, words: frozenset[str], near, used, decay, full=False, loose=False):
        """Score one label or alias against the words not yet used; ``(score, words matched)``."""
        hit = (words & self.q.bag) - used
        if not hit or (full and hit != words):
            return 0.0, frozenset()
        gain = loss = 0.0
        for word in words:
            weight = self.c._idf.get(word, UNKNOWN_WEIGHT)
            if word in hit:
                close = self.closeness(word, near, decay)
                gain += close * weight
                loss += (1.0 - close) * weight * LABEL_MISS
            elif not loose:
                loss += weight * LABEL_MISS
        return gain - loss, hit

    def label(self, index: int, near, used, decay, sided=False) -> tuple[float, frozenset[str]]:
        """A label's score: the best of its own words and its aliases (Body Part Key, Device Key, index).

        A body part's side is settled apart (``sided`` false); on other axes it is one more word.
        """
        if self.c._label_words(index).isdisjoint(self.q.bag):
            return _NO_MATCH  # what matching gives a label none of whose names has a word of the passage
        key = (index, near, used, decay, sided)
        if key in self.cache:
            return self.cache[key]
        label = self.c._labels[index]
        words = label.full if sided else label.words
        best = self.match(words, near, used, decay, loose=label.loose) if words else (0.0, frozenset())
        for alias in self.c._aliases.get(_label_key(label.text), ()):
            score, hit = self.match(alias, near, used, decay, full=True)
            if ALIAS_FACTOR * score > best[0]:
                best = (ALIAS_FACTOR * score, hit)
        self.cache[key] = best
        return best

    def used(self, tokens: Iterable[str]) -> frozenset[str]:
        """Tokens an axis took that a later axis may not take again (unless the note says them twice)."""
        return frozenset(t for t in tokens if len(self.q.origin.get(t, ())) == 1)

    # ----------------------------------------------------------------- axes

    def operation(self, table: _Table) -> _Op:
        """How well the words name a table's root operation, or the index points into the table (cached:
        :meth:`PcsComposer.propose` asks it to choose the tables, :meth:`table` again to score one)."""
        op = self.ops.get(table.prefix)
        if op is None:
            op = self.ops[table.prefix] = self._operation(table)
        return op

    def _operation(self, table: _Table) -> _Op:
        score, hit = self.match(table.op_words, frozenset(), frozenset(), DECAY["default"])
        total = sum(self.c._idf.get(w, UNKNOWN_WEIGHT) for w in table.op_words) or 1.0
        op = _Op(OP_WEIGHT * max(score, 0.0) / total, hit if score > 0 else frozenset())
        hint = self.fired.tables.get(table.prefix)
        if hint is None and table.prefix[0] == "0":
            hint = self.fired.ops.get(self.c._labels[table.op].text.lower())
        if hint is not None:
            op.hint = hint
            op.score = max(op.score, INDEX_OP_WEIGHT)
        if op.score and self.q.positions(op.hit | op.hint) <= self.q.past:
            # "Rehabilitation after total hip arthroplasty": the arthroplasty is not this encounter's.
            op.score *= PAST_FACTOR
        return op

    def may_name_a_body_part(self, table: _Table) -> bool:
        """Whether any body part of the table can be chosen: named by a word of its label or an alias, pointed
        at by a fired index entry, or fixed. Tables where none can are skipped whole (exact, and most are)."""
        words, fixed = self.c._part_words(table)
        return fixed or not words.isdisjoint(self.q.bag) or any(p.startswith(table.prefix) for p in self.fired.prefixes)

    def body_parts(self, axis, near, used, decay) -> list[_Choice]:
        """Body part values of a row the words name, with the side settled or left open."""
        choices = []
        for code, index in axis:
            label = self.c._labels[index]
            score, hit = self.label(index, near, used, decay)
            if score <= 0:
                continue
            if self.q.route and self.by_route(hit):
                score *= ROUTE_FACTOR
            if label.side is None:
                choices.append(_Choice(code, score, hit))
                continue
            stated = _side_of(hit, self.q)
            if stated is None:
                choices.append(_Choice(code, score, hit, "side-missing"))
            elif stated == label.side or (stated == "bilateral" and not self.has_bilateral(axis, label)):
                # "Bilateral myringotomy": a body part with no Bilateral value is coded on each side.
                choices.append(_Choice(code, score + SIDE_BONUS, hit | {stated}))
        if not choices:
            # The index names the body part ("EGD": Upper Intestinal Tract) where the words do not.
            for code, _ in axis:
                hint = self.fired.prefixes.get(self.prefix + code)
                if hint:
                    choices.append(_Choice(code, INDEX_BONUS, hint))
        if not choices:
            # The table has one body part ("Products of Conception"), or the row's is "None" (rehabilitation
            # of no particular region): naming the operation names it.
            nothing = [code for code, index in axis if self.c._labels[index].none]
            if len(axis) == 1 and self.c._by_prefix[self.prefix].single_part or nothing:
                choices.append(_Choice((nothing or [axis[0][0]])[0], 0.0, how="fixed"))
        return _top(choices)

    def has_bilateral(self, axis, label: _Label) -> bool:
        """Whether the axis has a Bilateral value of the body part ``label`` names one side of."""
        labels = self.c._labels
        return any(labels[i].side == "bilateral" and labels[i].words == label.words for _, i in axis)

    def by_route(self, hit: frozenset[str]) -> bool:
        """Whether a body part is named mostly by the words of the access route ("via right femoral vein"):
        the vessel a catheter goes in by, not the body part the filter or catheter ends in. The part still
        leads when nothing else is named, at a lower score."""
        idf = self.c._idf
        route = sum(idf.get(t, UNKNOWN_WEIGHT) for t in hit if self.q.origin.get(t, set()) <= self.q.route)
        return route >= 0.5 * sum(idf.get(t, UNKNOWN_WEIGHT) for t in hit)

    def approach(self, table: _Table, part: str, axis, prefix: str) -> list[_Choice]:
        """Character 5: the approach words a note states (or, outside surgery, its own labels)."""
        if table.titles[1] != "Approach":
            return self.values(table, part, axis, prefix, 5, frozenset())
        choices = []
        for code, index in axis:
            features = self.c._labels[index].words & APPROACH_FEATURES
            hit = features & self.q.bag
            if hit:
                score = APPROACH_WEIGHT * (len(hit) - 0.75 * len(features - hit))
                if score > 0:
                    choices.append(_Choice(code, score, hit))
        choices = self.cued(choices, axis, prefix, 5)
        return _top(choices) or self.fallback(table, part, axis, prefix, 5)

    def cued(self, choices: list[_Choice], axis, prefix: str, pos: int) -> list[_Choice]:
        """Add the weight of the cues that fire for this axis ("colostomy": the bypass ends at the skin)."""
        bonus = {}
        operation = self.c._labels[self.c._by_prefix[prefix[:3]].op].text
        for cue in self.cues:
            if cue["pos"] == pos and prefix.startswith(cue["prefix"]) and cue.get("op", operation) == operation:
                bonus[cue["code"]] = (cue["weight"], cue["words"])
        if not bonus:
            return choices
        out = {c.code: c for c in choices}
        for code, _ in axis:
            if code in bonus:
                weight, words = bonus[code]
                old = out.get(code, _Choice(code, 0.0))
                out[code] = _Choice(code, old.score + weight, old.tokens | words)
        # A negative cue takes back what a word gave ("before incision" is no open approach to a vein).
        return [c for c in out.values() if c.score > 0]

    def values(self, table: _Table, part: str, axis, prefix: str, pos: int, used) -> list[_Choice]:
        """Device, qualifier and the non-surgical axes: labels, keys, ranges, else the fallback."""
        decay = DECAY.get(table.prefix[0], DECAY["default"])
        choices = []
        for code, index in axis:
            label = self.c._labels[index]
            if label.none:
                continue
            held = _range_match(label.text, self.q)
            if held is False:
                continue
            score, hit = self.label(index, frozenset(), used, decay, sided=True)
            if held is not None:
                score, hit = score + RANGE_WEIGHT, hit | held
            if score > 0:
                choices.append(_Choice(code, score, hit))
        choices = self.cued(choices, axis, prefix, pos)
        if choices:
            return _top(choices)
        ambiguous = table.titles[pos - 4] == "Contrast" and CONTRAST_MENTION in self.q.bag
        return self.fallback(table, part, axis, prefix, pos, ambiguous)

    def fallback(self, table: _Table, part: str, axis, prefix: str, pos: int, ambiguous=False) -> list[_Choice]:
        """No word names a value: the only one, the "No ..." one, a coding convention, or an open axis."""
        labels = self.c._labels
        indexed = {t[pos - 1] for t in self.fired.targets if len(t) >= pos and t.startswith(prefix)}
        if len(indexed) == 1 and indexed <= {code for code, _ in axis}:
            # The index entry the note fires spells this axis ("Cardioversion 5A2204Z"): no convention needed.
            return [_Choice(indexed.pop(), 0.0, how="fixed")]
        nothing = [code for code, index in axis if labels[index].none]
        if ambiguous and nothing:
            others = [code for code, _ in axis if code != nothing[0]]
            return [_Choice(nothing[0], -DEFAULT_PENALTY, how="default"),
                    *(_Choice(code, -GUESS_PENALTY, how="missing") for code in others[:1])]
        default = self.default(prefix, pos)
        if len(axis) == 1:
            code, index = axis[0]
            options = table.options(part, pos)
            if labels[index].none or len(options) <= 1 or default == code:
                return [_Choice(code, 0.0 if default != code else -DEFAULT_PENALTY, how="fixed")]
            # One row of several for this body part, naming a value the note does not: an unlikely
            # alternative when another row has "No ..." or a convention names another value; else the
            # value a later axis's words pick the row for ("Stent Retriever" is percutaneous), or open.
            how = "default" if default or "Z" in options else "row"
            return [_Choice(code, -GUESS_PENALTY, how=how)]
        if nothing:
            return [_Choice(nothing[0], 0.0, how="fixed")]
        if default in {c for c, _ in axis}:
            return [_Choice(default, -DEFAULT_PENALTY, how="default")]
        return [_Choice(code, -GUESS_PENALTY, how="missing") for code, _ in axis[:TOP_VALUES]]

    def default(self, prefix: str, pos: int) -> str | None:
        """The coding convention for an axis the note leaves unsaid, by the longest matching prefix."""
        defaults = self.c._lex["defaults"][AXIS_NAMES[pos]]
        for length in range(min(len(prefix), 6), 0, -1):
            if prefix[:length] in defaults:
                return defaults[prefix[:length]]
        return None

    # ----------------------------------------------------------------- codes

    def table(self, table: _Table) -> list[PcsProposal]:
        """Proposals from every row of a table whose operation the words support."""
        op = self.operation(table)
        if op.score <= 0 or not self.may_name_a_body_part(table):
            return []
        # Distances count from the operation's own words; the index's words only when the note has none.
        near = self.q.positions(op.hit or op.hint)
        decay = DECAY.get(table.prefix[0], DECAY["default"])
        # The index's words may name the body part too ("CT of brain"): only the operation's own are used up.
        used = self.used(op.hit)
        out = []
        for row in table.rows:
            self.prefix = table.prefix
            for part in self.body_parts(row[0], near, used, decay):
                here = table.prefix + part.code
                # The body part's words name no device or qualifier ("Bypass Descending Colon to Descending
                # Colon" is not what "descending colostomy" says).
                taken = used | part.tokens
                for ap in self.approach(table, part.code, row[1], here):
                    for dev in self.values(table, part.code, row[2], here + ap.code, 6, taken):
                        for qual in self.values(table, part.code, row[3], here + ap.code + dev.code, 7, taken):
                            out += self.proposals(table.prefix, (part, ap, dev, qual), op)
        return out

    def proposals(self, prefix: str, choices: tuple[_Choice, ...], op: _Op) -> list[PcsProposal]:
        """The code the choices make; where an axis is open, its prefix and the guessed completion."""
        code = prefix + "".join(c.code for c in choices)
        if code not in self.c._titles:
            return []
        choices = _settle_rows(choices)
        score = op.score + sum(c.score for c in choices)
        tokens = set(op.hit | op.hint)
        for c in choices:
            tokens |= c.tokens
        hint = self.fired.prefixes.get(code[:4]) or self.fired.tables.get(code[:3])
        if hint is not None:
            score += INDEX_BONUS if code[:4] in self.fired.prefixes else INDEX_BONUS / 2
            score += INDEX_CODE_BONUS if code in self.fired.codes else 0.0
            tokens |= hint
        evidence = self.q.sources(tokens)
        title = self.c._titles[code]
        open_axes = [i for i, c in enumerate(choices) if c.how in ("missing", "side-missing")]
        if not open_axes:
            return [PcsProposal(code, True, (), round(score, 3), evidence, title)]
        missing = tuple(LATERALITY if choices[i].how == "side-missing" else AXIS_NAMES[4 + i]
                        for i in open_axes)
        cut = 3 + open_axes[0]
        asked = score - sum(c.score for c in choices if c.how == "missing") - MISSING_PENALTY * len(missing)
        guessed = score - GUESS_PENALTY * sum(c.how == "side-missing" for c in choices)
        return [PcsProposal(code[:cut], False, missing, round(asked, 3), evidence, self.c._prefix_title(code[:cut])),
                PcsProposal(code, True, (), round(guessed, 3), evidence, title)]


# --------------------------------------------------------------------- helpers


@functools.cache
def _label_key(text: str) -> str:
    """A label or key title as the alias table keys it: canonical words, side dropped, sorted."""
    words, _ = _split_side(_norm(text))
    return " ".join(sorted(words))


def _settle_rows(choices: tuple[_Choice, ...]) -> tuple[_Choice, ...]:
    """A row's only value is implied when a later axis's words chose the row, else the axis is open."""
    out = list(choices)
    for i, choice in enumerate(out):
        if choice.how == "row":
            chosen = any(c.how == "words" and c.score > 0 for c in out[i + 1:])
            out[i] = _Choice(choice.code, 0.0, choice.tokens, "fixed") if chosen else \
                _Choice(choice.code, choice.score, choice.tokens, "missing")
    return tuple(out)


def _top(choices: list[_Choice]) -> list[_Choice]:
    """The best :data:`TOP_VALUES` values of an axis, ties broken by code so runs are repeatable."""
    choices.sort(key=lambda c: (-c.score, c.code))
    return choices[:TOP_VALUES]


def _diverse(ranked: list[PcsProposal], limit: int) -> list[PcsProposal]:
    """The best proposals, at most :data:`FAMILY_CAP` per table until other tables have had a turn.

    A note with two procedures (a CABG and its vein harvest) would otherwise fill the list with variants
    of the better supported one.
    """
    first, rest, count = [], [], defaultdict(int)
    for proposal in ranked:
        count[proposal.code[:3]] += 1
        (first if count[proposal.code[:3]] <= FAMILY_CAP else rest).append(proposal)
    picked = (first + rest)[:limit]
    return sorted(picked, key=lambda p: (-p.score, not p.complete, p.code))


def _variants(path: list[str]) -> list[frozenset[str]]:
    """Word sets an index path can be written as.

    A parenthesised part stands alone as another name only when it is an abbreviation, or the head is
    one ("EGD (esophagogastroduodenoscopy)", "Medial collateral ligament (MCL)"); "Connectomic Analysis
    (Brain) Mapping" is not a name of the brain.
    """
    head, *rest = path
    tail = [w for part in rest for w in _norm_cached(part)]
    out = {frozenset((*names, *tail)) for names in _head_names(head)}
    return [s for s in out if s]


@functools.cache
def _head_names(head: str) -> tuple[tuple[str, ...], ...]:
    """The canonical words of an index main term, and of its parenthesised abbreviation or expansion."""
    bare = re.sub(r"\([^)]*\)", " ", head)
    names = [_norm_cached(bare)]
    abbreviation = re.fullmatch(r"[A-Z0-9/&-]{2,8}", bare.strip()) is not None
    for inner in re.findall(r"\(([^)]*)\)", head):
        if inner not in ("R", "tm", "TM") and (abbreviation or re.fullmatch(r"[A-Z0-9/&-]{2,8}", inner)):
            names.append(_norm_cached(inner))
    return tuple(names)


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
        for rule, need, anyof in self.rules:
            if not need.issubset(present.keys()) or (anyof and anyof.isdisjoint(present.keys())):
                continue
            at = _rule_fires(rule, present)
            if at is None:
                continue
            drop = set(rule.get("drop", "").split())
            tokens = [(t, s) for t, s in tokens if t not in drop] + [(t, at) for t in rule.get("add", "").split()]
            present = _present(tokens)  # only when a rule fires
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


_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "single": 1, "double": 2, "triple": 3,
                 "quadruple": 4, "x1": 1, "x2": 2, "x3": 3, "x4": 4, "x5": 5}


def _count_vessels(tokens: list[tuple[str, int]], vessels: dict) -> list[tuple[str, int]]:
    """Coronary body parts count the arteries treated: say the count ("two") the vessel names show."""
    bag = {t for t, _ in tokens}
    if not bag & set(vessels["context"]):
        return tokens
    seen = {group for group, names in vessels["groups"].items() if bag & set(names)}
    stated = [_NUMBER_WORDS[t] for t, _ in tokens if _NUMBER_WORDS.get(t, 0) > 1]
    count = max([len(seen), *stated])
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
            total += max([1, *before])
            at = i if at is None else at
    if total < 2:
        return tokens
    return [*tokens, (f"{min(total, 4)}devices", at)]


def _side_of(hit: frozenset[str], query: _Query) -> str | None:
    """The side stated for a body part: the nearest side word before it, else just after, else the only one."""
    sides = [(src, word) for word, src in query.tokens if word in SIDES]
    if not sides:
        return None
    at = min(min(query.origin[w]) for w in hit)
    before = [(at - s, w) for s, w in sides if 0 <= at - s <= SIDE_WINDOW_BEFORE]
    after = [(s - at, w) for s, w in sides if 0 < s - at <= SIDE_WINDOW_AFTER]
    for found in (before, after):
        if found:
            return min(found)[1]
    distinct = {w for _, w in sides}
    return distinct.pop() if len(distinct) == 1 else None


#: Units a note states a quantity in, as (dimension, factor): days are 24 hours.
_UNITS = {"hour": ("hour", 1.0), "hr": ("hour", 1.0), "hrs": ("hour", 1.0), "h": ("hour", 1.0),
          "day": ("hour", 24.0), "days": ("hour", 24.0), "minute": ("hour", 1 / 60), "min": ("hour", 1 / 60),
          "mins": ("hour", 1 / 60), "week": ("hour", 168.0), "mv": ("mev", 1.0), "mev": ("mev", 1.0)}
_RANGE_WORDS = frozenset("less than greater hour per day consecutive mev".split())
#: Endings that make a label's adjective from a note's noun ("axilla" -> "Axillary").
_ADJECTIVE_ENDINGS = ("ry", "r", "l", "ic", "al")
_QUANTITY_FILLERS = frozenset({"consecutive", "continuous", "total", "full"})
_QUANTITY_RE = re.compile(r"^(\d+)([a-z]*)$")
_RANGE_RE = re.compile(r"(less than|greater than|<|>)?\s*(\d+)(?:\s*-\s*(\d+))?\s*(?:consecutive\s+)?(hour|mev)",
                       re.IGNORECASE)


#: Units of a measured amount: the number before one is an amount ("1.2 liters"), never a label's number
#: ("1 to 2 Ribs" took a thoracentesis's "1.2 liters" for the first two ribs).
_MEASURE_UNITS = frozenset({"liter", "l", "ml", "cc", "cm", "mm", "mg", "g", "kg", "unit", "french", "fr",
                            "gauge", "percent"}) | frozenset(_UNITS)


def _measured(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` is a number (or a run of digits, "1.2") that an amount's unit follows."""
    if not words[i].isdigit():
        return False
    j = i + 1
    while j < len(words) and words[j].isdigit():
        j += 1
    return j < len(words) and words[j] in _MEASURE_UNITS


#: How far past its number a bound ("more than 96 hours") puts the quantity: "more than 96" is not 96.
_BOUND_STEP = 1e-6


def _quantities(words: list[str], comparators: dict[tuple[str, ...], str]) -> dict[str, tuple[float, frozenset[str]]]:
    """Quantities the words state ("6 day", "72 hour", "4hour", "6 mv"), by dimension, with their words.

    A comparator just before the number ("more than 96 hours", "at least 97", "less than 24") makes it a
    bound: a quantity above (below) the number, so "more than 96 consecutive hours" is in "Greater than 96
    Consecutive Hours", not in "24-96 Consecutive Hours" as the bare 96 is.
    """
    out: dict[str, tuple[float, frozenset[str]]] = {}
    for i, word in enumerate(words):
        m = _QUANTITY_RE.match(word)
        if not m:
            continue
        unit, used = m.group(2), {word}
        if not unit:
            # "6 days", and "120 consecutive hours": the unit may follow a filler word.
            at = i + 1 + (i + 1 < len(words) and words[i + 1] in _QUANTITY_FILLERS)
            if at < len(words):
                unit, used = words[at], {word, *words[i + 1:at + 1]}
        if unit in _UNITS:
            dimension, factor = _UNITS[unit]
            value = float(m.group(1))
            for size in (2, 1):
                bound = comparators.get(tuple(words[max(0, i - size):i])) if i >= size else None
                if bound:
                    value += _BOUND_STEP * ((bound == ">") - (bound == "<"))
                    used |= set(words[i - size:i])
                    break
            out.setdefault(dimension, (value * factor, frozenset(used)))
    return out


def _range_match(label: str, query: _Query) -> frozenset[str] | bool | None:
    """Whether a label's range ("24-96 Consecutive Hours", "Photons 1 - 10 MeV") holds the quantity stated.

    Returns:
        The quantity's words when it holds, ``False`` when it does not, ``None`` when the label has no
        range or the words state no quantity of its kind.
    """
    m = _RANGE_RE.search(label)
    if not m:
        return None
    found = query.quantities.get(m.group(4).lower())
    if found is None:
        return None
    value, used = found
    if "per day" in label.lower():
        value = min(value, 24.0)
    low = float(m.group(2))
    high = float(m.group(3)) if m.group(3) else low
    kind = (m.group(1) or "").lower()
    if kind in ("less than", "<"):
        ok = value < low
    elif kind in ("greater than", ">"):
        ok = value > low
    else:
        ok = low <= value <= high
    return frozenset(t for t in used if t in query.bag) if ok else False


__all__ = ["AXIS_NAMES", "LATERALITY", "PcsComposer", "PcsProposal"]
