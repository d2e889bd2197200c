"""The alias lexicon the mention matcher looks windows up in.

Two sources, merged key by key:

* :func:`kb_lexicon`: the code sets' titles, inclusion terms and index-style short forms;
* :func:`learn_aliases`: windows of the training notes that predict a code well.

A lexicon is ``{alias key: [(code, system, source, weight), ...]}`` (see :mod:`medcode.nlp.matcher`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from medcode.about import CM, MAX_ALIAS_WORDS, SYSTEMS
from medcode.codesets.kb import KnowledgeBase
from medcode.config import TrainConfig
from medcode.textnorm import alias_key, content_words

#: A key linking to more codes than this is too ambiguous to be worth a candidate each.
MAX_CODES_PER_ALIAS = 25

Lexicon = dict[str, list[tuple[str, str, str, float]]]


def kb_lexicon(kb: KnowledgeBase, max_words: int = MAX_ALIAS_WORDS) -> Lexicon:
    """Alias lexicon from the code sets: ``{key: [(code, system, source, 1.0), ...]}``.

    ``source`` is ``title`` when the key is the code's title (or its index-style short form), else
    ``alias``. An ICD-10-CM header brings along its default ("unspecified") billable codes.
    """
    title_keys = {key: {alias_key(content_words(a)) for a in entry.aliases[:2]}
                  for key, entry in kb.code_to_entry.items()}
    lexicon = {}
    for key, codes in kb.alias_to_codes.items():
        if not key or key.count(" ") >= max_words:
            continue
        if len(codes) > MAX_CODES_PER_ALIAS:
            # Keep the headers a long list shares: "CT scan of chest" names BW24, not its 30 children.
            codes = {c for c in codes if not kb.code_to_entry[c].billable}
            if not codes or len(codes) > MAX_CODES_PER_ALIAS:
                continue
        # In code order (then system), so that the lexicon, and everything ordered by it, is stable.
        named = sorted(codes, key=lambda k: (k[1], k[0]))
        hits = [(code, system, "title" if key in title_keys[(system, code)] else "alias", 1.0)
                for system, code in named]
        for system, code in named:
            if system == CM and not kb.code_to_entry[(system, code)].billable:
                hits += [(c, CM, "alias", 1.0) for c in kb.default_children(code) if (CM, c) not in codes]
        lexicon[key] = hits
    return lexicon


def learn_aliases(note_keys: list[set[str]], gold: list[dict[str, list[str]]], config: TrainConfig,
                  clinical_words: set[str] | None = None) -> Lexicon:
    """Aliases the training notes teach: windows that predict a code well.

    A window key becomes an alias of a code when at least ``learned_min_count`` notes have both, the
    code is on at least ``learned_min_precision`` of the notes with the key, and that is
    ``learned_min_lift`` times the code's base rate. The weight is that precision.

    With ``clinical_words`` (the words of the code sets' aliases), a key must hold at least one of
    them: "denies", "patient" or an untranslated fragment correlates with codes in a corpus but names
    no condition, so it must never become a mention or a coder's evidence.
    """
    df: dict[str, int] = {}
    for keys in note_keys:
        for key in keys:
            df[key] = df.get(key, 0) + 1
    def usable(key: str) -> bool:
        if key.replace(" ", "").isdigit() or len(key) <= 2:
            return False
        return clinical_words is None or not clinical_words.isdisjoint(key.split())

    vocab = {k: i for i, k in enumerate(sorted(k for k, n in df.items() if n >= config.learned_min_count and usable(k)))}
    rows = [i for i, keys in enumerate(note_keys) for k in keys if k in vocab]
    cols = [vocab[k] for keys in note_keys for k in keys if k in vocab]
    key_matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(note_keys), len(vocab)))
    key_df = np.asarray(key_matrix.sum(axis=0)).ravel()
    keys = sorted(vocab, key=vocab.get)
    learned: Lexicon = {}
    n_notes = max(len(note_keys), 1)
    for system in SYSTEMS:
        labels = sorted({c for g in gold for c in g.get(system, [])})
        index = {c: j for j, c in enumerate(labels)}
        r = [i for i, g in enumerate(gold) for _ in g.get(system, [])]
        c = [index[code] for g in gold for code in g.get(system, [])]
        y = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(gold), len(labels)))
        base = np.asarray(y.sum(axis=0)).ravel() / n_notes
        both = (key_matrix.T @ y).tocoo()
        for k, j, count in zip(both.row, both.col, both.data):
            precision = count / key_df[k]
            if (count >= config.learned_min_count and precision >= config.learned_min_precision
                    and precision >= config.learned_min_lift * base[j]):
                learned.setdefault(keys[k], []).append((labels[j], system, "learned", round(float(precision), 3)))
    return learned


def merge_lexicons(*lexicons: Lexicon) -> Lexicon:
    """Union of lexicons, key by key."""
    merged: Lexicon = {}
    for lexicon in lexicons:
        for key, hits in lexicon.items():
            merged.setdefault(key, []).extend(hits)
    return merged
