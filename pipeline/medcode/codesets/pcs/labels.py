"""The PCS composer's vendored data and how its labels, aliases and index paths are read."""

from __future__ import annotations

import functools
import gzip
import json
import re
from importlib import resources

from medcode.codesets.kb import PCS_FILE as PCS_TITLES_FILE
from medcode.codesets.pcs.quantities import _NUMBER_WORDS, _RANGE_RE, _RANGE_WORDS
from medcode.codesets.pcs.records import SIDES, _Label
from medcode.textnorm import content_words


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


@functools.cache
def _label_key(text: str) -> str:
    """A label or key title as the alias table keys it: canonical words, side dropped, sorted."""
    words, _ = _split_side(_norm(text))
    return " ".join(sorted(words))


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
