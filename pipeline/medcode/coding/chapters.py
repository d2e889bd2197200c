"""Chapters whose codes belong to one kind of record: a pregnancy's (15) or a newborn's (16).

Chapter 15 codes are for a pregnancy's record and chapter 16 codes for a newborn's (Guidelines I.C.15.a,
I.C.16.a): a note with none of these words gets none from word matches ("T2DM, diet controlled" had O24.410
first, gestational diabetes diet controlled; "Klebsiella" brought P23.6, congenital pneumonia; 9 of 239 fresh
notes).
"""

from __future__ import annotations

import functools
import re

from medcode.textnorm import content_words

#: The words as written; :func:`_canonical` gives them canonical (on first use: canonical words need
#: ``synonyms.json``, which importing the module must not read).
PREGNANCY_WORDS = (
    "pregnant pregnancy gestation gestational trimester prenatal antepartum postpartum puerperal delivery delivered "
    "labor cesarean c-section gravida primigravida multigravida obstetric IUP miscarriage abortion ectopic placenta "
    "fetal fetus amniotic preeclampsia eclampsia intrauterine postnatal lactation breastfeeding hyperemesis gravidarum "
    "GDM SVD NSVD")
NEWBORN_WORDS = "newborn neonate neonatal infant baby NICU nursery born preterm premature prematurity birth perinatal"
_GRAVIDA_PARA = re.compile(r"g\d+p\d+")


@functools.cache
def _canonical(text: str) -> frozenset[str]:
    return frozenset(content_words(text))


def outside_record(code: str, words: set[str]) -> bool:
    """Whether a word match of ``code`` lacks the record its chapter needs (a pregnancy or a newborn) in ``words``
    (the note's canonical words)."""
    if code[0] == "O":
        return words.isdisjoint(_canonical(PREGNANCY_WORDS)) and not any(_GRAVIDA_PARA.fullmatch(w) for w in words)
    if code[0] == "P":
        return words.isdisjoint(_canonical(NEWBORN_WORDS)) and not {"day", "old"} <= words  # "2-day-old"
    return False
