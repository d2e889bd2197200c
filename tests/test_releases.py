"""Code-set releases as data: install official files, list, choose, diff, and models used across releases.

Real files: CMS's FY2025 and FY2026 ICD-10-PCS tables (``tests/data/releases/``); for ICD-10-CM, cuts of the
FY2026 tabular with a made-up FY2027's edits (``pipeline/devtools/cut_release_fixtures.py``).
"""

from __future__ import annotations

import gzip
import itertools
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medcode.about import CM, PCS
from medcode.cli import app
from medcode.codesets.install import install
from medcode.codesets.kb import KnowledgeBase
from medcode.codesets.mapping import DELETED, EXACT, EXPANDED, REPLACED, UNKNOWN, map_code
from medcode.codesets.releases import bundled_release, get_release, resolve_releases
from medcode.errors import ReleaseError, ReleaseFileError

DATA = Path(__file__).parent / "data" / "releases"
PCS_2025, PCS_2026 = DATA / "icd10pcs_tables_2025.xml.gz", DATA / "icd10pcs_tables_2026.xml.gz"
CM_2026, CM_2027 = DATA / "icd10cm_tabular_2026_cut.xml.gz", DATA / "icd10cm_tabular_2027_cut.xml.gz"
CM_CONVERSION = DATA / "icd10cm_conversion_2027.txt"
runner = CliRunner()


def table_codes(path: Path) -> set[str]:
    """Every code a PCS tables file's rows generate (written here, apart from medcode's reader)."""
    codes = set()
    for table in ET.fromstring(gzip.decompress(path.read_bytes())).iter("pcsTable"):
        prefix = "".join(axis.find("label").get("code") for axis in table.findall("axis"))
        for row in table.findall("pcsRow"):
            axes = sorted(row.findall("axis"), key=lambda a: int(a.get("pos")))
            for combo in itertools.product(*[[label.get("code") for label in a.findall("label")] for a in axes]):
                codes.add(prefix + "".join(combo))
    return codes


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDCODE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def cm_home(tmp_path_factory):
    """A home with the FY2026 cut (as cut2026) and the made-up FY2027 with its conversion table."""
    home = tmp_path_factory.mktemp("cm-home")
    install([CM_2026], name="cut2026", effective="2025-10-01", home=home)
    install([CM_2027, CM_CONVERSION], home=home)
    return home


def unzipped(path: Path, folder: Path) -> Path:
    target = folder / path.name.removesuffix(".gz")
    target.write_bytes(gzip.decompress(path.read_bytes()))
    return target


# ------------------------------------------------------------------------------------ ICD-10-PCS, real files
def test_pcs_fy2025_install_then_diff_lists_what_cms_added_and_deleted(home, tmp_path):
    xml = unzipped(PCS_2025, tmp_path)  # as CMS publishes it, inside its zip
    with zipfile.ZipFile(tmp_path / "2025-icd-10-pcs-code-tables.zip", "w") as archive:
        archive.write(xml, xml.name)
        archive.writestr("icd10pcs_tables_2025.pdf", b"%PDF-1.4 not release data")
    result = runner.invoke(app, ["codes", "install", str(tmp_path / "2025-icd-10-pcs-code-tables.zip")])
    assert result.exit_code == 0, result.output
    assert "ICD-10-PCS FY2025: 78,948 codes, effective 2024-10-01" in result.output
    old, new = table_codes(PCS_2025), table_codes(PCS_2026)
    assert len(new - old) == 206 and len(old - new) == 39
    shown = runner.invoke(app, ["codes", "diff", "FY2025", "FY2026", "--limit", "3"])
    assert shown.exit_code == 0, shown.output
    assert "78,948 -> 79,115 codes; 206 added, 39 deleted" in shown.output
    out = tmp_path / "diff.json"
    as_json = runner.invoke(app, ["codes", "diff", "FY2025", "FY2026", "-o", str(out), "--csv", str(tmp_path / "d.csv")])
    assert as_json.exit_code == 0, as_json.output
    changes = json.loads(out.read_text())["systems"][PCS]
    assert {c["code"] for c in changes["added"]} == new - old
    assert {c["code"] for c in changes["deleted"]} == old - new
    assert changes["counts"]["added"] == 206 and changes["counts"]["deleted"] == 39
    assert not changes["titles_compared"] and changes["revised"] == []  # FY2025 came without CMS's titles
    rows = (tmp_path / "d.csv").read_text().splitlines()
    assert rows[0] == "system,change,code,title,old_title,detail" and len(rows) == 1 + 206 + 39


