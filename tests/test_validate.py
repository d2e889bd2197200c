"""Code validation against the full FY2026 code sets (one knowledge-base load for the module)."""

import json

import pytest
from typer.testing import CliRunner

from medcode.cli import app
from medcode.codesets.kb import KnowledgeBase
from medcode.codesets.lookup import search_codes, show_code, validate_codes
from medcode.codesets.queries import specificity_query


@pytest.fixture(scope="module")
def kb():
    return KnowledgeBase.load()


def by_code(result):
    return {r["code"]: r for r in result["codes"]}


def test_header_missing_seventh_and_unknown(kb):
    result = validate_codes(["m54.5", "S72.001", "W19.XXX", "Z99.999", "E11.9"], kb)
    codes = by_code(result)
    assert not result["valid"]
    assert codes["M54.5"]["status"] == "header" and codes["M54.5"]["billable_children"] == ["M54.50", "M54.51", "M54.59"]
    assert codes["S72.001"]["status"] == "needs_7th_character"
    assert set(codes["S72.001"]["seventh_characters"]) >= {"S72.001A", "S72.001D", "S72.001S"}
    assert "W19.XXXA" in codes["W19.XXX"]["seventh_characters"]
    assert codes["Z99.999"]["status"] == "unknown" and "nearest valid code is Z99" in codes["Z99.999"]["messages"][0]
    assert codes["E11.9"]["valid"] and any("Z79" in n for n in codes["E11.9"]["use_additional_code"])


def test_excludes1_pair(kb):
    result = validate_codes(["E11.9", "E10.9"], kb)
    assert not result["valid"]
    assert ["E11.9", "E10.9"] in [c["codes"] for c in result["conflicts"]]


def test_pcs_codes(kb):
    codes = by_code(validate_codes(["bw03zzz", "BN20", "0DTJ4ZZ"], kb))
    assert codes["BW03ZZZ"]["valid"] and codes["0DTJ4ZZ"]["valid"]
    assert codes["BN20"]["status"] == "header"


def test_specificity_queries(kb):
    encounter = specificity_query("S72.001", kb)
    assert encounter["detail"] == "encounter" and "S72.001A" in [o["code"] for o in encounter["options"]]
    side = specificity_query("S72.00", kb)
    assert side["detail"] == "laterality"
    assert specificity_query("S72.001A", kb) is None  # fully specified


def test_show_and_search(kb):
    info = show_code("E11.9", kb)
    assert info["title"] == "Type 2 diabetes mellitus without complications"
    assert info["hierarchy"][0]["code"] == "E11"
    hits = search_codes("femoral neck fracture", kb, limit=10)
    assert any(h["code"].startswith("S72.0") for h in hits)


def test_cli_validate_exits_non_zero_on_invalid():
    runner = CliRunner()
    bad = runner.invoke(app, ["codes", "validate", "M54.5", "S72.001", "E11.9", "E10.9", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert {r["status"] for r in data["codes"]} == {"header", "needs_7th_character", "billable"}
    good = runner.invoke(app, ["codes", "validate", "E11.9", "I10"])
    assert good.exit_code == 0, good.output


def test_validate_of_thousands_of_codes_stays_short(kb):
    """Excludes1 conflicts among 2,000 codes of one chapter: grouped per note, not one line per pair."""
    import random

    import simple_icd_10_cm as cm

    chapter = [c for c in cm.get_all_codes(True) if cm.is_leaf(c) and c.startswith("M")]
    codes = random.Random(0).sample(chapter, 2000)
    result = CliRunner().invoke(app, ["codes", "validate", *codes, *codes[:500]], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert len(result.stdout.splitlines()) < 20_000  # about 148,000 when every pair had its line
