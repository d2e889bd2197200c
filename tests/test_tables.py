"""The ICD-10-CM index tables (neoplasms, drugs and chemicals, external causes) and their build script.

Everything here reads the vendored files in ``medcode/data`` (or builds a tiny table from inline XML):
nothing depends on the CDC/NCHS sources outside the repository.
"""

from __future__ import annotations

import gzip
import json
import re

import pytest

from devtools.build_tables import build, normalize_code
from medcode.about import CM_RELEASE
from medcode.codesets.index_titles import EXTRA_FORMS
from medcode.codesets.tables import DrugTable, ExternalCauseIndex, NeoplasmTable, TableHit
from medcode.textnorm import content_words

#: A code as the tables print it: category, optional dot and characters, optional "-" (more needed).
CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?-?$")
TABLES = (NeoplasmTable, DrugTable, ExternalCauseIndex)


def find(table, text: str, **kwargs) -> list[TableHit]:
    """What the coding engine does: the sentence's canonical content words, looked up in a table."""
    return table.load().find(set(content_words(text)), **kwargs)


def paths(hits: list[TableHit]) -> list[tuple[str, ...]]:
    return [hit.path for hit in hits]


# --- The examples the engine relies on -----------------------------------------------------------


def test_lung_upper_lobe_is_reached_from_a_note_sentence():
    hits = find(NeoplasmTable, "Adenocarcinoma of the right upper lobe of the lung.")
    assert hits[0].path == ("lung", "upper lobe")
    assert hits[0].table == "neoplasm"
    assert hits[0].codes["malignant_primary"] == "C34.1-"
    assert hits[0].matched == {"lung", "upper", "lobe"}
    assert hits[0].specificity == 3
    assert ("lung",) in paths(hits)  # the less specific site comes too, after


def test_skin_of_cheek_returns_skin_entry_first_and_cheek_entry_too():
    hits = find(NeoplasmTable, "Carcinoma of the skin of the cheek.")
    found = paths(hits)
    skin, cheek = ("skin NOS", "cheek (external)"), ("cheek",)
    assert skin in found and cheek in found
    assert found.index(skin) < found.index(cheek)
    assert hits[found.index(skin)].specificity > hits[found.index(cheek)].specificity
    assert hits[found.index(skin)].codes["malignant_primary"] == "C44.309"
    assert hits[found.index(cheek)].codes["malignant_primary"] == "C76.0"


def test_acetaminophen_overdose_reaches_the_acetaminophen_row_with_all_six_columns():
    hits = find(DrugTable, "Acetaminophen overdose.")
    assert hits[0].path == ("Acetaminophen",)
    assert hits[0].codes == {
        "poisoning_accidental": "T39.1X1",
        "poisoning_intentional": "T39.1X2",
        "poisoning_assault": "T39.1X3",
        "poisoning_undetermined": "T39.1X4",
        "adverse_effect": "T39.1X5",
        "underdosing": "T39.1X6",
    }
    assert tuple(hits[0].codes) == DrugTable.COLUMNS


def test_fell_from_a_ladder_reaches_the_ladder_fall():
    words = set(content_words("He fell from a ladder."))
    assert "fell" in words  # the engine's words: the lookup maps the verb itself
    hits = ExternalCauseIndex.load().find(words)
    assert hits[0].path == ("Fall, falling (accidental)", "from, off, out of", "ladder")
    assert hits[0].codes == {"code": "W11"}
    assert hits[0].matched == {"fall", "ladder"}
    assert EXTRA_FORMS["fell"] == "fall"


# --- Columns -------------------------------------------------------------------------------------


def test_metastatic_site_has_a_malignant_secondary_code():
    hits = find(NeoplasmTable, "Metastatic carcinoma to the liver.")
    liver = next(hit for hit in hits if hit.path == ("liver",))
    assert liver.codes["malignant_secondary"] == "C78.7"
    assert liver.codes["malignant_primary"] == "C22.9"


def test_in_situ_column():
    hits = find(NeoplasmTable, "Carcinoma in situ of the cervix.")
    assert hits[0].path == ("cervix (cervical) (uteri) (uterus)",)
    assert hits[0].codes["in_situ"] == "D06.9"


def test_benign_column_of_a_sub_site_reached_through_see_also():
    hits = find(NeoplasmTable, "Benign neoplasm of the ascending colon.")
    assert hits[0].path == ("colon", "ascending")
    assert hits[0].codes["benign"] == "D12.2"
    assert hits[0].via == "Neoplasm, intestine, large"
    assert ("colon",) in paths(hits)


def test_dash_means_no_code_and_the_column_is_left_out():
    # "connective tissue" has no carcinoma in situ: the table prints a dash.
    hits = find(NeoplasmTable, "Sarcoma of connective tissue.")
    assert hits[0].path == ("connective tissue NEC",)
    assert "in_situ" not in hits[0].codes
    assert hits[0].codes["uncertain"] == "D48.1-"  # "more characters needed", kept as printed


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.TABLE)
def test_every_code_is_printed_form_with_dot_and_no_bare_dash(table):
    loaded = table.load()
    for number in range(len(loaded)):
        hit = loaded._hit(number, frozenset())
        assert set(hit.codes) <= set(table.COLUMNS)
        for code in hit.codes.values():
            assert CODE_RE.match(code), (hit.path, code)


