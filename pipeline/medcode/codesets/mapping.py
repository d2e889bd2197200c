"""A model's codes in another release: what each code becomes, and the suggestions that follow.

A model learns the codes of the release it was trained with; used with another release (``--release``),
every code it can suggest is mapped (:func:`map_code`, a pure function of the two releases and the
conversion table):

* ``exact``: the new release has the code as it was (its title may have been revised);
* ``expanded``: a billable code became a header (new codes under it): it is shown as the header with a
  specificity query whose options are the new codes;
* ``replaced``: the code was deleted and the conversion table names its replacement(s);
* ``deleted``: the code was deleted with no replacement (``unknown``: neither release has it, such as a
  code of an older corpus): it is not suggested.

:class:`ReleaseHook` applies the mapping to a note's suggestions (:class:`medcode.suggestions.Suggester`
calls it before it writes the record), so no output carries a code the chosen release does not have.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medcode.about import CM, PCS, SYSTEMS
from medcode.codesets.diff import replacements
from medcode.codesets.kb import KnowledgeBase

logger = logging.getLogger(__name__)

EXACT, EXPANDED, REPLACED, DELETED, UNKNOWN = "exact", "expanded", "replaced", "deleted", "unknown"
STATUSES = (EXACT, EXPANDED, REPLACED, DELETED, UNKNOWN)
#: ``(code, system) -> (billable, title)`` in the model's release, or ``None`` when it lacks the code.
OldLookup = Callable[[str, str], "tuple[bool, str] | None"]
#: Query options listed at most.
MAX_OPTIONS = 8


@dataclass(frozen=True)
class CodeMapping:
    """What one code of the model's release is in the chosen release.

    Attributes:
        status: one of :data:`STATUSES`.
        targets: ``(code,)`` when exact; the new billable codes under it when expanded; the replacements
            when replaced; ``()`` when deleted or unknown.
        revised: the title changed (the code is the same).
    """

    status: str
    targets: tuple[str, ...] = ()
    revised: bool = False

    def to_dict(self) -> dict:
        return {"status": self.status, "targets": list(self.targets), **({"revised": True} if self.revised else {})}


class _InRelease:
    """``code in x``: whether a release has a code (a conversion chain stops at the first it has)."""

    def __init__(self, kb: KnowledgeBase, system: str):
        self.kb, self.system = kb, system

    def __contains__(self, code: str) -> bool:
        return self.kb.get(code, self.system) is not None


def map_code(code: str, system: str, old: OldLookup, new: KnowledgeBase, table: dict[str, list[str]]) -> CodeMapping:
    """Map one code of the model's release to the chosen release (see the module docstring).

    Args:
        code: the code as the model suggests it.
        system: its code system.
        old: the model's release.
        new: the chosen release's knowledge base.
        table: the chosen release's conversion table for the system (``{previous: [current, ...]}``).
    """
    before = old(code, system)
    entry = new.get(code, system)
    if entry is not None:
        revised = bool(before and before[1] and before[1] != entry.title)
        if not entry.billable and before and before[0]:
            return CodeMapping(EXPANDED, tuple(new.billable_descendants(code, system)[:50]), revised)
        return CodeMapping(EXACT, (code,), revised)
    found = replacements(code, table, _InRelease(new, system))
    if found:
        return CodeMapping(REPLACED, tuple(found))
    return CodeMapping(DELETED if before and before[1] else UNKNOWN)


def map_codes(keys: Iterable[tuple[str, str]], old: OldLookup, new: KnowledgeBase,
              tables: dict[str, dict[str, list[str]]], systems: Iterable[str] = SYSTEMS) -> dict[tuple[str, str], CodeMapping]:
    """:func:`map_code` for every ``(system, code)`` of ``keys`` whose system is in ``systems``."""
    wanted = set(systems)
    return {(s, c): map_code(c, s, old, new, tables.get(s, {})) for s, c in keys if s in wanted}


def mapping_summary(mapping: dict[tuple[str, str], CodeMapping], releases: dict[str, dict[str, str]]) -> dict:
    """What ``meta.json`` and the model card record: counts per system and status, and every code that
    is not ``exact`` (or was revised) with what it became.

    Args:
        mapping: :func:`map_codes`' result.
        releases: ``{"from": {system: title}, "to": {system: title}}``.
    """
    counts = {s: dict(Counter(m.status for (sys_, _), m in mapping.items() if sys_ == s)) for s in SYSTEMS}
    changed = {s: {c: m.to_dict() for (sys_, c), m in sorted(mapping.items()) if sys_ == s and
                   (m.status != EXACT or m.revised)} for s in SYSTEMS}
    return {**releases, "counts": {s: v for s, v in counts.items() if v}, "changed": {s: v for s, v in changed.items() if v}}


def _valid_options(query: dict | None, kb: KnowledgeBase, system: str) -> dict | None:
    """A query with only the options the release has (``None`` when none is left)."""
    if not query:
        return None
    options = [o for o in query.get("options", []) if kb.get(o["code"], system) is not None]
    return {**query, "options": options} if options else None


class ReleaseHook:
    """Rewrites a note's suggestions for the chosen release (called by the Suggester before it writes a record).

    Args:
        kb: the chosen release's knowledge base.
        old: the model's release (``(code, system) -> (billable, title)``).
        tables: the chosen release's conversion tables, ``{system: {previous: [current, ...]}}``.
        systems: the code systems whose release differs from the model's (the others pass as they are).
        model_release: ``{system: title}`` of the model's release, for the suggestions' ``release_mapping``.
    """

    def __init__(self, kb: KnowledgeBase, old: OldLookup, tables: dict, systems: Iterable[str],
                 model_release: dict[str, str]):
        self.kb = kb
        self.old = old
        self.tables = tables
        self.systems = frozenset(systems)
        self.model_release = model_release
        self._mapped: dict[tuple[str, str], CodeMapping] = {}

    @property
    def release(self) -> dict[str, str]:
        """``{system: title}`` of the chosen release (what the record's ``release`` says)."""
        return self.kb.release

    @property
    def excludes1(self):
        return self.kb.excludes1

    @property
    def mapped(self) -> dict[tuple[str, str], CodeMapping]:
        """Every code mapped so far (the model's whole code table once :meth:`Medcoder.use_release` ran)."""
        return self._mapped

    def mapping(self, code: str, system: str) -> CodeMapping:
        key = (system, code)
        if key not in self._mapped:
            self._mapped[key] = map_code(code, system, self.old, self.kb, self.tables.get(system, {}))
        return self._mapped[key]

    def __call__(self, suggestions: list[dict]) -> list[dict]:
        """The suggestions in the chosen release: rewritten, merged where two became one, deleted ones left out."""
        out: dict[tuple[str, str], dict] = {}
        for sug in suggestions:
            system = sug["system"]
            if system not in self.systems:
                out.setdefault((system, sug["code"]), sug)
                continue
            mapped = self.mapping(sug["code"], system)
            if mapped.status in (DELETED, UNKNOWN):
                continue
            new = self._rewrite(sug, mapped)
            key = (system, new["code"])
            # Two codes that became one: keep the better scored (its evidence and source).
            if key not in out or out[key]["score"] < new["score"]:
                out[key] = new
        return list(out.values())

    def _rewrite(self, sug: dict, mapped: CodeMapping) -> dict:
        system, code = sug["system"], sug["code"]
        new = {k: v for k, v in sug.items() if k not in ("warning", "query", "current_code")}
        if mapped.status == REPLACED:
            new["code"] = mapped.targets[0]
        entry = self.kb.get(new["code"], system)
        new["description"], new["billable"] = entry.title, entry.billable
        query = self._query(new["code"], system, sug.get("query"), entry.billable)
        if mapped.status == REPLACED and len(mapped.targets) > 1:
            query = {"detail": "replacement", "question": f"{code} was replaced by several codes in "
                     f"{self.kb.release[system]}: which does the documentation support?",
                     "options": [{"code": c, "title": self.kb.title(c, system)} for c in mapped.targets[:MAX_OPTIONS]]}
        if not entry.billable:
            new["warning"] = (f"expanded in {self.kb.release[system]}: choose one of its new codes"
                              if mapped.status == EXPANDED else "header or partial code: not billable as it stands")
        current = sug.get("current_code")
        if current and (e := self.kb.get(current, system)) is not None and e.billable:
            new["current_code"] = current
        if query:
            new["query"] = query
        if mapped.status != EXACT or mapped.revised:
            new["release_mapping"] = {"status": "revised" if mapped.status == EXACT else mapped.status,
                                      "from": code, "release": self.kb.release[system]}
        return new

    def _query(self, code: str, system: str, old_query: dict | None, billable: bool) -> dict | None:
        """The physician query in the chosen release: recomputed for a CM header or unspecified code,
        else the model's own with the options the release lacks taken out."""
        from medcode.codesets.queries import specificity_query

        if system == CM and (not billable or "unspecified" in self.kb.title(code, CM).lower()):
            query = specificity_query(code, self.kb)
            if query:
                return query
        kept = _valid_options(old_query, self.kb, system)
        if kept or billable:
            return kept
        options = self.kb.billable_descendants(code, system)[:MAX_OPTIONS]
        return {"detail": "specificity", "question": "Which of its codes does the documentation support?",
                "options": [{"code": c, "title": self.kb.title(c, system)} for c in options]} if options else None


def model_lookup(codes: dict[tuple[str, str], tuple[bool, str]], kb: KnowledgeBase | None = None) -> OldLookup:
    """The model's release as :data:`OldLookup`: its code table, then (for codes the coding engine can
    propose beyond it) the knowledge base of the release it was trained with, when at hand."""

    def lookup(code: str, system: str):
        found = codes.get((system, code))
        if found is not None and found[1]:
            return found
        entry = kb.get(code, system) if kb is not None else None
        return (entry.billable, entry.title) if entry else None

    return lookup


def systems_changed(model_release: dict[str, str], chosen: dict[str, str]) -> list[str]:
    """The code systems whose chosen release is not the one the model was trained with."""
    return [s for s in (CM, PCS) if model_release.get(s) != chosen.get(s)]
