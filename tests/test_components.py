"""Each component on one-line notes (medspaCy style)."""

import pytest
import spacy

from medcode.about import MENTIONS_KEY
from medcode.nlp import build_nlp
from medcode.nlp.context import status
from medcode.textnorm import alias_key, content_words

PHRASES = {
    "pneumonia": [("J18.9", "ICD-10-CM", "title", 1.0)],
    "chest pain": [("R07.9", "ICD-10-CM", "title", 1.0)],
    "breast cancer": [("C50.919", "ICD-10-CM", "alias", 1.0)],
    "chest X-ray": [("BW03ZZZ", "ICD-10-PCS", "learned", 0.8)],
    "diabetes": [("E11.9", "ICD-10-CM", "alias", 1.0)],
    "fever": [("R50.9", "ICD-10-CM", "title", 1.0)],
}
#: Lexicons are keyed by the canonical, order-free form of a phrase.
LEXICON = {alias_key(content_words(phrase)): hits for phrase, hits in PHRASES.items()}


@pytest.fixture(scope="module")
def nlp():
    return build_nlp(LEXICON)


def mentions(nlp, text):
    doc = nlp(text)  # keep the doc alive while its span group is read
    return [(s.text, sorted({h.code for h in s._.medcode_codes}), status(s)) for s in doc.spans[MENTIONS_KEY]]


def test_sentences_break_at_newlines(nlp):
    doc = nlp("Fever and cough\nno pneumonia")
    assert [s.text.strip() for s in doc.sents] == ["Fever and cough", "no pneumonia"]


def test_mentions_match_regardless_of_order_and_plural(nlp):
    found = mentions(nlp, "Pneumonias were seen on the X-ray of the chest.")
    assert ("Pneumonias", ["J18.9"], []) in found
    assert ("X-ray of the chest", ["BW03ZZZ"], []) in found


def test_one_span_per_stretch_keeps_all_codes(nlp):
    nlp2 = build_nlp({"pain": [("R52", "ICD-10-CM", "title", 1.0), ("4A02X4Z", "ICD-10-PCS", "learned", 0.5)]})
    doc = nlp2("Pain.")
    spans = list(doc.spans[MENTIONS_KEY])
    assert len(spans) == 1 and spans[0].label_ == "DIAGNOSIS_OR_PROCEDURE"
    assert {h.code for h in spans[0]._.medcode_codes} == {"R52", "4A02X4Z"}


@pytest.mark.parametrize("text,expected", [
    ("No evidence of pneumonia.", ["NEGATED"]),
    ("The patient denies chest pain.", ["NEGATED"]),
    ("Pneumonia was ruled out.", ["NEGATED"]),
    ("Her mother had breast cancer.", ["FAMILY"]),
    ("History of pneumonia in 2010.", ["HISTORICAL"]),
    ("Return if fever appears.", ["HYPOTHETICAL"]),
    ("Findings suggestive of pneumonia.", ["UNCERTAIN"]),
    ("Pneumonia.", []),
    ("No change in the pneumonia.", []),
    ("No fever, but pneumonia was seen.", []),
])
def test_context_statuses(nlp, text, expected):
    found = mentions(nlp, text)
    assert found and found[-1][2] == expected


def test_sections_set_status_until_the_next_header(nlp):
    found = mentions(nlp, "Family history:\nbreast cancer\nAssessment:\npneumonia")
    assert [(t, s) for t, _, s in found] == [("breast cancer", ["FAMILY"]), ("pneumonia", [])]
    inline = mentions(nlp, "Family history: breast cancer.\nPneumonia.")
    assert [s for _, _, s in inline] == [["FAMILY"], []]


def test_pipeline_round_trips_through_disk(nlp, tmp_path):
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert loaded.pipe_names == nlp.pipe_names
    text = "No evidence of pneumonia. Chest X-ray normal."
    assert mentions(loaded, text) == mentions(nlp, text)
    assert [t.text for t in loaded("IL-2 mediated")] == [t.text for t in nlp("IL-2 mediated")]


def test_tokenizer_caches_the_chunks_after_a_special_case():
    # spaCy caches a chunk's tokens only before a text's first special case ("e.g."): the chunks after it were
    # split by the affix patterns again in every note.
    tokenizer = build_nlp().tokenizer
    search, searched = tokenizer.suffix_search, []
    tokenizer.suffix_search = lambda chunk: searched.append(chunk) or search(chunk)  # (this empties the cache)
    text = "Seen e.g. yesterday: fever, cough and IL-2 raised."
    first = [(t.text, t.whitespace_) for t in tokenizer(text)]
    searched.clear()
    assert [(t.text, t.whitespace_) for t in tokenizer(text)] == first
    assert searched == []  # every chunk from the cache (the special case from its own table)


def test_tokenizer_is_scispacys_and_stores_no_rules(nlp, tmp_path):
    import spacy
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    reference = spacy.blank("en")
    reference.tokenizer = combined_rule_tokenizer(reference)
    text = "IL-2 and 5mg/kg q.d. x-ray Dr. Smith e.g. 3.5cm (CRP 12mg/L); BP 140/90 mmHg, SpO2 93%."
    assert [t.text for t in nlp(text)] == [t.text for t in reference(text)]
    nlp.to_disk(tmp_path / "nlp")
    assert (tmp_path / "nlp" / "tokenizer").stat().st_size < 200  # a marker, not 4,000 special cases
    loaded = spacy.load(tmp_path / "nlp")
    assert [t.text for t in loaded(text)] == [t.text for t in reference(text)]
