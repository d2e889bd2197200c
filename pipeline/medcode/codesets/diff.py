"""What changed between two code-set releases: ``medcode codes diff OLD NEW``.

For each code set both releases hold: codes added and deleted, titles revised, billable status changed
(a code that became a header because it was expanded, with its new codes; or a header that became a
code), and for ICD-10-CM the Excludes1 and "code first" notes a code (or block) gained. Deleted codes
are mapped to their replacements where a conversion table says so (installed with the new release, or
given to the command).

ICD-10-PCS titles are compared only when both releases have CMS's own titles (installed with the code
or order file): titles composed from the tables' labels would differ everywhere.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
from collections.abc import Iterable

from medcode.about import CM, PCS, SYSTEMS
from medcode.codesets.excludes import as_notes
from medcode.codesets.kb import cm_tabular_codes, seven_chr_def
from medcode.codesets.releases import Release, cm_tabular, conversion, pcs_titles

#: The kinds of change, in the order outputs list them.
CHANGES = ("added", "deleted", "revised", "billable_changed", "excludes1", "code_first")
#: Conversion chains (A replaced by B, B later by C) are followed this many steps at most.
MAX_CHAIN = 5


def cm_codes(cm) -> dict[str, tuple[str, bool]]:
    """``{code: (title, billable)}`` of every ICD-10-CM category, subcategory and code of a tabular."""
    return {code: (cm.get_description(code), cm.is_leaf(code) and (len(code) == 8 or not seven_chr_def(code, cm)))
            for code in cm_tabular_codes(cm)}


def pcs_codes(release: Release) -> dict[str, tuple[str, bool]]:
    """``{code: (title, True)}`` of every valid ICD-10-PCS code of a release."""
    return {code: (title, True) for code, title in pcs_titles(release).items()}


def _own_notes(cm, getter: str) -> dict[str, list[str]]:
    """The notes of one kind written at each node (code, block or chapter) of a tabular."""
    out = {}
    for node in dict.fromkeys(cm.get_all_codes(True)):
        try:
            notes = as_notes(getattr(cm, getter)(node))
        except ValueError:
            continue
        if notes:
            out[node] = notes
    return out


def replacements(code: str, table: dict[str, list[str]], valid: Iterable[str] | dict) -> list[str]:
    """The codes of the new release that replace ``code``, following conversion chains."""
    found, level, seen = [], [code], {code}
    for _ in range(MAX_CHAIN):
        following = []
        for item in level:
            for target in table.get(item, []):
                if target in seen:
                    continue
                seen.add(target)
                (found if target in valid else following).append(target)
        if not following:
            break
        level = following
    return found


def _titles_official(release: Release) -> bool:
    return release.bundled or release.info.get("systems", {}).get(PCS, {}).get("titles") != "tables"


def diff_system(system: str, old: Release, new: Release, extra_conversion: dict | None = None) -> dict:
    """The changes of one code set between two releases (see the module docstring)."""
    if system == CM:
        old_cm, new_cm = cm_tabular(old), cm_tabular(new)
        before, after = cm_codes(old_cm), cm_codes(new_cm)
    else:
        before, after = pcs_codes(old), pcs_codes(new)
    table = {**conversion(new, system), **(extra_conversion or {}).get(system, {})}
    out: dict = {"old": old.titles[system], "new": new.titles[system]}
    out["added"] = [{"code": c, "title": after[c][0]} for c in sorted(set(after) - set(before))]
    out["deleted"] = [{"code": c, "title": before[c][0], "replaced_by": replacements(c, table, after)}
                      for c in sorted(set(before) - set(after))]
    both = sorted(set(before) & set(after))
    out["titles_compared"] = system == CM or (_titles_official(old) and _titles_official(new))
    out["revised"] = [{"code": c, "old_title": before[c][0], "title": after[c][0]} for c in both
                      if out["titles_compared"] and before[c][0] != after[c][0]]
    billable = sorted((c.replace(".", ""), c) for c, (_, b) in after.items() if b)
    out["billable_changed"] = [_billable_change(c, before, after, billable) for c in both if before[c][1] != after[c][1]]
    if system == CM:
        for kind, getter in (("excludes1", "get_excludes1"), ("code_first", "get_code_first")):
            old_notes, new_notes = _own_notes(old_cm, getter), _own_notes(new_cm, getter)
            out[kind] = [{"code": node, "notes": gained} for node in sorted(set(new_notes) & set(old_cm.get_all_codes(True)))
                         if (gained := [n for n in new_notes[node] if n not in old_notes.get(node, [])])]
    else:
        out["excludes1"], out["code_first"] = [], []
    out["counts"] = {"old_codes": len(before), "new_codes": len(after), **{k: len(out[k]) for k in CHANGES},
                     "deleted_with_replacement": sum(1 for d in out["deleted"] if d["replaced_by"])}
    return out


def _billable_change(code: str, before: dict, after: dict, billable: list[tuple[str, str]]) -> dict:
    title, now = after[code]
    change = {"code": code, "title": title, "was": "billable" if before[code][1] else "header",
              "now": "billable" if now else "header"}
    if not now:
        # Expanded: the billable codes under it (those that start with it, found by bisection).
        stem = code.replace(".", "")
        start = bisect.bisect_left(billable, (stem, ""))
        under = itertools.takewhile(lambda pair: pair[0].startswith(stem), billable[start:])
        change["expanded_to"] = [c for _, c in itertools.islice(under, 50) if c != code]
    return change


def diff_releases(old: Release, new: Release, extra_conversion: dict | None = None) -> dict:
    """The changes between two releases, for each code set both hold.

    Returns:
        ``{"old": record, "new": record, "systems": {system: changes}}`` (see :func:`diff_system`).
    """
    systems = [s for s in SYSTEMS if s in old.titles and s in new.titles]
    return {"old": old.record(), "new": new.record(),
            "systems": {s: diff_system(s, old, new, extra_conversion) for s in systems}}


def diff_rows(result: dict) -> list[dict]:
    """One row per change (for CSV): system, change, code, title, old title, detail."""
    rows = []
    for system, changes in result["systems"].items():
        for kind in CHANGES:
            for item in changes[kind]:
                detail = ""
                if kind == "deleted":
                    detail = " ".join(item["replaced_by"])
                elif kind == "billable_changed":
                    detail = f"{item['was']} -> {item['now']}" + (
                        f": {' '.join(item['expanded_to'])}" if item.get("expanded_to") else "")
                elif kind in ("excludes1", "code_first"):
                    detail = " | ".join(item["notes"])
                rows.append({"system": system, "change": kind, "code": item["code"], "title": item.get("title", ""),
                             "old_title": item.get("old_title", ""), "detail": detail})
    return rows


def diff_csv(result: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["system", "change", "code", "title", "old_title", "detail"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(diff_rows(result))
    return buffer.getvalue()
