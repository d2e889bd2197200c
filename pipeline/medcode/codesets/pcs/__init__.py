"""Compose ICD-10-PCS codes from the words of a procedure note, one axis at a time, as a coder does.

A coder builds a PCS code from the tables: the root operation from its definition ("removal of the
gallbladder" takes out all of a body part: Resection), the body part from the table labels and the Body
Part Key ("neck of femur" is the Upper Femur), the side, the approach ("laparoscopic" is Percutaneous
Endoscopic), the device (Device Key: "Foley catheter" is a Drainage Device; none named: No Device) and the
qualifier (Diagnostic for a biopsy, the source of a bypass, otherwise No Qualifier).

:class:`PcsComposer` does the same with the vendored FY2026 tables and definitions and the FY2025 PCS Index
(``pcs_tables.json.gz``, ``pcs_terms.json.gz``, built by ``pipeline/devtools/build_pcs.py``) and medcode's
own word knowledge (``pcs_words.json``: procedure suffixes, eponyms, abbreviations, coding conventions).

Words arrive as :func:`medcode.textnorm.content_words` returns them (canonical, singular, no stopwords).
Every row of every table whose root operation the words name (or the PCS Index points to) is scored axis by
axis: a value scores the weighted share of its label, or of a Body Part Key / Device Key / index alias,
that the words cover, words far from the operation's words counting less, and words one axis used are not
used again by a later one. A complete code is proposed when every axis is named by the words, fixed by the
row, or fixed by a coding convention; otherwise the longest valid prefix is proposed with the open axes in
``missing`` (the engine asks the physician), and its completions follow at a lower score.
"""

from medcode.codesets.pcs.composer import PcsComposer
from medcode.codesets.pcs.records import AXIS_NAMES, LATERALITY, PcsProposal

__all__ = ["AXIS_NAMES", "LATERALITY", "PcsComposer", "PcsProposal"]
