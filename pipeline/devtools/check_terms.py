"""Check ``pipeline/medcode/data/clinical_terms.json``, the clinical-vocabulary bridge.

Usage: ``python pipeline/devtools/check_terms.py [path/to/clinical_terms.json]``.

Checks:

* structure: the keys ``about`` (text), ``phrases``, ``drug_classes`` and ``drug_class_codes``
  (objects of text to text), and no key written twice in the file;
* ``phrases``: every key lower case, 1-4 words, not empty once normalised, not the same (after the
  engine's normalisation) as another key, and not a one-word entry of the ``words`` map of
  ``synonyms.json``; every value's canonical words (``medcode.textnorm.content_words``) all occur
  together in one ICD-10-CM FY2026 title or inclusion term; a value adds at least one word the
  key does not already give;
* ``drug_classes``: keys lower case, 1-4 words and distinct once normalised; every class has a code in
  ``drug_class_codes``;
* ``drug_class_codes``: every code is a valid, billable (leaf) FY2026 ICD-10-CM code in Z79, and every
  class is used by some drug.

Prints one line per problem, then a summary, and exits 1 if there is any problem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1]
if str(PIPELINE) not in sys.path:
    sys.path.insert(0, str(PIPELINE))

from medcode.textnorm import _WORD_RE, STOPWORDS, content_words, norm_word, synonyms  # noqa: E402

TERMS_FILE = PIPELINE / "medcode" / "data" / "clinical_terms.json"
SECTIONS = ("about", "phrases", "drug_classes", "drug_class_codes")
MAX_KEY_WORDS = 4


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """``json`` object hook that records keys written twice in one object."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            _DUPLICATES.append(key)
        seen[key] = value
    return seen


_DUPLICATES: list[str] = []


def engine_key(text: str) -> str:
    """A phrase as the engine matches it: lower case, crude singular, stopwords dropped, in order."""
    words = [norm_word(token) for token in _WORD_RE.findall(text)]
    return " ".join(w for w in words if w and w not in STOPWORDS)


def icd_word_index() -> tuple[list[frozenset[str]], dict[str, set[int]]]:
    """Canonical word sets of every ICD-10-CM title and inclusion term, with a word -> sets index."""
    import simple_icd_10_cm as cm

    texts: set[frozenset[str]] = set()
    for code in cm.get_all_codes(True):
        for text in [cm.get_description(code), *cm.get_inclusion_term(code)]:
            words = frozenset(content_words(text))
            if words:
                texts.add(words)
    sets = sorted(texts, key=sorted)
    index: dict[str, set[int]] = {}
    for i, words in enumerate(sets):
        for word in words:
            index.setdefault(word, set()).add(i)
    return sets, index


def check_structure(data: object) -> list[str]:
    if not isinstance(data, dict):
        return ["top level is not a JSON object"]
    problems = []
    for name in set(data) - set(SECTIONS):
        problems.append(f"unknown top-level key {name!r}")
    for name in SECTIONS:
        if name not in data:
            problems.append(f"missing top-level key {name!r}")
    if not isinstance(data.get("about"), str) or not data.get("about", "").strip():
        problems.append("'about' must be a non-empty string")
    for name in SECTIONS[1:]:
        section = data.get(name)
        if not isinstance(section, dict) or not section:
            problems.append(f"{name!r} must be a non-empty object")
            continue
        for key, value in section.items():
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{name}: {key!r}: value must be a non-empty string")
    return problems


def check_key(section: str, key: str) -> list[str]:
    problems = []
    if key != key.lower():
        problems.append(f"{section}: {key!r}: key is not lower case")
    if key != key.strip() or "  " in key:
        problems.append(f"{section}: {key!r}: key has stray spaces")
    n = len(key.split())
    if not 1 <= n <= MAX_KEY_WORDS:
        problems.append(f"{section}: {key!r}: key has {n} words (1-{MAX_KEY_WORDS} allowed)")
    if not engine_key(key):
        problems.append(f"{section}: {key!r}: key is empty once normalised")
    return problems


def check_phrases(phrases: dict[str, str]) -> list[str]:
    problems = []
    sets, index = icd_word_index()
    synonym_words = synonyms()
    by_engine_key: dict[str, str] = {}
    for key, value in phrases.items():
        problems += check_key("phrases", key)
        ekey = engine_key(key)
        if ekey in by_engine_key:
            problems.append(f"phrases: {key!r}: same key as {by_engine_key[ekey]!r} once normalised")
        by_engine_key.setdefault(ekey, key)
        if " " not in ekey and ekey in synonym_words:
            problems.append(f"phrases: {key!r}: already in the words map of synonyms.json")
        words = content_words(value)
        if not words:
            problems.append(f"phrases: {key!r}: value {value!r} has no content words")
            continue
        if set(words) <= set(content_words(key)):
            problems.append(f"phrases: {key!r}: value {value!r} adds no word the key does not give")
        unknown = sorted({w for w in words if w not in index})
        if unknown:
            problems.append(f"phrases: {key!r}: value {value!r}: words in no ICD-10-CM title: {unknown}")
            continue
        common = set.intersection(*(index[w] for w in set(words)))
        if not common:
            problems.append(f"phrases: {key!r}: value {value!r}: words {sorted(set(words))} "
                            "never occur together in one ICD-10-CM title or inclusion term")
    return problems


def check_drugs(drug_classes: dict[str, str], class_codes: dict[str, str]) -> list[str]:
    import simple_icd_10_cm as cm

    problems = []
    by_engine_key: dict[str, str] = {}
    for drug, drug_class in drug_classes.items():
        problems += check_key("drug_classes", drug)
        ekey = engine_key(drug)
        if ekey in by_engine_key:
            problems.append(f"drug_classes: {drug!r}: same key as {by_engine_key[ekey]!r} once normalised")
        by_engine_key.setdefault(ekey, drug)
        if drug_class not in class_codes:
            problems.append(f"drug_classes: {drug!r}: class {drug_class!r} has no code in drug_class_codes")
    used = set(drug_classes.values())
    for drug_class, code in class_codes.items():
        if drug_class != drug_class.lower():
            problems.append(f"drug_class_codes: {drug_class!r}: class is not lower case")
        if drug_class not in used:
            problems.append(f"drug_class_codes: {drug_class!r}: no drug has this class")
        if not cm.is_valid_item(code):
            problems.append(f"drug_class_codes: {drug_class!r}: {code} is not an ICD-10-CM FY2026 code")
        elif not cm.is_leaf(code):
            problems.append(f"drug_class_codes: {drug_class!r}: {code} is not billable (has children)")
        elif not code.startswith("Z79."):
            problems.append(f"drug_class_codes: {drug_class!r}: {code} is not a Z79 long-term drug therapy code")
    return problems


def check(path: Path) -> tuple[list[str], dict]:
    _DUPLICATES.clear()
    try:
        data = json.loads(path.read_text("utf-8"), object_pairs_hook=_no_duplicates)
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"], {}
    problems = [f"key written twice: {key!r}" for key in _DUPLICATES]
    structure = check_structure(data)
    if structure:
        return problems + structure, {}
    problems += check_phrases(data["phrases"])
    problems += check_drugs(data["drug_classes"], data["drug_class_codes"])
    counts = {name: len(data[name]) for name in SECTIONS[1:]}
    return problems, counts


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else TERMS_FILE
    problems, counts = check(path)
    for problem in problems:
        print(problem)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"{path.name}: {summary or 'not checked'}; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