def test_bundled_pcs_release_is_what_the_fy2026_tables_generate():
    from medcode.codesets.releases import pcs_titles

    assert set(pcs_titles(bundled_release())) == table_codes(PCS_2026)


def test_pcs_release_with_cms_titles_compares_titles(home, tmp_path):
    codes = sorted(table_codes(PCS_2025))
    titles = tmp_path / "icd10pcs_codes_2025.txt"
    titles.write_text("".join(f"{c} Title of {c}\n" for c in codes))
    install([PCS_2025, titles], name="FY2025")
    release = get_release("FY2025")
    assert release.info["systems"][PCS]["titles"] == "codes file"
    kb = KnowledgeBase.for_release(release)
    assert kb.title(codes[0], PCS) == f"Title of {codes[0]}" and kb.release[PCS] == "ICD-10-PCS FY2025"
    assert kb.release[CM] == bundled_release().titles[CM]
    titles.write_text("".join(f"{c} Title\n" for c in codes[:-1]))
    with pytest.raises(ReleaseFileError, match="are they files of one release"):
        install([PCS_2025, titles], name="other")


# ------------------------------------------------------------------------------------ ICD-10-CM, cut fixtures
def test_cm_diff_finds_expanded_revised_deleted_and_new_notes(cm_home, monkeypatch):
    from medcode.codesets.diff import diff_releases

    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    changes = diff_releases(get_release("cut2026"), get_release("FY2027"))["systems"][CM]
    assert [c["code"] for c in changes["added"]] == ["J18.91", "J18.92", "J18.99"]
    assert {c["code"]: c["replaced_by"] for c in changes["deleted"]} == {"N20.0": [], "R07.9": ["R07.89"]}
    assert changes["revised"] == [{"code": "R50.9", "old_title": "Fever, unspecified", "title": "Fever, unspecified cause"}]
    assert changes["billable_changed"] == [{"code": "J18.9", "title": "Pneumonia, unspecified organism", "was": "billable",
                                            "now": "header", "expanded_to": ["J18.91", "J18.92", "J18.99"]}]
    assert changes["excludes1"] == [{"code": "R50.9", "notes": ["fever of newborn (P81.9)"]}]
    assert changes["code_first"] == [{"code": "N20", "notes": ["any associated hyperparathyroidism (E21.-)"]}]


def test_a_release_read_by_the_same_parser_diffs_empty_against_itself(tmp_path):
    from medcode.codesets.cmtabular import CmTabular
    from medcode.codesets.diff import diff_releases

    home = tmp_path / "h"
    install([CM_2026], name="a", effective="2025-10-01", home=home)
    install([CM_2026], name="b", effective="2025-10-01", home=home)
    result = diff_releases(get_release("a", home), get_release("b", home))
    assert all(not v for k, v in result["systems"][CM]["counts"].items() if k not in ("old_codes", "new_codes"))
    tabular = CmTabular.from_dict(json.loads(gzip.decompress((get_release("a", home).folder / "cm.json.gz").read_bytes())))
    assert tabular.get_seven_chr_def("S72.001", True)["A"] == "initial encounter for closed fracture"
    assert tabular.get_parent("J18.9") == "J18" and tabular.is_category("J18") and tabular.is_block("J09-J18")


