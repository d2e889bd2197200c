"""Code-set releases as data: list what is installed, choose one (installing: :mod:`medcode.codesets.install`).

A release is a folder ``$MEDCODE_HOME/releases/<name>/`` (default home: the platform's user data folder,
``~/.local/share/medcode`` on Linux) holding ``release.json`` (name, each code set's title and effective
date, the SHA-256 of every source file and of every file built from them) and the data of
:mod:`medcode.codesets.builder`. The release bundled with medcode (:data:`medcode.about.RELEASE`) is a
:class:`Release` without a folder, and stays the default while no newer installed release is in force.

Choosing (:func:`resolve_releases`), per code set: the release named by ``--release`` (or
``$MEDCODE_RELEASE``) for the code sets it holds; otherwise the newest release whose effective date is
not after the date of service (default: today).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from medcode.about import (
    BUNDLED_EFFECTIVE,
    BUNDLED_RELEASE_NAME,
    DATE_OF_SERVICE_ENV,
    HOME_ENV,
    RELEASE,
    RELEASE_ENV,
    RELEASE_FILE,
    RELEASE_FORMAT,
    RELEASES_DIR,
    SYSTEMS,
)
from medcode.errors import ReleaseError, UsageError
from medcode.manifest import sha256_file
from medcode.textsafe import shown

logger = logging.getLogger(__name__)


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


MAX_RELEASE_JSON = 16 << 20


@dataclass(frozen=True)
class Release:
    """One code-set release: the bundled one (``folder`` is ``None``) or an installed one.

    Attributes:
        name: what ``--release`` takes (``FY2025``).
        titles: ``{system: title}`` of the code sets it holds (``ICD-10-PCS FY2025``).
        effective: ``{system: ISO date}`` each code set takes effect.
        folder: the release folder, or ``None`` for the bundled release.
        info: the rest of ``release.json`` (sources and their SHA-256, counts, install time).
    """

    name: str
    titles: dict[str, str]
    effective: dict[str, str]
    folder: Path | None = None
    info: dict = field(default_factory=dict, compare=False, hash=False)

    def __hash__(self) -> int:
        return hash((self.name, str(self.folder), self.info.get("installed")))

    @property
    def bundled(self) -> bool:
        return self.folder is None

    @property
    def systems(self) -> tuple[str, ...]:
        return tuple(s for s in SYSTEMS if s in self.titles)

    def record(self) -> dict:
        """What an output, a model's ``meta.json`` or ``medcode codes releases`` says of the release."""
        out = {"name": self.name, "titles": self.titles, "effective": self.effective,
               "bundled": self.bundled}
        if not self.bundled:
            out.update(folder=str(self.folder), installed=self.info.get("installed"),
                       sources=self.info.get("sources", []), counts=self.info.get("systems", {}))
        return out


def bundled_release() -> Release:
    """The release medcode ships (ICD-10-CM from simple-icd-10-cm, ICD-10-PCS vendored)."""
    return Release(BUNDLED_RELEASE_NAME, dict(RELEASE), dict(BUNDLED_EFFECTIVE))


