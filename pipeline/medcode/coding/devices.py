"""Cardiac rhythm devices: a pacemaker or defibrillator implantation is the generator and each of its leads.

A coder codes the implantation of a pacemaker as two or three ICD-10-PCS codes: the generator, Insertion into the
subcutaneous tissue of the chest (0JH6-: single chamber 4, single chamber rate responsive 5, dual chamber 6,
resynchronization pacemaker 7; defibrillator 8, resynchronization defibrillator 9), and each transvenous lead,
Insertion of a cardiac lead into its heart chamber (02H63JZ right atrium, 02HK3JZ right ventricle, 02H43JZ coronary
vein for the left ventricle; K for a defibrillator lead). The composer (:mod:`medcode.codesets.pcs`) proposes the
best single procedure of a sentence, so one of these went missing ("generator in a left chest pocket, leads to
the RA and RV" gave only 0JH606Z). The device key is the table's own (Device Key of the PCS definitions).
"""

from __future__ import annotations

import re

#: An implantation (not a removal, a revision or a check of a device already there).
_IMPLANT = re.compile(r"\b(?:implant\w*|insert\w*|placement|placed|new|pocket|leads?\s+(?:to|into|in)|generator\s+in)\b",
                     re.IGNORECASE)
_NOT_IMPLANT = re.compile(r"\b(?:interrogat\w*|check|remov\w*|explant\w*|revis\w*|extract\w*|battery\s+change|"
                          r"generator\s+change|replacement\s+of\s+the\s+generator|status|history|s/p)\b", re.IGNORECASE)
_DEFIBRILLATOR = re.compile(r"\b(?:defibrillator|AICD|ICD|CRT-?D)\b")
_PACEMAKER = re.compile(r"\b(?:pacemaker|PPM|CRT-?P|VVIR?|AAIR?|DDDR?)\b", re.IGNORECASE)
_RESYNCHRONIZATION = re.compile(r"\b(?:biventricular|resynchroni\w+|CRT(?:-?[PD])?)\b", re.IGNORECASE)
_DUAL = re.compile(r"\b(?:dual[- ]chamber|DDDR?)\b", re.IGNORECASE)
_RATE_RESPONSIVE = re.compile(r"\b(?:rate[- ]responsive|rate[- ]adaptive|VVIR|AAIR)\b", re.IGNORECASE)
_DEVICE_CUES = ("pacemaker", "defibrillator", "icd", "ppm", "crt", "vvi", "aai", "ddd")
#: Leads by heart chamber (the PCS body part of the lead's Insertion).
_LEADS = (("6", re.compile(r"\b(?:right\s+atri(?:um|al)|RA|atrial\s+lead|AAIR?)\b")),
          ("K", re.compile(r"\b(?:right\s+ventric\w*|RV|ventricular\s+lead|VVIR?)\b")),
          ("4", re.compile(r"\b(?:coronary\s+sinus|coronary\s+vein|left\s+ventric\w*|LV)\b")))


def cardiac_device_codes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, ICD-10-PCS code)`` of a pacemaker's or defibrillator's generator and leads implanted."""
    low = text.lower()
    if not any(w in low for w in _DEVICE_CUES):
        return []  # most notes (a substring test is ~100 times cheaper than the expressions)
    device = _DEFIBRILLATOR.search(text) or _PACEMAKER.search(text)
    if not device or not _IMPLANT.search(text) or _NOT_IMPLANT.search(text):
        return []
    defibrillator = bool(_DEFIBRILLATOR.search(text))
    resync = bool(_RESYNCHRONIZATION.search(text))
    dual = bool(_DUAL.search(text)) or resync
    if defibrillator:
        generator = "9" if resync else "8"
    else:
        generator = "7" if resync else "6" if dual else "5" if _RATE_RESPONSIVE.search(text) else "4"
    out = [(device.start(), device.end(), f"0JH60{generator}Z")]
    lead = "K" if defibrillator else "J"
    for chamber, pattern in _LEADS:
        if m := pattern.search(text):
            out.append((m.start(), m.end(), f"02H{chamber}3{lead}Z"))
    return out
