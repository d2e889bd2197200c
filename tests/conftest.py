"""Tiny fixtures: a ten-code knowledge base, a synthetic coded corpus and a model trained on it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

# The developer tools (bench, context evaluation) live beside the package, not in it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pipeline"))

from medcode.about import CM, PCS
from medcode.coder import Medcoder
from medcode.codesets.excludes import Excludes1Index
from medcode.codesets.kb import CodeEntry, KnowledgeBase, cm_aliases, pcs_aliases
from medcode.config import TrainConfig
from medcode.notes import Note

CM_CODES = {
    "J18.9": "Pneumonia, unspecified organism",
    "R50.9": "Fever, unspecified",
    "I10": "Essential (primary) hypertension",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "R07.9": "Chest pain, unspecified",
    "C50.919": "Malignant neoplasm of unspecified site of unspecified female breast",
    "N20.0": "Calculus of kidney",
}
PCS_CODES = {
    "BW03ZZZ": "Plain Radiography of Chest",
    "BW24": "Computerized Tomography (CT Scan) of Chest and Abdomen",
    "0DTJ4ZZ": "Resection of Appendix, Percutaneous Endoscopic Approach",
}
#: Phrases a note uses for each code (not always the title: the model must learn some).
PHRASES = {
    "J18.9": ["pneumonia", "a right lower lobe pneumonia"],
    "R50.9": ["fever", "fever of 39 C"],
    "I10": ["hypertension", "high blood pressure"],
    "E11.9": ["type 2 diabetes mellitus", "diabetes"],
    "R07.9": ["chest pain", "oppressive chest pain"],
    "N20.0": ["a kidney stone", "renal calculus"],
    "BW03ZZZ": ["a chest X-ray", "chest radiograph"],
    "BW24": ["a thoracoabdominal CT", "CT of chest and abdomen"],
    "0DTJ4ZZ": ["laparoscopic appendectomy", "an appendectomy by laparoscopy"],
}


def tiny_kb() -> KnowledgeBase:
    entries = [CodeEntry(c, CM, t, cm_aliases(t, []), True, "x", c[:3]) for c, t in CM_CODES.items()]
    entries += [CodeEntry(c, PCS, t, pcs_aliases(t), len(c) == 7, c[0], c[:4]) for c, t in PCS_CODES.items()]
    # A made-up Excludes1 note (the tiny code set has no real pair), so predictions can carry a conflict.
    excludes1 = Excludes1Index({"J18": ["fever presented with pneumonia (R50.-)"]}, {})
    return KnowledgeBase(entries, excludes1)


def synthetic_notes(n: int, seed: int = 0) -> list[Note]:
    rng = random.Random(seed)
    notes = []
    for i in range(n):
        codes = rng.sample(sorted(PHRASES), 3)
        sentences = [f"The patient presented {rng.choice(PHRASES[c])}." for c in codes]
        sentences.append("He was discharged home in good condition.")
        text = "\n".join(sentences)
        notes.append(Note(f"note{i:03d}", text, {
            CM: [c for c in codes if c in CM_CODES], PCS: [c for c in codes if c in PCS_CODES]}))
    return notes


TINY_CONFIG = TrainConfig(folds=2, ranker_iter=40, ridge_candidates=10)


@pytest.fixture(scope="session", autouse=True)
def _no_installed_releases(tmp_path_factory):
    """Every test runs with no code-set release installed (an empty $MEDCODE_HOME) and none chosen by the
    environment, whatever the developer's machine has: the bundled release is the default."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDCODE_HOME", str(tmp_path_factory.mktemp("medcode-home")))
        patch.delenv("MEDCODE_RELEASE", raising=False)
        patch.delenv("MEDCODE_DATE_OF_SERVICE", raising=False)
        yield


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return tiny_kb()


@pytest.fixture(scope="session")
def tiny_model_dir(kb, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    Medcoder.train(synthetic_notes(60), TINY_CONFIG, kb=kb).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir) -> Medcoder:
    """The tiny model as loaded from its folder, so its model id is the folder's. (Saving a model to another
    folder makes it that folder's model: tests that save take their own copy, see ``fresh_tiny_model``.)"""
    return Medcoder.load(tiny_model_dir)


@pytest.fixture
def fresh_tiny_model(tiny_model_dir) -> Medcoder:
    return Medcoder.load(tiny_model_dir)
