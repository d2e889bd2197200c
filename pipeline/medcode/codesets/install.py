"""Installing a code-set release from the official files (CMS/CDC zip, XML or text): grouped by code set,
named by their fiscal year, built beside the destination and renamed into place at the end, so a failed
or killed install leaves no half release (see :mod:`medcode.codesets.releases`)."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from medcode.about import (
    BUNDLED_RELEASE_NAME,
    CM,
    RELEASE_FILE,
    RELEASE_FORMAT,
    __version__,
    release_title,
)
from medcode.batch.files import fresh_folder, swap_folder
from medcode.codesets.releases import Release, check_name, cm_tabular, parse_date, read_release, releases_dir
from medcode.errors import ReleaseError, ReleaseFileError
from medcode.manifest import sha256_file
from medcode.textsafe import shown

logger = logging.getLogger(__name__)


def _group(sources) -> tuple[dict[str, dict], list]:
    """``{system: {kind: file}}`` and the conversion tables; two files of one kind are refused."""
    from medcode.codesets.sources import CORE_KINDS, SourceFile

    by_system: dict[str, dict[str, SourceFile]] = {}
    conversions = []
    for source in sources:
        if source.kind == "conversion":
            conversions.append(source)
            continue
        kinds = by_system.setdefault(source.system, {})
        if source.kind in kinds:
            raise ReleaseFileError(f"{shown(kinds[source.kind].name)} and {shown(source.name)}: two {source.kind} files; "
                                   "install one release at a time")
        kinds[source.kind] = source
    for system, kinds in by_system.items():
        if not any(k in kinds for k in CORE_KINDS[system]):
            names = ", ".join(shown(f.name) for f in kinds.values())
            need = "the tabular XML" if system == CM else "the tables XML or the code or order file"
            raise ReleaseFileError(f"{names}: {system} files without {need}; give it too")
    if not by_system:
        raise ReleaseFileError("no code-set file given (only conversion tables): give the ICD-10-CM tabular XML or the "
                               "ICD-10-PCS tables XML with them")
    return by_system, conversions


def _fiscal_years(by_system: dict[str, dict]) -> dict[str, tuple[int, bool]]:
    """``{system: (fiscal year, April update)}`` from the files' versions (XML) or names (text)."""
    from medcode.codesets.sources import CORE_KINDS

    out = {}
    for system, kinds in by_system.items():
        core = next(kinds[k] for k in CORE_KINDS[system] if k in kinds)
        if not core.version:
            raise ReleaseFileError(f"{shown(core.name)}: the file does not say its fiscal year (no <version>, no year "
                                   "in its name); give --name and --effective")
        out[system] = (core.version, core.april)
    return out


def _default_name(years: dict[str, tuple[int, bool]]) -> str:
    distinct = set(years.values())
    if len(distinct) > 1:
        said = ", ".join(f"{s} FY{y}{' April' if a else ''}" for s, (y, a) in years.items())
        raise ReleaseFileError(f"the files are of different releases ({said}); install them one release at a time, "
                               "or give --name")
    year, april = distinct.pop()
    return f"FY{year}" + ("-April" if april else "")


def _effective(years: dict[str, tuple[int, bool]], effective: str | date | None) -> dict[str, str]:
    day = parse_date(effective, "--effective")
    if day:
        return {s: day.isoformat() for s in years}
    # Fiscal year Y takes effect on October 1 of Y-1; its April update on April 1 of Y.
    return {s: (date(y, 4, 1) if april else date(y - 1, 10, 1)).isoformat() for s, (y, april) in years.items()}


def install(paths: list[str | Path], name: str | None = None, effective: str | date | None = None,
            replace: bool = False, home: Path | None = None) -> Release:
    """Build a release folder from official files and put it in place.

    The folder is written beside its destination and renamed at the end, so a failed or killed install
    leaves no half release; ``replace`` swaps out an existing release folder (and nothing else).

    Args:
        paths: the files as downloaded (zip files, or the XML / text files inside them).
        name: the release name (default: from the files' fiscal year, ``FY2027`` or ``FY2027-April``).
        effective: the date the release takes effect (default: October 1 before its fiscal year, or
            April 1 for an April update).
        replace: rebuild a release already installed under that name.
        home: ``$MEDCODE_HOME`` (default: :func:`releases_home`).

    Raises:
        ReleaseFileError: for a file of no known kind, malformed, or files of different releases.
        ReleaseError: when the name is the bundled release's, or taken and ``replace`` is false.
    """
    from medcode.codesets.sources import read_sources

    sources, given = read_sources(paths)
    by_system, conversions = _group(sources)
    try:
        years = _fiscal_years(by_system)
    except ReleaseFileError:
        if not (name and effective):
            raise
        years = dict.fromkeys(by_system, (0, False))
    name = check_name(name or _default_name(years))
    if name == BUNDLED_RELEASE_NAME:
        raise ReleaseError(f"{name} is the name of the release bundled with medcode; give another with --name")
    final = releases_dir(home) / name
    _check_target(final, replace)
    titles = {s: release_title(s, y, a) if y else f"{s} {name}" for s, (y, a) in years.items()}
    record = {"format": RELEASE_FORMAT, "name": name, "medcode_version": __version__,
              "installed": datetime.now(UTC).isoformat(timespec="seconds"), "given": given,
              "sources": [s.record() for s in sources]}
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = fresh_folder(final, "partial")
    try:
        record["systems"] = _build(by_system, conversions, partial, titles, _effective(years, effective))
        record["files"] = {p.relative_to(partial).as_posix(): sha256_file(p) for p in sorted(partial.rglob("*")) if p.is_file()}
        (partial / RELEASE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _check_target(final, replace)  # again: another install may have finished meanwhile
        swap_folder(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    cm_tabular.cache_clear()
    logger.info("installed release %s in %s", name, final)
    return read_release(final)


def _build(by_system: dict, conversions: list, folder: Path, titles: dict, effective: dict) -> dict:
    from medcode.codesets.builder import build_cm, build_conversion, build_pcs, keep_sources

    systems = {}
    for system, kinds in by_system.items():
        built = build_cm(kinds, folder) if system == CM else build_pcs(kinds, folder)
        data_kinds = {"cm-tabular", "cm-codes", "cm-order", "pcs-tables", "pcs-codes", "pcs-order"}
        kept = keep_sources([f for k, f in kinds.items() if k not in data_kinds], folder)
        systems[system] = {"title": titles[system], "effective": effective[system], **built,
                           "kept_sources": kept}
    if conversions:
        counts = build_conversion(conversions, folder)
        for system, n in counts.items():
            if system in systems:
                systems[system]["conversion_pairs"] = n
    return systems


def _check_target(final: Path, replace: bool) -> None:
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise ReleaseError(f"{shown(final)}: exists and is not a release folder; medcode leaves it alone")
    if not final.exists():
        return
    try:
        read_release(final, verify=False)
    except ReleaseError as exc:
        if not replace or "release format" not in str(exc):
            raise ReleaseError(f"{shown(final)}: exists and is not a medcode release folder medcode may replace "
                               f"({exc}); remove it yourself or choose another --name") from None
    if not replace:
        raise ReleaseError(f"release {final.name} is already installed ({shown(final)}); --replace rebuilds it")