# --- Table conventions ---------------------------------------------------------------------------


def test_external_cause_sub_term_path_of_three_levels():
    hits = find(ExternalCauseIndex, "He fell down the stairs.")
    assert hits[0].path == ("Fall, falling (accidental)", "down", "stairs, steps")
    assert hits[0].codes == {"code": "W10.9"}
    assert hits[0].specificity == 3


def test_inflection_after_a_comma_is_an_alternative():
    hits = find(ExternalCauseIndex, "Bitten by a dog.")
    assert hits[0].path == ("Bite, bitten by", "dog")
    assert hits[0].codes == {"code": "W54.0"}


def test_nonessential_modifiers_match_with_and_without():
    bare = find(NeoplasmTable, "Bladder tumor.")
    assert bare[0].path == ("bladder (urinary)",) and bare[0].matched == {"bladder"}
    full = find(NeoplasmTable, "Urinary bladder tumor.")
    assert full[0].path == ("bladder (urinary)",)
    assert full[0].matched == {"bladder", "urinary"} and full[0].specificity == 2


def test_nec_is_not_a_word_to_match():
    hits = find(NeoplasmTable, "Tumor of the connective tissue.")
    assert hits[0].path == ("connective tissue NEC",)
    assert "nec" not in hits[0].matched


def test_or_makes_alternatives():
    hits = find(NeoplasmTable, "Carcinoma of the common bile duct.")
    assert hits[0].path == ("bile or biliary (tract)", "duct or passage (common) (cystic) (extrahepatic)")
    assert hits[0].matched == {"bile", "duct", "common"}


def test_hyphenated_title_matches_the_words_written_apart():
    hits = find(NeoplasmTable, "Carcinoma of the upper outer quadrant of the left breast.")
    assert hits[0].path[-1] == "upper-outer quadrant"
    assert hits[0].codes["malignant_primary"] == "C50.4-"


def test_comma_inside_a_chemical_name_does_not_split_it():
    # "2,4-D" is one name: the "2" of "type 2 diabetes" must not reach it.
    assert find(DrugTable, "Type 2 diabetes.") == []
    assert find(DrugTable, "Poisoning with 2,4-D.")[0].path[0].startswith("2,4-D")


def test_see_reference_is_followed_to_the_target_codes_and_sub_sites():
    hits = find(NeoplasmTable, "Small bowel adenocarcinoma.")
    assert hits[0].path == ("bowel", "small")
    assert hits[0].codes["malignant_primary"] == "C17.9"
    assert hits[0].via == "Neoplasm, intestine"
    bowel = next(hit for hit in hits if hit.path == ("bowel",))
    assert bowel.see == ("Neoplasm, intestine",) and bowel.codes["malignant_primary"] == "C26.0"


def test_see_reference_to_another_index_is_recorded_and_returned_only_on_request():
    words = set(content_words("melanoma"))
    assert NeoplasmTable.load().find(words) == []
    hits = NeoplasmTable.load().find(words, with_refs=True)
    assert hits[0].path == ("melanoma",)
    assert hits[0].codes == {} and hits[0].see == ("Melanoma",)


def test_drug_see_reference_is_followed():
    hits = find(DrugTable, "Aleve")
    assert hits[0].path == ("Aleve",)
    assert hits[0].via == "Naproxen"
    assert hits[0].codes["adverse_effect"] == find(DrugTable, "naproxen")[0].codes["adverse_effect"]


def test_site_unspecified_codes_are_the_main_term():
    assert NeoplasmTable.load().site_unspecified["malignant_primary"] == "C80.1"
    assert NeoplasmTable.load().site_unspecified["malignant_secondary"] == "C79.9"


# --- Lookup behaviour ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.TABLE)
def test_words_matching_nothing_give_no_hits(table):
    assert find(table, "The patient is comfortable and will be seen in clinic next week.") == []
    assert table.load().find(set()) == []


LONG_SENTENCE = (
    "A 67-year-old man with hypertension, type 2 diabetes and chronic kidney disease fell from a ladder at "
    "home and came after an acetaminophen overdose; imaging showed an adenocarcinoma of the right upper lobe "
    "of the lung with metastatic disease to the liver and bones, a basal cell carcinoma of the skin of the "
    "cheek and a lipoma of the back; he had been bitten by a dog and burned by a hot iron while cooking. "
    "Warfarin and insulin were held; the wife reports he slipped on ice last winter, smokes cigarettes, "
    "drinks alcohol daily and works on a farm tractor near the river with carbon monoxide exposure."
)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.TABLE)
def test_rarest_word_index_finds_exactly_what_a_full_scan_finds(table):
    words = set(content_words(LONG_SENTENCE))
    assert len(words) >= 60
    loaded = table.load()
    hits = loaded.find(words, limit=10_000, with_refs=True)
    scan = {
        loaded.path(number)
        for number in range(len(loaded))
        if (loaded._entries[number].codes or loaded._entries[number].see)
        and loaded._match(number, set(words) | {EXTRA_FORMS.get(w, w) for w in words}) is not None
    }
    assert scan, "the sentence should reach some entries of every table"
    # A term reached through a "see" that repeats a printed term is dropped from hits, nothing else.
    assert set(paths(hits)) <= scan
    dropped = scan - set(paths(hits))
    assert all(loaded._entries[n].via for n in range(len(loaded)) if loaded.path(n) in dropped)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.TABLE)
