"""The code sets: ICD-10-CM and ICD-10-PCS as a knowledge base, their notes, queries and look-ups.

* :mod:`medcode.codesets.kb`: :class:`CodeEntry` records keyed by ``(system, code)``, alias index.
* :mod:`medcode.codesets.excludes`: the Excludes1 notes, small enough to ship in a model folder.
* :mod:`medcode.codesets.queries`: what a code leaves open, and the physician query for it.
* :mod:`medcode.codesets.lookup`: ``medcode codes validate / show / search``.
* :mod:`medcode.codesets.releases`: releases as data: install the official files, list, choose by name or date
  (:mod:`~medcode.codesets.sources` recognises the files, :mod:`~medcode.codesets.builder` builds a release
  folder, :mod:`~medcode.codesets.cmtabular` holds an ICD-10-CM tabular other than the bundled one).
* :mod:`medcode.codesets.diff`: ``medcode codes diff``; :mod:`medcode.codesets.mapping`: a model's codes in
  another release.
"""

from medcode.codesets.kb import CodeEntry, KnowledgeBase, guess_system, normalize_code

__all__ = ["CodeEntry", "KnowledgeBase", "guess_system", "normalize_code"]
