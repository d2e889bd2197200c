from pipeline.about import CM, PCS
from pipeline.kb import KnowledgeBase, cm_aliases, normalize_code, pcs_aliases
from pipeline.textnorm import alias_key, content_words


def test_normalize_code_adds_the_dot_and_upper_case():
    assert normalize_code("n2889") == "N28.89"
    assert normalize_code("r52") == "R52"
    assert normalize_code("bw03zzz") == "BW03ZZZ"
    assert normalize_code("bn20", PCS) == "BN20"
    assert normalize_code(" s72.001a ", CM) == "S72.001A"


def test_alias_keys_ignore_order_function_words_and_plurals():
    assert alias_key(content_words("fracture of the neck of femur")) == alias_key(content_words("femur neck fractures"))


def test_cm_aliases_drop_unspecified_tails_and_nonessential_modifiers():
    aliases = cm_aliases("Pneumonia, unspecified organism", ["hypertension (arterial) (benign)"])
    assert "Pneumonia" in aliases
    assert any(alias_key(content_words(a)) == "hypertension" for a in aliases)


def test_pcs_aliases_cut_qualifiers():
    assert pcs_aliases("Resection of Appendix, Percutaneous Endoscopic Approach")[1] == "Resection of Appendix"


def test_tiny_kb_indexes(kb):
    assert kb.code_to_entry["J18.9"].title == "Pneumonia, unspecified organism"
    assert "J18.9" in kb.alias_to_codes["pneumonia"]
    assert kb.system_of("BW03ZZZ") == PCS and kb.system_of("I10") == CM
    assert kb.system_of("Z99.99") is None


def test_full_knowledge_base_holds_both_releases():
    kb = KnowledgeBase.load()
    assert kb.title("N28.89") == "Other specified disorders of kidney and ureter"
    assert kb.get("BW03ZZZ").title == "Plain Radiography of Chest"
    # 4-character PCS prefixes (used by the CodiEsp gold) are headers with a derived title.
    assert kb.get("BN20").system == PCS and not kb.get("BN20").billable
    assert kb.get("S72.001A").billable and not kb.get("S72.001").billable
    assert not kb.get("M54.5").billable
    assert kb.default_children("J18")[0] == "J18.9"
