"""The coding engine: codes from what a note says, by the code sets' own words and tables.

* :mod:`medcode.coding.index`: every reportable ICD-10-CM code as bags of words (title, inclusion terms);
* :mod:`medcode.coding.engine`: scoring a sentence's words against them;
* :mod:`medcode.coding.encounter`: the 7th character from the encounter;
* :mod:`medcode.coding.rules`: combination codes the guidelines presume and history codes, from the note's codes;
* the spaCy component that runs it is :mod:`medcode.nlp.engine`.
"""

#: Family-history categories: a condition the note gives a relative is coded here (Z80.3 for "mother had
#: breast cancer"), so for these codes a mention's FAMILY status is the point, not a reason to set aside.
FAMILY_HISTORY = ("Z80", "Z81", "Z82", "Z83", "Z84")
#: Personal-history categories: a past condition of the patient.
PERSONAL_HISTORY = ("Z85", "Z86", "Z87")
