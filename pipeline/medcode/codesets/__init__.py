"""The code sets: ICD-10-CM and ICD-10-PCS as a knowledge base, their notes, queries and look-ups.

* :mod:`medcode.codesets.kb`: :class:`CodeEntry` records keyed by ``(system, code)``, alias index.
* :mod:`medcode.codesets.excludes`: the Excludes1 notes, small enough to ship in a model folder.
* :mod:`medcode.codesets.queries`: what a code leaves open, and the physician query for it.
* :mod:`medcode.codesets.lookup`: ``medcode codes validate / show / search``.
"""

from medcode.codesets.kb import CodeEntry, KnowledgeBase, guess_system, normalize_code

__all__ = ["CodeEntry", "KnowledgeBase", "guess_system", "normalize_code"]
