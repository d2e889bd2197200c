from medcode.about import CM, PCS
from medcode.codesets.kb import KnowledgeBase, cm_aliases, normalize_code, pcs_aliases
from medcode.textnorm import alias_key, content_words


def test_normalize_code_adds_the_dot_and_upper_case():
    assert normalize_code("n28.89") == "N28.89" and normalize_code("n2889", CM) == "N28.89"
    assert normalize_code("r52") == "R52"
    assert normalize_code("bw03zzz") == "BW03ZZZ"
    assert normalize_code("bn20", PCS) == "BN20"
    assert normalize_code(" s72.001a ", CM) == "S72.001A"


def test_alias_keys_ignore_order_function_words_and_plurals():
    assert alias_key(content_words("fracture of the neck of femur")) == alias_key(content_words("femur neck fractures"))


def test_abbreviations_give_the_words_titles_have():
    # "DM" must read like "diabetes mellitus" in a title, or "Type 2 DM" finds only the "diabetic ..." codes.
    assert alias_key(content_words("Type 2 DM")) == alias_key(content_words("Type 2 diabetes mellitus"))
    assert alias_key(content_words("pancreatic")) == alias_key(content_words("pancreas"))


def test_cm_aliases_drop_unspecified_tails_and_nonessential_modifiers():
    aliases = cm_aliases("Pneumonia, unspecified organism", ["hypertension (arterial) (benign)"])
    assert "Pneumonia" in aliases
    assert any(alias_key(content_words(a)) == "hypertension" for a in aliases)


def test_pcs_aliases_cut_qualifiers():
    assert pcs_aliases("Resection of Appendix, Percutaneous Endoscopic Approach")[1] == "Resection of Appendix"


def test_tiny_kb_indexes(kb):
    assert kb.code_to_entry[(CM, "J18.9")].title == "Pneumonia, unspecified organism"
    assert (CM, "J18.9") in kb.alias_to_codes["pneumonia"]
    assert kb.get("BW03ZZZ", PCS).system == PCS and kb.get("I10", CM).system == CM
    assert kb.get("Z99.99", CM) is None and kb.get("I10", PCS) is None


def test_full_kb_titles_billable_and_defaults():
    kb = KnowledgeBase.load()
    assert kb.title("N28.89", CM) == "Other specified disorders of kidney and ureter"
    assert kb.get("BW03ZZZ", PCS).title == "Plain Radiography of Chest"
    assert kb.get("BN20", PCS).system == PCS and not kb.get("BN20", PCS).billable
    assert kb.get("S72.001A", CM).billable and not kb.get("S72.001", CM).billable
    assert not kb.get("M54.5", CM).billable
    assert kb.default_children("J18")[0] == "J18.9"


def test_every_code_of_both_releases_resolves_to_itself():
    """Every ICD-10-CM code of the tabular and every ICD-10-PCS code comes back as itself, with its own
    title and billable status, and no code of one system resolves to the other's entry."""
    import simple_icd_10_cm as cm

    from medcode.codesets.kb import cm_tabular_codes, read_pcs_titles

    kb = KnowledgeBase.load()
    cm_codes = cm_tabular_codes()
    assert len(cm_codes) > 98_000
    wrong = []
    for code in cm_codes:
        entry = kb.get(code, CM)
        billable = cm.is_leaf(code) and (len(code) == 8 or not _needs_seventh(cm, code))
        if (entry is None or entry.system != CM or entry.code != code or entry.title != cm.get_description(code)
                or entry.billable != billable or kb.resolve(code) != (CM, code)):
            wrong.append(code)
    assert not wrong, wrong[:20]
    titles = read_pcs_titles()
    assert len(titles) == 79_115
    wrong = [code for code, title in titles.items()
             if (e := kb.get(code, PCS)) is None or e.title != title or not e.billable or kb.resolve(code) != (PCS, code)]
    assert not wrong, wrong[:20]
    # The categories that form a block of their own, and the CM codes that share a PCS prefix's string.
    for code, title in (("Z66", "Do not resuscitate"), ("B20", "Human immunodeficiency virus [HIV] disease"),
                        ("C50", "Malignant neoplasm of breast"), ("R99", "Ill-defined and unknown cause of mortality")):
        assert kb.get(code, CM).title == title and kb.resolve(code.lower()) == (CM, code)
    assert kb.get("Z66", CM).billable and not kb.get("C50", CM).billable
    assert kb.get("B20", PCS).system == PCS  # the PCS prefix is still there, under its own system
    assert kb.get("C50.9", CM).parent == "C50" and kb.get("C50", CM).parent is None
    assert "C50.9" in kb.children("C50", CM)


def _needs_seventh(cm, code: str) -> bool:
    return any(cm.get_seven_chr_def(a) for a in [code, *cm.get_ancestors(code)])