def test_cm_release_knowledge_base_queries_and_validation(cm_home):
    from medcode.codesets.lookup import show_code, validate_codes
    from medcode.codesets.queries import seventh_completions, specificity_query

    kb = KnowledgeBase.for_release(get_release("FY2027", cm_home))
    assert kb.release == {CM: "ICD-10-CM FY2027", PCS: "ICD-10-PCS FY2026"}
    assert not kb.get("J18.9", CM).billable and kb.get("J18.91", CM).billable
    assert kb.get("R07.9", CM) is None and kb.title("R50.9", CM) == "Fever, unspecified cause"
    assert {o["code"] for o in specificity_query("J18.9", kb)["options"]} == {"J18.91", "J18.92", "J18.99"}
    assert "S72.001A" in seventh_completions("S72.001", kb)
    result = validate_codes(["R07.9", "J18.9", "J18.91"], kb)
    assert [r["status"] for r in result["codes"]] == ["unknown", "header", "billable"]
    assert "not a code in ICD-10-CM FY2027" in result["codes"][0]["messages"][0]
    assert show_code("R50.9", kb)["excludes1"] == ["fever of newborn (P81.9)"]


# ------------------------------------------------------------------------------------ install: errors and safety
def test_unknown_and_malformed_files_are_named(home, tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\nworld\n")
    with pytest.raises(ReleaseFileError, match=r"notes.txt: a file of no known shape; expected the CDC"):
        install([odd])
    cut = tmp_path / "icd10pcs_tables_2025.xml"
    cut.write_bytes(gzip.decompress(PCS_2025.read_bytes())[:50_000])
    with pytest.raises(ReleaseFileError, match=r"icd10pcs_tables_2025.xml: not well-formed XML \(line \d+"):
        install([cut])
    empty_zip = tmp_path / "readme.zip"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("README.pdf", b"%PDF")
    with pytest.raises(ReleaseFileError, match="holds no release file"):
        install([empty_zip])
    result = runner.invoke(app, ["codes", "install", str(odd)])
    assert result.exit_code == 4 and "error:" in result.output and "notes.txt" in result.output
    assert not (home / "releases").exists() or not any((home / "releases").iterdir())


def test_install_never_destroys_and_replaces_only_a_release(home, tmp_path, monkeypatch):
    from medcode.codesets import install as installing

    install([PCS_2025])
    first = get_release("FY2025")
    with pytest.raises(ReleaseError, match="already installed"):
        install([PCS_2025])
    with pytest.raises(ReleaseError, match="bundled with medcode"):
        install([PCS_2026])

    def broken(*args):
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(installing, "_build", broken)
    with pytest.raises(RuntimeError):
        install([PCS_2025], replace=True)
    assert sorted(p.name for p in (home / "releases").iterdir()) == ["FY2025"]  # no partial folder left
    assert get_release("FY2025").info["installed"] == first.info["installed"]
    monkeypatch.undo()
    monkeypatch.setenv("MEDCODE_HOME", str(home))
    assert install([PCS_2025], replace=True).info["installed"] >= first.info["installed"]
    (home / "releases" / "mine").mkdir()
    (home / "releases" / "mine" / "keep.txt").write_text("user file")
    with pytest.raises(ReleaseError, match="not a medcode release folder"):
        install([PCS_2025], name="mine", replace=True)
    assert (home / "releases" / "mine" / "keep.txt").read_text() == "user file"


def test_a_damaged_release_is_refused(home):
    folder = install([PCS_2025]).folder
    with gzip.open(folder / "pcs_codes.txt.gz", "at") as handle:
        handle.write("0000000 forged\n")
    with pytest.raises(ReleaseError, match="altered"):
        get_release("FY2025")


# ------------------------------------------------------------------------------------ choosing a release
def test_resolve_by_name_date_and_default(cm_home, monkeypatch):
    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    names = lambda choice: {s: r.name for s, r in choice.items()}  # noqa: E731
    assert names(resolve_releases(when="2026-09-30")) == {CM: "FY2026", PCS: "FY2026"}
    assert names(resolve_releases(when="2026-10-01")) == {CM: "FY2027", PCS: "FY2026"}
    assert names(resolve_releases("cut2026")) == {CM: "cut2026", PCS: "FY2026"}
    monkeypatch.setenv("MEDCODE_RELEASE", "cut2026")
    assert names(resolve_releases())[CM] == "cut2026"
    monkeypatch.delenv("MEDCODE_RELEASE")
    monkeypatch.setenv("MEDCODE_DATE_OF_SERVICE", "2026-01-15")
    assert names(resolve_releases())[CM] == "cut2026"
    with pytest.raises(ReleaseError, match="no ICD-10-CM release was in force"):
        resolve_releases(when="2020-01-01")
    with pytest.raises(ReleaseError, match="no such release"):
        resolve_releases("FY1999")
    listed = runner.invoke(app, ["codes", "releases", "--json", "--date-of-service", "2026-11-01"])
    rows = {r["name"]: r for r in json.loads(listed.output)["releases"]}
    assert rows["FY2027"]["default_for"] == [CM] and rows["FY2026"]["default_for"] == [PCS]


# ------------------------------------------------------------------------------------ models across releases
def test_map_code_statuses(cm_home):
    from medcode.codesets.releases import conversion

    release = get_release("FY2027", cm_home)
    kb, table = KnowledgeBase.for_release(release), conversion(release, CM)
    old = lambda code, system: {"J18.9": (True, "Pneumonia, unspecified organism"), "R07.9": (True, "Chest pain"),  # noqa: E731
                                "N20.0": (True, "Calculus of kidney"), "I10": (True, "Essential (primary) hypertension"),
                                "R50.9": (True, "Fever, unspecified")}.get(code)
    assert map_code("I10", CM, old, kb, table).status == EXACT
    assert map_code("R50.9", CM, old, kb, table).revised
    assert map_code("J18.9", CM, old, kb, table).targets == ("J18.91", "J18.92", "J18.99")
    assert map_code("J18.9", CM, old, kb, table).status == EXPANDED
    assert map_code("R07.9", CM, old, kb, table).status == REPLACED
    assert map_code("R07.9", CM, old, kb, table).targets == ("R07.89",)
    assert map_code("N20.0", CM, old, kb, table).status == DELETED
    assert map_code("W19.XXX", CM, old, kb, table).status == UNKNOWN


NOTE = ("The patient presented a right lower lobe pneumonia.\nThe patient presented oppressive chest pain.\n"
        "The patient presented a kidney stone.\nThe patient presented fever of 39 C.\n")


def _codes_of(record: dict) -> set[str]:
    codes = {s["code"] for s in record["suggestions"] + record["excluded"]}
    codes |= {o["code"] for s in record["suggestions"] + record["excluded"] for o in (s.get("query") or {}).get("options", [])}
    return codes | {c for conflict in record["conflicts"] for c in conflict["codes"]}


def test_suggest_with_a_release_never_outputs_a_code_it_lacks(tiny_model_dir, cm_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    own = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir), "--json", "--release", "FY2026"])
    before = {s["code"] for s in json.loads(own.output)["suggestions"]}
    assert {"J18.9", "R07.9", "N20.0", "R50.9"} <= before  # the model's own release: its codes as they are
    result = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir), "--json", "--release", "FY2027"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["release"][CM] == "ICD-10-CM FY2027"
    kb = KnowledgeBase.for_release(get_release("FY2027"))
    assert all(kb.get(code, CM) or kb.get(code, PCS) for code in _codes_of(record))
    by_code = {s["code"]: s for s in record["suggestions"]}
    assert "R07.9" not in by_code and "N20.0" not in by_code
    assert by_code["R07.89"]["release_mapping"] == {"status": "replaced", "from": "R07.9", "release": "ICD-10-CM FY2027"}
    expanded = by_code["J18.9"]
    assert not expanded["billable"] and expanded["release_mapping"]["status"] == "expanded"
    assert {o["code"] for o in expanded["query"]["options"]} == {"J18.91", "J18.92", "J18.99"}
    assert by_code["R50.9"]["description"] == "Fever, unspecified cause"
    table = runner.invoke(app, ["suggest", str(note), "-m", str(tiny_model_dir), "--release", "FY2027"])
    assert table.exit_code == 0 and "R07.9 " not in table.output and "ICD-10-CM FY2027" in table.output


