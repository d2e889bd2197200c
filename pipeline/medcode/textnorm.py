"""Normalisation shared by the knowledge base and the mention matcher.

An alias and a stretch of note text match when they reduce to the same *key*: the sorted set of their
content words, lower-cased and crudely singularised. Sorting makes "fracture of femoral neck" and
"femoral neck fracture" meet; dropping function words makes "fracture of the neck of femur" meet
"fracture of neck of femur".
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

#: Words that carry no clinical content in an alias. Kept short on purpose: "no", "without" and
#: "with" change meaning in ICD titles ("with hemorrhage"), but the matcher works on bags of words,
#: so keeping "with" would only stop matches; negation is the context component's job.
STOPWORDS = frozenset(
    """a an and are as at be been by for from in into is it its of on or the to was were with
    without which who that this these those his her their patient patients""".split()
)

#: Words that make a title more specific than a note usually is; dropped to make looser aliases.
UNSPECIFIC_WORDS = frozenset(
    """unspecified nos nec other specified site part type unsp
    right left bilateral side""".split()
)

SYNONYMS_FILE = "synonyms.json"
_POSSESSIVES = frozenset({"'s", "’s", "'S", "’S", "'", "’"})
_TOKEN_RE = re.compile(r"[a-z0-9]+")
#: Words as the tokenizer keeps them: "x-ray" and "IL-2" are one word each.
_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:[-'/][A-Za-z0-9]+)*")
_ENCOUNTER_RE = re.compile(
    r",?\s*(initial|subsequent) encounter.*$|,?\s*sequela$", re.IGNORECASE
)


def singular(word: str) -> str:
    """Return a crude singular form, good enough to make plural and singular aliases meet.

    Args:
        word: a lower-case word.

    Returns:
        The word without a plural ending; words of four letters or fewer are left alone.
    """
    if len(word) <= 4 or not word.endswith("s"):
        return word
    if word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "ses")):
        return word[:-2]
    return word[:-1]


@functools.cache
def synonyms() -> dict[str, tuple[str, ...]]:
    """Word -> canonical words, from ``pipeline/data/synonyms.json`` (read once, on first use)."""
    data = json.loads(resources.files("medcode.data").joinpath(SYNONYMS_FILE).read_text("utf-8"))
    # Canonical words are singular like every other word: "dm" -> "diabetes mellitus" once gave "diabetes",
    # which no title has (a title's "diabetes" reads "diabete"), so "Type 2 DM" matched only the titles
    # with "diabetic" (E11.618 "... other diabetic arthropathy") and never E11.9.
    return {word: tuple(singular(w) for w in canon.split()) for word, canon in data["words"].items()}


def norm_word(word: str) -> str:
    """Normalise one token's spelling: lower case, letters and digits only, singular."""
    return singular("".join(_TOKEN_RE.findall(word.lower())))


#: Tokens whose canonical words are kept (notes repeat their words: the ranker's whole-note words read
#: ~300 tokens a CodiEsp note: 0.49 -> 0.20 ms cached).
_NORMS_KEPT = 200_000
_norms: dict[str, tuple[str, ...]] = {}


def norm_words(word: str) -> tuple[str, ...]:
    """The canonical content words of one token (none for a function word or punctuation).

    A possessive ending ("Kawasaki's" is tokenized "Kawasaki" "'s") is no word of its own: an eponym
    is matched whole, never by its "s".
    """
    found = _norms.get(word)
    if found is None:
        found = _norm_words(word)
        if len(_norms) < _NORMS_KEPT:
            _norms[word] = found
    return found


def _norm_words(word: str) -> tuple[str, ...]:
    if word in _POSSESSIVES:
        return ()
    norm = norm_word(word)
    if not norm or norm in STOPWORDS:
        return ()
    return synonyms().get(norm, (norm,))


def content_words(text: str) -> list[str]:
    """Split text as the tokenizer would into canonical content words (no stopwords, no punctuation)."""
    return [w for token in _WORD_RE.findall(text) for w in norm_words(token)]


def alias_key(words: list[str] | tuple[str, ...]) -> str:
    """Return the order-free key of a bag of normalised content words."""
    return " ".join(sorted(set(words)))


def strip_encounter(title: str) -> str:
    """Drop the 7th-character encounter phrase from an ICD-10-CM title."""
    return _ENCOUNTER_RE.sub("", title).strip()


#: Laterality words: a note states them as often as not, so aliases come with and without them.
LATERALITY_WORDS = frozenset({"right", "left", "bilateral", "side"})


def loose_words(words: list[str], keep_laterality: bool = False) -> list[str]:
    """Drop the words that only make a title more specific than notes usually are.

    With ``keep_laterality``, "right" and "left" stay: "fracture of unspecified part of neck of right
    femur" then matches a note's "fracture of the right femoral neck".
    """
    drop = UNSPECIFIC_WORDS - LATERALITY_WORDS if keep_laterality else UNSPECIFIC_WORDS
    return [w for w in words if w not in drop]
