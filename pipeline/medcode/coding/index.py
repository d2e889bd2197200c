"""The code-set index the coding engine searches: every reportable ICD-10-CM code as bags of words.

Each reportable code (a billable code, or, for codes that take a 7th character, the code without it)
is described by *rows*: its title and each of its inclusion terms. A row holds

* the words that must be in a note for the code to fit (a title's main term and modifiers),
* optional words (the title's parenthesised nonessential modifiers: "Essential (primary) hypertension"),
* forbidden words (what a title says it is *without*: "... without obstruction").

Words a title uses to say that a detail is not documented ("unspecified", "NOS") are not indexed:
a code that names no side costs nothing when the note names none, while a code for the right side
costs its missing "right". Fracture titles say "displaced" by default (a fracture not stated as
displaced or nondisplaced is coded displaced), so "displaced" is not indexed either.

The index is arrays (CSR matrices of IDF weights) and a code list: saved with ``numpy.savez`` and
JSON, no pickle.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from medcode.about import CM
from medcode.textnorm import content_words, strip_encounter

#: Title words that say a detail is *not* documented: never required of a note.
GENERIC_WORDS = frozenset({"unspecified", "nos", "nec", "part", "site", "organism", "displaced", "specified",
                           "encounter", "initial", "subsequent", "sequela"})
#: Words that say a code is a catch-all: required (so weighed), but at a fraction of their IDF, so that
#: "Other specified ..." codes lose to the unspecified code when the note names no other detail.
#: "female" costs nothing when missing: where a title pair differs only by sex (C50.41- female / C50.42- male
#: breast, D05, Z85.4-), a note that names no sex is coded female, as coders code breast cancer; a note that
#: says "male" still pays the female code nothing and gains the male code its word.
WEAK_WORDS = {"other": 0.3, "unspecified": 0.0, "female": 0.0}
#: Title words that are the Index's default, so nonessential (optional) in the titles of these categories: an
#: osteoarthritis not stated secondary or post-traumatic is primary ("Osteoarthritis ... (primary)"), so
#: "osteoarthritis of both knees" is M17.0, not M17.4 "bilateral secondary" (which paid as much for its missing
#: "secondary" as M17.0 for "primary"). Elsewhere "primary" stays required: "open-angle glaucoma" NOS is H40.10-.
#: The organism codes B95-B97 ("Klebsiella pneumoniae [K. pneumoniae] as the cause of diseases classified
#: elsewhere") are what a coder adds for the organism of an infection coded elsewhere (I.C.1.b.): a note names the
#: organism, never "the cause of diseases classified elsewhere", so "pyelonephritis, culture grew Klebsiella
#: pneumoniae" had gone to J15.0 (Klebsiella *pneumonia*), which shares two of its three words.
_ORGANISM_CODES = ("B95", "B96", "B97")
#: Words that make a fracture no injury: a stress, pathological or osteoporotic fracture is M84.3-, M84.4- or
#: M80.- (Index: Fracture, pathological / stress; Guidelines I.C.13.c), never a chapter 19 fracture code, so they
#: are forbidden words of every S-code fracture title ("stress fracture of the left second metatarsal" had gone to
#: S92.322A).
NOT_TRAUMATIC = frozenset({"stress", "pathological", "pathologic", "osteoporotic", "osteoporosis", "insufficiency",
                           "fatigue"})
DEFAULT_WORDS = {"primary": ("M15", "M16", "M17", "M18", "M19"), "cause": _ORGANISM_CODES,
                 "diseas": _ORGANISM_CODES, "classified": _ORGANISM_CODES, "elsewhere": _ORGANISM_CODES}
#: "without X" up to the next "with", "due to", comma or semicolon: "without cholecystitis with obstruction"; "without
#: falling due to stepping from one level to another" (W18.4-: the cause is required, not forbidden; "stepped off a
#: curb" had W18.40 before W18.43).
_WITHOUT_RE = re.compile(r"\bwithout\b(.*?)(?=\bwith\b|\bdue to\b|[,;]|$)", re.IGNORECASE)
_PAREN_RE = re.compile(r"\(([^)]*)\)")
#: Square brackets enclose a synonym or alternative wording (Tabular conventions, Guidelines I.A.7): "Gestational
#: [pregnancy-induced] hypertension" is also described without it, or "gestational hypertension" paid for the
#: missing "pregnancy-induced" and lost O13.- to I10.
_BRACKET_RE = re.compile(r"\[[^\]]*\]")
#: "not specified as recurrent", "not intractable", "not having achieved remission": the code is for a note that
#: does not say it, so the word is forbidden, like a without-clause's (the words were required before, so
#: K40.90 "..., not specified as recurrent" needed "recurrent" as much as K40.91 "..., recurrent" did).
_NOT_RE = re.compile(r"\bnot (?:specified as |having achieved )?(intractable|recurrent|traumatic|remission|"
                     r"acute or chronic|primary or secondary|Sj\S+)", re.IGNORECASE)
#: "without X of <site>" where "of <site>" names the code's site, not what it is without: "Laceration without
#: foreign body of scalp" must require "scalp" (else every "laceration of the scalp" note paid for its own site,
#: and the 732 laceration/puncture titles of this form lost to their "with foreign body" siblings). A comma
#: after X ends the without-clause there. Other "without X of Y" titles ("without loss of consciousness",
#: "without spontaneous rupture of ear drum") keep Y inside the clause.
_SITE_AFTER_WITHOUT = re.compile(r"\bwithout (foreign body|intraarticular extension|intracondylar extension|"
                                 r"intercondylar fracture|complications) of\b", re.IGNORECASE)
#: Index file names inside a component folder.
ARRAYS_FILE = "index.npz"
META_FILE = "index.json"


@dataclass(frozen=True)
class Row:
    """One description of a code: required, optional and forbidden canonical words."""

    code: int
    required: frozenset[str]
    optional: frozenset[str]
    forbidden: frozenset[str]


def describe(text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Split a title or inclusion term into required, optional and forbidden canonical words."""
    text = _SITE_AFTER_WITHOUT.sub(r"without \1, of", strip_encounter(text))
    forbidden = set()
    for clause in _NOT_RE.findall(text):
        forbidden.update(content_words(clause))
    text = _NOT_RE.sub(" ", text)
    for clause in _WITHOUT_RE.findall(text):
        forbidden.update(content_words(clause))
    text = _WITHOUT_RE.sub(" ", text)
    optional = set()
    for inner in _PAREN_RE.findall(text):
        optional.update(content_words(inner))
    required = set(content_words(_PAREN_RE.sub(" ", text))) - GENERIC_WORDS
    optional = optional - required - GENERIC_WORDS
    return frozenset(required), frozenset(optional), frozenset(forbidden - required)


