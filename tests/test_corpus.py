import json

import pytest

from medcode.about import CM, PCS
from medcode.corpus import load_notes, read_notes
from medcode.errors import CorpusError
from medcode.notes import Note, NoteError


def test_jsonl_bad_line_is_reported_and_the_rest_is_read(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "text": "Fever.", "codes": ["r50.9", "bw03zzz"]}),
        "{not json",
        json.dumps({"id": "b", "text": "   "}),
        json.dumps({"id": "c", "text": "Cough.", "codes": {"ICD-10-PCS": ["bn20"]}}),
    ]) + "\n")
    items = list(read_notes(path))
    assert [type(i) for i in items] == [Note, NoteError, NoteError, Note]
    assert items[0].codes == {CM: ["R50.9"], PCS: ["BW03ZZZ"]}
    assert items[1].id == "notes.jsonl:line 2" and "not valid JSON" in items[1].reason
    assert items[2].id == "b" and items[2].reason == "note is empty"
    assert items[3].codes == {PCS: ["BN20"]}


def test_txt_folder_reports_non_utf8_and_empty_files(tmp_path):
    (tmp_path / "good.txt").write_text("Pneumonia.")
    (tmp_path / "latin.txt").write_bytes("Neumon\xeda".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    notes, errors = load_notes(tmp_path)
    assert [n.id for n in notes] == ["good"]
    assert {e.id: e.reason for e in errors} == {"empty": "note is empty", "latin": "file is not UTF-8 (byte 6)"}


def test_csv_with_codes(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('id,text,codes\nx,"Chest pain, no fever.",R07.9;BW03ZZZ\n')
    notes, errors = load_notes(path)
    assert not errors and notes[0].codes == {CM: ["R07.9"], PCS: ["BW03ZZZ"]}


def test_codiesp_folder(tmp_path):
    split = tmp_path / "dev"
    (split / "text_files_en").mkdir(parents=True)
    (split / "text_files_en" / "n1.txt").write_text("Brucellosis.")
    (split / "devD.tsv").write_text("n1\ta23.9\nn1\tn28.89\n")
    (split / "devP.tsv").write_text("n1\tbn20\n")
    notes, _ = load_notes(tmp_path, "dev")
    assert notes[0].codes == {CM: ["A23.9", "N28.89"], PCS: ["BN20"]}
    assert load_notes(split)[0][0].id == "n1"


def test_unknown_input_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        list(read_notes(tmp_path / "missing.jsonl"))
    (tmp_path / "notes.xml").write_text("<x/>")
    with pytest.raises(CorpusError, match="unknown input format"):
        list(read_notes(tmp_path / "notes.xml"))