def test_hits_are_most_specific_first_each_entry_once_and_within_limit(table):
    words = set(content_words(LONG_SENTENCE))
    hits = table.load().find(words, limit=1000)
    assert [h.specificity for h in hits] == sorted((h.specificity for h in hits), reverse=True)
    assert len(paths(hits)) == len(set(paths(hits)))
    assert all(h.specificity == len(h.matched) and h.matched <= {EXTRA_FORMS.get(w, w) for w in words} for h in hits)
    assert len(table.load().find(words, limit=2)) == min(2, len(hits))


def test_load_is_cached_and_records_its_source():
    for table in TABLES:
        loaded = table.load()
        assert table.load() is loaded
        assert loaded.release == CM_RELEASE
        assert re.fullmatch(r"[0-9a-f]{64}", loaded.source["sha256"])
        assert loaded.source["file"].startswith("icd10cm-") and loaded.source["file"].endswith("-XML.xml.gz")
    assert NeoplasmTable.load().source["file"] == "icd10cm-neoplasm-April-1-2026-XML.xml.gz"


# --- The build script, on a tiny inline table ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("C34.1-", "C34.1-"),
        ("c341", "C34.1"),
        ("C34.1.", "C34.1-"),
        ("D05.-", "D05.-"),
        ("C61", "C61"),
        ("-", None),
        ("--", None),
        (" T39.1X1 ", "T39.1X1"),
    ],
)
def test_normalize_code(raw, code):
    assert normalize_code(raw) == code


TINY_NEOPLASM = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.index><version>2026</version>
<indexHeading><head col="1">Neoplasm</head><head col="2">Malignant Primary</head>
<head col="3">Malignant Secondary</head><head col="4">Ca in situ</head><head col="5">Benign</head>
<head col="6">Uncertain Behavior</head><head col="7">Unspecified Behavior</head></indexHeading>
<letter><title>N</title><mainTerm><title>Neoplasm, neoplastic</title>
<cell col="2">C80.1</cell><cell col="3">C79.9</cell><cell col="4">D09.9</cell><cell col="5">D36.9</cell>
<cell col="6">D48.9</cell><cell col="7">D49.9</cell>
<term level="1"><title>bowel</title><see>Neoplasm, intestine</see></term>
<term level="1"><title>intestine, intestinal</title><cell col="2">C26.0</cell><cell col="3">C78.80</cell>
<cell col="4">-</cell><cell col="5">D13.99</cell><cell col="6">D37.8</cell><cell col="7">D49.0</cell>
<term level="2"><title>small</title><cell col="2">C17.9</cell><cell col="3">C78.4</cell><cell col="4">D01.40</cell>
<cell col="5">D13.30</cell><cell col="6">D37.2</cell><cell col="7">D49.0</cell></term></term>
<term level="1"><title>lung<nemod>(bronchus)</nemod></title><cell col="2">C34.9-</cell><cell col="3">C78.0-</cell>
<cell col="4">D02.2-</cell><cell col="5">D14.3-</cell><cell col="6">D38.1</cell><cell col="7">D49.1</cell></term>
</mainTerm></letter></ICD10CM.index>
"""


def test_build_script_writes_a_reproducible_table_that_loads(tmp_path):
    source = tmp_path / "tiny-neoplasm.xml.gz"
    source.write_bytes(gzip.compress(TINY_NEOPLASM.encode("utf-8"), mtime=0))
    first = build(source, NeoplasmTable, tmp_path).read_bytes()
    assert build(source, NeoplasmTable, tmp_path).read_bytes() == first  # byte-identical rebuild
    data = json.loads(gzip.decompress(first))
    assert data["source"]["file"] == "tiny-neoplasm.xml.gz" and data["release"] == CM_RELEASE
    table = NeoplasmTable(data)
    hits = table.find(set(content_words("small bowel carcinoma")))
    assert paths(hits) == [("bowel", "small"), ("bowel",)]
    assert hits[0].codes["malignant_primary"] == "C17.9" and hits[1].codes["malignant_primary"] == "C26.0"
    assert "in_situ" not in hits[1].codes  # the dash
    lung = table.find({"lung", "bronchus"})
    assert lung[0].path == ("lung (bronchus)",) and lung[0].specificity == 2
    assert table.site_unspecified["malignant_primary"] == "C80.1"