def reportable_codes(kb) -> dict[str, dict]:
    """``{code: {"title", "terms", "seventh"}}`` for every reportable ICD-10-CM code.

    A code that takes a 7th character is listed once, without it (``S72.001``, ``W19.XXX``), with the
    7th characters the release allows for it and their meanings.
    """
    from medcode.codesets.kb import seven_chr_def

    out: dict[str, dict] = {}
    definitions: dict[str, dict[str, str]] = {}
    for entry in kb.entries(CM):
        if not entry.billable:
            continue
        code = entry.code
        body = code.replace(".", "")
        # Read per subcategory (H35.32), not per category: 12 categories define their 7th characters differently
        # below it (H35.31- dry stages, H35.32- active/inactive neovascularization; S52.9- vs S52.6-), and the
        # first definition of the category had served them all ("wet AMD with active CNV" got "early dry stage"'s
        # character 1 wrong: H35.3210 for H35.3211). No FY2026 subcategory mixes two definitions.
        group = code[:6]
        if len(body) == 7 and group not in definitions:
            definitions[group] = seven_chr_def(code, getattr(kb, "cm", None))  # the release's tabular
        if len(body) == 7 and definitions.get(group) and code[-1] in definitions[group]:
            base = code[:-1]
            parent = kb.get(base, CM)
            row = out.setdefault(base, {"title": parent.title if parent else strip_encounter(entry.title),
                                        "terms": list(parent.terms) if parent else [], "seventh": {}})
            row["seventh"][code[-1]] = definitions[group][code[-1]].split("/")[0].strip()
        else:
            out[code] = {"title": entry.title, "terms": list(entry.terms), "seventh": {}}
    return out


