"""The PCS composer's weights and records: proposals, table labels, tables, queries, axis choices."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

TABLES_FILE = "pcs_tables.json.gz"
TERMS_FILE = "pcs_terms.json.gz"
WORDS_FILE = "pcs_words.json"

#: What :meth:`_Call.label` gives a label no word of the passage names.
_NO_MATCH: tuple[float, frozenset[str]] = (0.0, frozenset())
#: Words whose expansion is kept (see :meth:`PassageReader._expand`).
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


def _settle_rows(choices: tuple[_Choice, ...]) -> tuple[_Choice, ...]:
    """A row's only value is implied when a later axis's words chose the row, else the axis is open."""
    if not any(c.how == "row" for c in choices):
        return choices  # most proposals
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