def releases_home() -> Path:
    """``$MEDCODE_HOME``, else the platform's user data folder for medcode."""
    if os.environ.get(HOME_ENV, "").strip():
        return Path(os.environ[HOME_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "medcode"


def releases_dir(home: Path | None = None) -> Path:
    return (home or releases_home()) / RELEASES_DIR


def check_name(name: str) -> str:
    """A release name as a user gives it: letters, digits, ``.``, ``_``, ``-`` (at most 64).

    Raises:
        UsageError: for anything else.
    """
    if not _NAME_RE.fullmatch(name or ""):
        raise UsageError(f"release name {shown(name, 80)!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


# ------------------------------------------------------------------------------------------ reading


def read_release(folder: Path, verify: bool = True) -> Release:
    """The release of a folder, after checking its format and (``verify``) every file's SHA-256.

    Raises:
        ReleaseError: for a folder that is not a release folder of this format, or a damaged one.
    """
    path = folder / RELEASE_FILE
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_RELEASE_JSON:
            raise ValueError("not a regular file of a release folder")
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"{shown(folder)}: not a medcode release folder ({RELEASE_FILE}: {shown(str(exc), 120)})") from None
    if data.get("format") != RELEASE_FORMAT:
        raise ReleaseError(f"{shown(folder)}: release format {shown(repr(data.get('format')), 20)} is not this medcode's "
                           f"{RELEASE_FORMAT}; install the release again (medcode codes install --replace)")
    try:
        systems = data["systems"]
        titles = {s: str(systems[s]["title"]) for s in SYSTEMS if s in systems}
        effective = {s: date.fromisoformat(systems[s]["effective"]).isoformat() for s in titles}
        files = dict(data["files"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ReleaseError(f"{shown(path)}: malformed (systems with title and effective date, files)") from None
    if verify:
        for name, digest in files.items():
            target = folder / name
            if not target.is_file() or target.is_symlink() or sha256_file(target) != digest:
                raise ReleaseError(f"{shown(folder)}/{shown(name)}: missing or altered (SHA-256 differs from "
                                   f"{RELEASE_FILE}); install the release again")
    return Release(str(data.get("name", folder.name)), titles, effective, folder, data)


def installed_releases(home: Path | None = None) -> tuple[list[Release], list[dict]]:
    """The installed releases (by effective date), and ``{"folder", "error"}`` for folders that fail their checks."""
    found, broken = [], []
    base = releases_dir(home)
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # an install in progress, or left by a killed one
        try:
            found.append(read_release(folder, verify=False))
        except ReleaseError as exc:
            broken.append({"folder": str(folder), "error": str(exc)})
    return sorted(found, key=lambda r: (max(r.effective.values()), r.name)), broken


def all_releases(home: Path | None = None) -> list[Release]:
    """The bundled release and the installed ones."""
    return [bundled_release(), *installed_releases(home)[0]]


def get_release(name: str, home: Path | None = None, verify: bool = True) -> Release:
    """The release of a name (the bundled one's, or an installed one's).

    Raises:
        ReleaseError: when no release has that name (the message lists those there are).
    """
    if name == BUNDLED_RELEASE_NAME:
        return bundled_release()
    check_name(name)
    folder = releases_dir(home) / name
    if not (folder / RELEASE_FILE).exists():
        names = [r.name for r in all_releases(home)]
        raise ReleaseError(f"--release {shown(name)}: no such release (installed in {shown(releases_dir(home))}: "
                           f"{', '.join(names)}); install one with `medcode codes install`")
    return read_release(folder, verify)


def parse_date(value: str | date | None, flag: str = "--date-of-service") -> date | None:
    """A date as given on the command line (``YYYY-MM-DD``).

    Raises:
        UsageError: for anything else.
    """
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{flag} {shown(value, 40)!r}: give a date as YYYY-MM-DD") from None


def resolve_releases(name: str | None = None, when: str | date | None = None,
                     home: Path | None = None) -> dict[str, Release]:
    """The release each code set is read from: ``{system: Release}``.

    Args:
        name: a release name (default: ``$MEDCODE_RELEASE``); it gives the code sets it holds.
        when: the date of service (default: ``$MEDCODE_DATE_OF_SERVICE``, else today); for the other code
            sets, the newest release whose effective date is not after it.

    Raises:
        ReleaseError: for an unknown name, or when an explicit date precedes every release of a code set.
    """
    name = name or os.environ.get(RELEASE_ENV, "").strip() or None
    if when is None and os.environ.get(DATE_OF_SERVICE_ENV, "").strip():
        when = parse_date(os.environ[DATE_OF_SERVICE_ENV], f"${DATE_OF_SERVICE_ENV}")
    day = parse_date(when)
    chosen = get_release(name, home) if name else None
    candidates = all_releases(home)
    out = {}
    for system in SYSTEMS:
        if chosen and system in chosen.titles:
            out[system] = chosen
            continue
        target = day or datetime.now(UTC).date()
        in_force = [r for r in candidates if system in r.effective and date.fromisoformat(r.effective[system]) <= target]
        if in_force:
            # Newest effective date; on a tie an installed release before the bundled one.
            best = max(in_force, key=lambda r: (r.effective[system], not r.bundled, r.info.get("installed") or ""))
            out[system] = best if best.bundled else get_release(best.name, home)
        elif day is None:
            out[system] = bundled_release()  # a clock before every release: keep the bundled default
        else:
            dates = ", ".join(f"{r.name} {r.effective[system]}" for r in candidates if system in r.effective)
            raise ReleaseError(f"--date-of-service {day}: no {system} release was in force on that date "
                               f"(installed: {dates}); install the release of that date")
    return out


def choice_record(choice: dict[str, Release]) -> dict[str, str]:
    """``{system: title}`` of a choice, as outputs carry it under ``release``."""
    return {s: choice[s].titles[s] for s in SYSTEMS}


def release_names(choice: dict[str, Release]) -> dict[str, str]:
    """``{system: release name}`` of a choice."""
    return {s: choice[s].name for s in SYSTEMS}


# ------------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=4)
def cm_tabular(release: Release):
    """The ICD-10-CM tabular of a release: ``simple_icd_10_cm`` itself for the bundled one."""
    if release.bundled:
        import simple_icd_10_cm

        return simple_icd_10_cm
    from medcode.codesets.builder import load_cm

    return load_cm(release.folder)


def pcs_titles(release: Release) -> dict[str, str]:
    """``{code: title}`` of every valid ICD-10-PCS code of a release."""
    from medcode.codesets.builder import load_pcs_titles
    from medcode.codesets.kb import read_pcs_titles

    return read_pcs_titles() if release.bundled else load_pcs_titles(release.folder)


def conversion(release: Release, system: str) -> dict[str, list[str]]:
    """``{previous code: [current code, ...]}`` of the conversion tables installed with a release."""
    from medcode.codesets.builder import CONVERSION_FILE, load_json_gz

    if release.bundled or not (release.folder / CONVERSION_FILE).exists():
        return {}
    return load_json_gz(release.folder / CONVERSION_FILE).get(system, {})