class CodeIndex:
    """Rows of code descriptions as sparse matrices, for scoring many codes against a sentence at once.

    Attributes:
        codes: the reportable codes (a code that takes a 7th character without it).
        seventh: ``{code index: {character: meaning}}`` for codes that take a 7th character.
        vocab: canonical word -> column.
        idf: IDF of each word over the codes.
        required, optional, forbidden: ``words x rows`` CSR matrices (IDF-weighted, weak words down-weighted).
        row_code: the code index of each row.
        required_total: the weight of each row's required words.
    """

    def __init__(self, codes: list[str], titles: list[str], seventh: dict[int, dict[str, str]], vocab: dict[str, int],
                 idf: np.ndarray, required: sp.csr_matrix, optional: sp.csr_matrix, forbidden: sp.csr_matrix,
                 row_code: np.ndarray, words: list[str] | None = None):
        self.codes, self.titles, self.seventh = codes, titles, seventh
        self.vocab, self.idf = vocab, idf
        # ``words``: the vocabulary in column order when the caller has it (a subset shares its parent's).
        self.words = words if words is not None else sorted(vocab, key=vocab.get)
        self.required, self.optional, self.forbidden = required, optional, forbidden
        self.row_code = row_code
        self.required_total = np.asarray(required.sum(axis=0)).ravel()
        self._sorted: bool | None = None  # whether the codes are in order (checked on the first subset)

    @classmethod
    def build(cls, kb) -> CodeIndex:
        """Index every reportable ICD-10-CM code of a knowledge base."""
        listed = reportable_codes(kb)
        codes = sorted(listed)
        rows: list[Row] = []
        for i, code in enumerate(codes):
            seen = set()
            defaults = frozenset(w for w, prefixes in DEFAULT_WORDS.items() if code.startswith(prefixes))
            not_traumatic = NOT_TRAUMATIC if code.startswith("S") and "racture" in listed[code]["title"] else frozenset()
            texts = [listed[code]["title"], *listed[code]["terms"]]
            for text in texts + [_BRACKET_RE.sub(" ", t) for t in texts if "[" in t]:
                required, optional, forbidden = describe(text)
                if defaults & required:
                    required, optional = required - defaults, optional | (defaults & required)
                forbidden = forbidden | not_traumatic
                if required and required not in seen:
                    seen.add(required)
                    rows.append(Row(i, required, optional, forbidden))
        df: dict[str, int] = {}
        per_code: dict[int, set[str]] = {}
        for row in rows:
            per_code.setdefault(row.code, set()).update(row.required | row.optional)
        for words in per_code.values():
            for w in words:
                df[w] = df.get(w, 0) + 1
        vocab = {w: j for j, w in enumerate(sorted(df))}
        n = len(codes)
        idf = np.array([math.log((n + 1) / (df[w] + 0.5)) for w in sorted(df)], dtype=np.float32)
        matrices = [_matrix([getattr(r, part) for r in rows], vocab, idf) for part in ("required", "optional", "forbidden")]
        seventh = {i: listed[c]["seventh"] for i, c in enumerate(codes) if listed[c]["seventh"]}
        titles = [listed[c]["title"] for c in codes]
        return cls(codes, titles, seventh, vocab, idf, *matrices, np.array([r.code for r in rows], dtype=np.int32))

    def subset(self, prefixes: tuple[str, ...]) -> CodeIndex:
        """The rows of the codes that start with one of ``prefixes`` (same vocabulary and IDF)."""
        # The engine builds a subset for each table prefix it meets (one per prefix and process): a scan of every
        # code and a dict of every row were 10 ms a subset (~20 subsets in one pass over CodiEsp dev, 0.8 ms a
        # note); by bisection it is 0.9 ms.
        keep_codes = self._prefixed(prefixes)
        new_code = np.full(len(self.codes), -1, dtype=np.int32)
        new_code[keep_codes] = np.arange(len(keep_codes), dtype=np.int32)
        rows = np.flatnonzero(new_code[self.row_code] >= 0)
        return CodeIndex([self.codes[i] for i in keep_codes], [self.titles[i] for i in keep_codes],
                         {int(new_code[i]): self.seventh[i] for i in keep_codes if i in self.seventh}, self.vocab,
                         self.idf, self.required[:, rows].tocsr(), self.optional[:, rows].tocsr(),
                         self.forbidden[:, rows].tocsr(), new_code[self.row_code[rows]], self.words)

    def _prefixed(self, prefixes: tuple[str, ...]) -> list[int]:
        """The indices (ascending) of the codes that start with one of ``prefixes``."""
        if self._sorted is None:
            self._sorted = all(a <= b for a, b in zip(self.codes, self.codes[1:]))
        if not self._sorted:
            return [i for i, c in enumerate(self.codes) if c.startswith(prefixes)]
        # Sorted codes: those with a prefix are one run, found by bisection.
        found: set[int] = set()
        for prefix in prefixes:
            found.update(range(bisect.bisect_left(self.codes, prefix), bisect.bisect_left(self.codes, prefix + "\U0010ffff")))
        return sorted(found)

    # ------------------------------------------------------------------ storage
    def to_disk(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"idf": self.idf, "row_code": self.row_code}
        for name in ("required", "optional", "forbidden"):
            m = getattr(self, name)
            arrays.update({f"{name}_data": m.data, f"{name}_indices": m.indices, f"{name}_indptr": m.indptr})
        with (path / ARRAYS_FILE).open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        words = sorted(self.vocab, key=self.vocab.get)
        meta = {"codes": self.codes, "titles": self.titles, "words": words,
                "seventh": {str(k): v for k, v in sorted(self.seventh.items())}}
        (path / META_FILE).write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def from_disk(cls, path: Path) -> CodeIndex:
        meta = json.loads((path / META_FILE).read_text("utf-8"))
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = dict(stored)
        shape = (len(meta["words"]), len(arrays["row_code"]))
        matrices = [sp.csr_matrix((arrays[f"{n}_data"], arrays[f"{n}_indices"], arrays[f"{n}_indptr"]), shape=shape)
                    for n in ("required", "optional", "forbidden")]
        return cls(meta["codes"], meta["titles"], {int(k): v for k, v in meta["seventh"].items()},
                   {w: j for j, w in enumerate(meta["words"])}, arrays["idf"], *matrices, arrays["row_code"])


def _matrix(word_sets: list[frozenset[str]], vocab: dict[str, int], idf: np.ndarray) -> sp.csr_matrix:
    """``words x rows`` CSR of IDF weights (weak words scaled down)."""
    rows, cols, data = [], [], []
    for j, words in enumerate(word_sets):
        for w in words:
            k = vocab.get(w)
            if k is not None:
                rows.append(k)
                cols.append(j)
                data.append(idf[k] * WEAK_WORDS.get(w, 1.0))
    return sp.csr_matrix((np.array(data, dtype=np.float32), (rows, cols)), shape=(len(vocab), len(word_sets)))