def test_predict_and_resume_record_the_release(tiny_model_dir, cm_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"id": "a", "text": NOTE}) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(notes), "-o", str(out), "-m", str(tiny_model_dir), "--release", "FY2027"])
    assert result.exit_code == 0, result.output
    line = json.loads(out.read_text())
    assert line["release"][CM] == "ICD-10-CM FY2027" and "R07.9" not in _codes_of(line)
    assert json.loads((tmp_path / "out.run.json").read_text())["fingerprint"]["release"] == {CM: "FY2027", PCS: "FY2026"}
    import os

    assert "MEDCODE_RELEASE" not in os.environ  # the command leaves the environment as it found it
    again = runner.invoke(app, ["predict", str(notes), "-o", str(out), "-m", str(tiny_model_dir), "--resume",
                                "--release", "cut2026"])
    assert again.exit_code == 4 and "release" in again.output


def test_conversion_table_given_to_diff(cm_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    table = tmp_path / "conversion.csv"
    table.write_text("Current Code,Effective Date,Previous Code(s)\nN20.1,10/1/2026,N20.0\n")
    result = runner.invoke(app, ["codes", "diff", "cut2026", "FY2027", "--conversion", str(table), "--json"])
    deleted = {d["code"]: d["replaced_by"] for d in json.loads(result.output)["systems"][CM]["deleted"]}
    assert deleted == {"N20.0": ["N20.1"], "R07.9": ["R07.89"]}


def test_models_map_reports_how_the_codes_map(tiny_model_dir, cm_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDCODE_HOME", str(cm_home))
    out = tmp_path / "map.json"
    result = runner.invoke(app, ["models", "map", "-m", str(tiny_model_dir), "--release", "FY2027", "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["to"][CM] == "ICD-10-CM FY2027" and CM in summary["counts"] and PCS not in summary["counts"]
    changed = summary["changed"][CM]
    assert changed["R07.9"] == {"status": "replaced", "targets": ["R07.89"]}
    assert changed["N20.0"]["status"] == "deleted" and changed["J18.9"]["status"] == "expanded"
    assert changed["R50.9"] == {"status": "exact", "targets": ["R50.9"], "revised": True}
    own = runner.invoke(app, ["models", "map", "-m", str(tiny_model_dir), "--release", "FY2026"])
    assert "every code as it is" in own.output


def test_training_records_the_release(cm_home, tmp_path):
    from conftest import TINY_CONFIG, synthetic_notes, tiny_kb
    from medcode.coder import Medcoder
    from medcode.storage import read_meta

    base = tiny_kb()
    choice = {CM: get_release("FY2027", cm_home), PCS: bundled_release()}
    kb = KnowledgeBase(base.code_to_entry.values(), base.excludes1, choice)
    model = Medcoder.train(synthetic_notes(30), TINY_CONFIG, kb=kb)
    assert model.meta["releases"] == {CM: "ICD-10-CM FY2027", PCS: "ICD-10-PCS FY2026"}
    model.save(tmp_path / "m")
    meta = read_meta(tmp_path / "m")
    assert meta["code_release"][CM]["name"] == "FY2027" and meta["code_release"][CM]["sources"][0]["sha256"]
    assert "ICD-10-CM release `FY2027`, effective 2026-10-01" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
