"""Train, save, load and apply a medcode model.

A model is a folder (fixed names, see :mod:`pipeline.about`)::

    meta.json       versions, code-set releases, training-data hash, config, metrics, file hashes
    MODEL_CARD.md   the same for people
    nlp/            the spaCy pipeline (tokenizer, sentences, mentions with their lexicon, context)
    model.json      settings and small tables of the note model (TF-IDF vocabularies, priors, link
                    statistics) and of the calibrated rankers
    model.npz       their arrays: training-note vectors, ridge weights, tree nodes, calibration
    codes.tsv.gz    code, system, billable, title of every code the model can suggest
    queries.json.gz the question to ask the physician for each unspecified or header code
    excludes1.json.gz  the ICD-10-CM Excludes1 notes, to flag codes that cannot be reported together

Nothing is pickled: arrays load with ``allow_pickle=False`` and everything else is JSON, so a model
file cannot run code. Loading still checks every file against the SHA-256 in ``meta.json`` first and
refuses a mismatch, so a corrupted or edited file is named instead of half-loaded.
"""

from __future__ import annotations

import bisect
import gc
import gzip
import hashlib
import json
import logging
import platform
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from spacy.attrs import IDX, LENGTH, SENT_START
import scipy.sparse as sp
from sklearn.model_selection import KFold

from pipeline.about import (ARRAYS_FILE, CM, CODES_FILE, META_FILE, MODEL_CARD_FILE, MODEL_FORMAT, NLP_DIR, PCS,
                            EXCLUDES1_FILE, QUERIES_FILE, RELEASE, STATE_FILE, SYSTEMS, __version__)
from pipeline.candidates import DEMOTION_FACTOR, FEATURES, Candidate, CodeTable, Mention, NoteModel, candidate_features, mark_dominated
from pipeline.components.context import STATUS_KEY
from pipeline.components.mentions import HITS_KEY, CodeHit, window_keys
from pipeline.corpus import Note, corpus_hash
from pipeline.kb import MAX_ALIAS_WORDS, Excludes1Index, KnowledgeBase
from pipeline.nlp import build_nlp, load_nlp, save_nlp
from pipeline.ranker import CalibratedRanker
from pipeline.textnorm import content_words
from pipeline.validate import billable_descendants, seventh_completions, specificity_query

logger = logging.getLogger(__name__)

#: Suggestions per note and code system that ``medcode predict`` writes, and that ``medcode evaluate``
#: scores, so an audit measures exactly what coders are shown.
DEFAULT_TOP_K = 30

#: Libraries whose versions a model records and checks on load.
LIBRARIES = ("medcode", "spacy", "scispacy", "scikit-learn", "numpy", "scipy", "simple-icd-10-cm")
#: A key linking to more codes than this is too ambiguous to be worth a candidate each.
MAX_CODES_PER_ALIAS = 25


class ModelError(RuntimeError):
    """A model folder cannot be used (missing, tampered with, or incompatible)."""


@dataclass
class TrainConfig:
    """Hyper-parameters of training. The defaults were chosen on CodiEsp dev with models trained on train.

    Attributes:
        seed: random state of the folds and the ranker.
        folds: out-of-fold folds for the ranker's training candidates (and its calibration).
        ridge_alpha: regularisation of the note-level ridge classifier.
        knn_k: neighbours that vote.
        ridge_candidates: top classifier codes that become candidates.
        max_candidates: cap on candidates per note and code system.
        learned_max_words: longest window (content words) learned as an alias.
        learned_min_count: notes a learned alias must share with its code.
        learned_min_precision: share of the alias's notes that must carry the code.
        learned_min_lift: how many times the code's base rate that share must be.
        ranker_iter: boosting rounds.
        ranker_learning_rate: boosting shrinkage.
        ranker_leaves: leaves per tree.
    """

    seed: int = 0
    folds: int = 5
    ridge_alpha: float = 0.1
    knn_k: int = 10
    ridge_candidates: int = 40
    max_candidates: int = 300
    learned_max_words: int = 3
    learned_min_count: int = 2
    learned_min_precision: float = 0.3
    learned_min_lift: float = 3.0
    ranker_iter: int = 400
    ranker_learning_rate: float = 0.04
    ranker_leaves: int = 15

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        defaults = cls()
        return cls(**{k: type(getattr(defaults, k))(v) for k, v in values.items()})


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = __version__ if name == "medcode" else "missing"
    return versions


def kb_lexicon(kb: KnowledgeBase, max_words: int = MAX_ALIAS_WORDS) -> dict[str, list[tuple]]:
    """Alias lexicon from the code sets: ``{key: [(code, system, source, 1.0), ...]}``."""
    from pipeline.textnorm import alias_key, content_words

    title_keys = {}
    for code, entry in kb.code_to_entry.items():
        title_keys[code] = {alias_key(content_words(a)) for a in entry.aliases[:2]}
    lexicon = {}
    for key, codes in kb.alias_to_codes.items():
        if not key or key.count(" ") >= max_words:
            continue
        if len(codes) > MAX_CODES_PER_ALIAS:
            # Keep the headers a long list shares: "CT scan of chest" names BW24, not its 30 children.
            codes = {c for c in codes if not kb.code_to_entry[c].billable}
            if not codes or len(codes) > MAX_CODES_PER_ALIAS:
                continue
        hits = [(c, kb.code_to_entry[c].system, "title" if key in title_keys[c] else "alias", 1.0)
                for c in sorted(codes)]
        named = set(codes)
        for code in sorted(codes):
            entry = kb.code_to_entry[code]
            if entry.system == CM and not entry.billable:
                hits += [(c, CM, "alias", 1.0) for c in kb.default_children(code) if c not in named]
        lexicon[key] = hits
    return lexicon


def learn_aliases(note_keys: list[set[str]], gold: list[dict[str, list[str]]], config: TrainConfig) -> dict:
    """Aliases the training notes teach: windows that predict a code well.

    A window key becomes an alias of a code when at least ``learned_min_count`` notes have both, the
    code is on at least ``learned_min_precision`` of the notes with the key, and that is
    ``learned_min_lift`` times the code's base rate. The weight is that precision.
    """
    df: dict[str, int] = {}
    for keys in note_keys:
        for key in keys:
            df[key] = df.get(key, 0) + 1
    vocab = {k: i for i, k in enumerate(sorted(k for k, n in df.items() if n >= config.learned_min_count
                                               and not k.replace(" ", "").isdigit() and len(k) > 2))}
    rows = [i for i, keys in enumerate(note_keys) for k in keys if k in vocab]
    cols = [vocab[k] for keys in note_keys for k in keys if k in vocab]
    key_matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(note_keys), len(vocab)))
    key_df = np.asarray(key_matrix.sum(axis=0)).ravel()
    keys = sorted(vocab, key=vocab.get)
    learned: dict[str, list[tuple]] = {}
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


def merge_lexicons(*lexicons: dict) -> dict:
    """Union of lexicons, key by key."""
    merged: dict[str, list] = {}
    for lexicon in lexicons:
        for key, hits in lexicon.items():
            merged.setdefault(key, []).extend(hits)
    return merged


def doc_mentions(doc) -> list[Mention]:
    """The mentions of a processed doc as plain :class:`Mention` records."""
    hits_at = doc.user_data.get(HITS_KEY, {})
    if not hits_at:
        return []
    status_at = doc.user_data.get(STATUS_KEY, {})
    # Character offsets and sentence starts from one array: Span and Token objects are slow.
    rows = doc.to_array([IDX, LENGTH, SENT_START])
    sent_starts = np.flatnonzero(rows[:, 2] == 1).tolist() or [0]
    offsets = rows[:, :2].tolist()
    text = doc.text  # built anew on every access: read it once
    no_status: frozenset[str] = frozenset()
    mentions = []
    for (start, end), (key, hits) in hits_at.items():
        start_char = offsets[start][0]
        end_char = offsets[end - 1][0] + offsets[end - 1][1]
        flags = frozenset(status_at[(start, end)]) if (start, end) in status_at else no_status
        sentence = bisect.bisect_right(sent_starts, start) - 1
        for system in SYSTEMS:
            # Hits come back as plain lists from a serialised doc.
            mine = tuple(h if isinstance(h, CodeHit) else CodeHit(*h) for h in hits if h[1] == system)
            if mine:
                mentions.append(Mention(start_char, end_char, text[start_char:end_char], end - start,
                                        sentence, system, mine, flags, key))
    mark_dominated(mentions)
    return mentions


class Medcoder:
    """A trained model: the spaCy pipeline, the note model and one calibrated ranker per system."""

    def __init__(self, nlp, note_model: NoteModel, rankers: dict[str, CalibratedRanker],
                 codes: dict[str, tuple[str, bool, str]], config: TrainConfig, meta: dict | None = None,
                 queries: dict | Path | None = None, excludes1: Excludes1Index | Path | None = None):
        self.nlp = nlp
        self.note_model = note_model
        self.rankers = rankers
        self.codes = codes
        self.config = config
        self.meta = meta or {}
        self._code_info = CodeTable(codes.get)
        # A dict, or the file to read it from when first needed (most predictions need few queries,
        # and model load time matters more).
        self._queries = queries if queries is not None else {}
        self._excludes1 = excludes1 if excludes1 is not None else Excludes1Index({}, {})

    @property
    def queries(self) -> dict:
        """``{code: specificity query}`` for the unspecified and header codes the model can suggest."""
        if isinstance(self._queries, Path):
            self._queries = _read_json_gz(self._queries)
        return self._queries

    @property
    def excludes1(self) -> Excludes1Index:
        """The ICD-10-CM Excludes1 notes of the release the model was built with."""
        if isinstance(self._excludes1, Path):
            self._excludes1 = Excludes1Index.from_dict(_read_json_gz(self._excludes1))
        return self._excludes1

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, notes: list[Note], config: TrainConfig | None = None,
              progress: Callable[[str], None] | None = None, kb: KnowledgeBase | None = None) -> "Medcoder":
        """Train on coded notes.

        The ranker learns from out-of-fold candidates: for each of ``config.folds`` folds the note
        model and the learned aliases are fitted without the fold's notes, then the fold's candidates
        are generated and labelled. The final note model and aliases are then fitted on all notes.

        Args:
            notes: training notes with gold codes.
            config: hyper-parameters.
            progress: called with a short message at each stage.
            kb: the code sets (the full FY2026 knowledge base when ``None``; tests pass a tiny one).

        Returns:
            The trained model (its ``meta`` holds candidate recall and calibration on the training
            notes' out-of-fold candidates).
        """
        config = config or TrainConfig()
        say = progress or (lambda message: logger.info(message))
        if len(notes) < max(config.folds, 2):
            raise ValueError(f"training needs at least {max(config.folds, 2)} coded notes, got {len(notes)}")
        say("loading code sets")
        kb = kb or KnowledgeBase.load()
        base_lexicon = kb_lexicon(kb)
        nlp = build_nlp()
        texts = [n.text for n in notes]
        gold = [n.codes for n in notes]
        say(f"tokenizing {len(notes)} notes")
        docs = list(nlp.pipe(texts, disable=["medcode_mentions", "medcode_context"]))
        note_keys = [window_keys(d, config.learned_max_words) for d in docs]
        matcher, context = nlp.get_pipe("medcode_mentions"), nlp.get_pipe("medcode_context")
        # Code-set links are the same in every fold: find them once, to learn how often each one
        # names a gold code.
        matcher.set_lexicon(base_lexicon)
        base_mentions = [doc_mentions(context(matcher(d))) for d in docs]

        code_info = CodeTable(lambda c: (e.system, e.billable, e.title) if (e := kb.get(c)) else None)
        words = [frozenset(content_words(t)) for t in texts]
        rows: dict[str, list] = {s: [] for s in SYSTEMS}
        recall = {s: [0, 0] for s in SYSTEMS}
        folds = KFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
        for fold, (train_idx, test_idx) in enumerate(folds.split(texts), start=1):
            say(f"fold {fold}/{config.folds}: fitting on {len(train_idx)} notes, candidates for {len(test_idx)}")
            note_model = NoteModel(config.ridge_alpha, config.knn_k).fit([texts[i] for i in train_idx],
                                                                         [gold[i] for i in train_idx])
            note_model.fit_link_stats([base_mentions[i] for i in train_idx], [gold[i] for i in train_idx])
            learned = learn_aliases([note_keys[i] for i in train_idx], [gold[i] for i in train_idx], config)
            matcher.set_lexicon(merge_lexicons(base_lexicon, learned))
            ridge, knn = note_model.signals([texts[i] for i in test_idx])
            for k, i in enumerate(test_idx):
                mentions = doc_mentions(context(matcher(docs[i])))
                for s in SYSTEMS:
                    cands, features = candidate_features(s, ridge[s][k], knn[s][k], mentions, note_model, code_info,
                                                         len(texts[i]), words[i], config.ridge_candidates,
                                                         config.max_candidates)
                    truth = set(gold[i].get(s, []))
                    recall[s][0] += len(truth & {c.code for c in cands})
                    recall[s][1] += len(truth)
                    rows[s].append((np.full(len(cands), i), features,
                                    np.array([c.code in truth for c in cands], dtype=np.int8)))

        rankers, training_report = {}, {}
        for s in SYSTEMS:
            groups = np.concatenate([r[0] for r in rows[s]])
            x = np.concatenate([r[1] for r in rows[s]])
            y = np.concatenate([r[2] for r in rows[s]])
            say(f"training the {s} ranker on {len(y)} out-of-fold candidates")
            rankers[s] = CalibratedRanker(config.ranker_iter, config.ranker_learning_rate, config.ranker_leaves,
                                          config.seed).fit(x, y, groups, folds=config.folds)
            training_report[s] = {
                "candidate_recall_oof": recall[s][0] / max(recall[s][1], 1),
                "candidates_per_note": len(y) / len(notes),
                # The reliability of the scores the calibrator was fitted on (so near-perfect by
                # construction); held-out calibration comes from `medcode evaluate`.
                "calibration_fit": rankers[s].reliability,
            }

        say("fitting the final note model and aliases on all notes")
        note_model = NoteModel(config.ridge_alpha, config.knn_k).fit(texts, gold)
        note_model.fit_link_stats(base_mentions, gold)
        learned = learn_aliases(note_keys, gold, config)
        lexicon = merge_lexicons(base_lexicon, learned)
        matcher.set_lexicon(lexicon)
        codes = {}
        for s in SYSTEMS:
            for code in note_model.labels[s]:
                entry = kb.get(code)
                codes[code] = (s, entry.billable if entry else False, entry.title if entry else "")
        for hits in lexicon.values():
            for code, system, _, _ in hits:
                if code not in codes:
                    entry = kb.get(code)
                    codes[code] = (system, entry.billable, entry.title)
        say("writing specificity queries for unspecified and header codes")
        queries = {}
        for code, (system, billable, title) in codes.items():
            if system == CM and (not billable or "unspecified" in title.lower()):
                query = specificity_query(code, kb)
                if query:
                    queries[code] = query
        meta = {
            "release_mapping": release_mapping(note_model.labels[CM], kb),
            "training": {"notes": len(notes), "data_sha256": corpus_hash(notes),
                         "note_fingerprints": sorted(note_fingerprint(t) for t in texts),
                         "learned_aliases": sum(len(v) for v in learned.values()), **{"report": training_report}},
        }
        return cls(nlp, note_model, rankers, codes, config, meta, queries, kb.excludes1)

    # ---------------------------------------------------------------- prediction
    def rank(self, texts: list[str], depth: int = 100, n_process: int = 1) -> list[dict[str, list[dict]]]:
        """Rank candidate codes for each text.

        Args:
            texts: note texts.
            depth: how many codes per system to keep (and, after them, up to as many demoted ones).
            n_process: processes for the spaCy pipeline.

        Returns:
            One ``{system: [suggestion, ...]}`` per text, best first; a suggestion is a dict with
            ``code``, ``system``, ``score``, ``description``, ``evidence`` and ``source``.
        """
        if not texts:
            return []
        with _cyclic_gc_paused():
            return self._rank(texts, depth, n_process)

    def _rank(self, texts: list[str], depth: int, n_process: int) -> list[dict[str, list[dict]]]:
        docs = self.nlp.pipe(texts, batch_size=64, n_process=n_process)
        mentions = [doc_mentions(d) for d in docs]
        ridge, knn = self.note_model.signals(texts)
        words = [frozenset(content_words(t)) for t in texts]
        results: list[dict[str, list[dict]]] = [{} for _ in texts]
        for s in SYSTEMS:
            found = [candidate_features(s, ridge[s][i], knn[s][i], mentions[i], self.note_model, self._code_info,
                                        len(texts[i]), words[i], self.config.ridge_candidates,
                                        self.config.max_candidates)
                     for i in range(len(texts))]
            per_note = [cands for cands, _ in found]
            x = np.concatenate([features for _, features in found])
            raw = self.rankers[s].raw(x)
            score = self.rankers[s].score(raw)
            demoted = np.array([c.demoted is not None for cands in per_note for c in cands], dtype=bool)
            raw[demoted] *= DEMOTION_FACTOR
            score[demoted] *= DEMOTION_FACTOR
            offset = 0
            for i, cands in enumerate(per_note):
                n = len(cands)
                # Demoted candidates go after the others, whatever their score, and do not take
                # their places: up to `depth` of each.
                order = np.argsort(-raw[offset:offset + n], kind="stable")
                flags = demoted[offset:offset + n][order]
                order = np.concatenate([order[~flags][:depth], order[flags][:depth]])
                results[i][s] = [self._suggestion(cands[j], s, float(score[offset + j])) for j in order]
                offset += n
        return results

    def _suggestion(self, cand: Candidate, system: str, score: float) -> dict:
        known = cand.code in self.codes and bool(self.codes[cand.code][2])
        _, billable, title = self.codes.get(cand.code, (system, False, ""))
        warning = None
        if not known:
            warning = f"not a code in {RELEASE[system]}: the training corpus uses it; validate before reporting"
        elif not billable:
            warning = "header or partial code: not billable as it stands"
        query = self.queries.get(cand.code) if system == CM else None
        current = self.meta.get("release_mapping", {}).get("mapped", {}).get(cand.code)
        return {
            "code": cand.code,
            "system": system,
            "score": round(score, 4),
            "description": title or "(not in this release)",
            "billable": billable,
            **({"warning": warning} if warning else {}),
            **({"current_code": current} if current else {}),
            **({"query": query} if query else {}),
            "evidence": [{"start": m.start, "end": m.end, "text": m.text, **({"status": sorted(m.status)} if m.status else {})}
                         for m in cand.evidence],
            "source": cand.source,
            **({"demoted": cand.demoted} if cand.demoted else {}),
        }

    def predict(self, notes: Iterable[Note], top_k: int = DEFAULT_TOP_K, n_process: int = 1) -> list[dict]:
        """Suggestions for notes, in the output format of ``medcode predict`` (one dict per note).

        ``top_k`` applies per code system; the list is merged and ordered by score. Codes whose
        every mention is negated or about a relative are not suggested: they are listed under
        ``excluded`` with the reason, so a coder sees what was set aside and why.
        """
        notes = list(notes)
        ranked = self.rank([n.text for n in notes], depth=top_k, n_process=n_process)
        out = []
        for note, by_system in zip(notes, ranked):
            merged = [sug for s in SYSTEMS for sug in by_system.get(s, [])]
            merged.sort(key=lambda sug: -sug["score"])
            suggestions = [sug for sug in merged if "demoted" not in sug]
            out.append({"id": note.id,
                         "suggestions": suggestions,
                         "excluded": [sug for sug in merged if "demoted" in sug],
                         "conflicts": self._mark_conflicts(suggestions),
                         "release": RELEASE})
        return out

    def _mark_conflicts(self, suggestions: list[dict]) -> list[dict]:
        """Excludes1 pairs among the suggested diagnoses.

        Each suggestion in a pair gets ``excludes1``: the codes it cannot be reported with. The
        pair stays in the list: which one the note supports is the coder's call, and the scores
        say which the model prefers.
        """
        cm = [sug["code"] for sug in suggestions if sug["system"] == CM]
        conflicts = self.excludes1.conflicts(cm)
        partners: dict[str, list[str]] = {}
        for conflict in conflicts:
            a, b = conflict["codes"]
            partners.setdefault(a, []).append(b)
            partners.setdefault(b, []).append(a)
        for sug in suggestions:
            if sug["code"] in partners and sug["system"] == CM:
                sug["excludes1"] = sorted(set(partners[sug["code"]]))
        return conflicts

    # ------------------------------------------------------------------- storage
    def save(self, path: str | Path, extra_meta: dict | None = None) -> Path:
        """Write the model folder (see the module docstring) and its manifest of hashes.

        The folder is written beside its destination and moved into place at the end, so an
        interrupted save leaves the previous model whole, and files of an older format do not
        linger in the new folder.

        Raises:
            ModelError: when ``path`` exists and is not a model folder (it is never overwritten).
        """
        final = Path(path)
        if final.exists() and any(final.iterdir()) and not (final / META_FILE).exists():
            raise ModelError(f"{final}: exists and is not a medcode model folder; choose another --output")
        final.parent.mkdir(parents=True, exist_ok=True)
        path = final.with_name(f".{final.name}.partial")
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        self._write(path, final.name, extra_meta)
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            path.rename(final)
            shutil.rmtree(old)
        else:
            path.rename(final)
        return final

    def _write(self, path: Path, name: str, extra_meta: dict | None) -> None:
        save_nlp(self.nlp, path / NLP_DIR)
        note_values, arrays = self.note_model.get_state()
        ranker_values = {}
        for i, s in enumerate(SYSTEMS):
            ranker_values[s], ranker_arrays = self.rankers[s].get_state(f"ranker_{i}")
            arrays.update(ranker_arrays)
        state = {"config": asdict(self.config), "note_model": note_values, "rankers": ranker_values}
        (path / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        with (path / ARRAYS_FILE).open("wb") as handle:
            np.savez(handle, **arrays)
        # Plain tab-separated lines (titles hold no tabs or newlines), parsed with split on load.
        table = "".join(f"{code}\t{system}\t{int(billable)}\t{title}\n"
                        for code, (system, billable, title) in sorted(self.codes.items()))
        (path / CODES_FILE).write_bytes(gzip.compress(table.encode("utf-8"), mtime=0))
        _write_json_gz(path / QUERIES_FILE, self.queries)
        _write_json_gz(path / EXCLUDES1_FILE, self.excludes1.to_dict())
        meta = {
            "name": name,
            "medcode_version": __version__,
            "model_format": MODEL_FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "releases": RELEASE,
            "libraries": library_versions(),
            "config": asdict(self.config),
            "features": list(FEATURES),
            "labels": {s: len(self.note_model.labels[s]) for s in SYSTEMS},
            "lexicon_keys": len(self.nlp.get_pipe("medcode_mentions")),
            **self.meta,
            **(extra_meta or {}),
        }
        meta["manifest"] = manifest(path)
        (path / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (path / MODEL_CARD_FILE).write_text(model_card(meta), encoding="utf-8")
        self.meta = meta

    @classmethod
    def load(cls, path: str | Path) -> "Medcoder":
        """Load a model folder after checking every file against its manifest.

        Raises:
            ModelError: when the folder is missing, a file is missing or altered, or it was made
                for another code-set release.
        """
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.exists():
            raise ModelError(f"{path}: not a medcode model folder (no {META_FILE}); "
                             "run `make setup` or `medcode train` to build one")
        meta = json.loads(meta_path.read_text("utf-8"))
        if meta.get("model_format") != MODEL_FORMAT:
            raise ModelError(f"{path}: model format {meta.get('model_format')} is not this medcode's format "
                             f"{MODEL_FORMAT}; retrain it (`make setup` rebuilds the default model)")
        verify_manifest(path, meta.get("manifest", {}))
        if meta.get("releases") != RELEASE:
            logger.warning("model %s was built for %s; this medcode uses %s", path, meta.get("releases"), RELEASE)
        installed = library_versions()
        for lib, version in meta.get("libraries", {}).items():
            if installed.get(lib) != version and lib != "python":
                logger.warning("model %s was built with %s %s; %s is installed", path, lib, version,
                               installed.get(lib))
        state = json.loads((path / STATE_FILE).read_text("utf-8"))
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = dict(stored)
        note_model = NoteModel.from_state(state["note_model"], arrays)
        rankers = {s: CalibratedRanker.from_state(state["rankers"][s], arrays, f"ranker_{i}")
                   for i, s in enumerate(SYSTEMS)}
        nlp = load_nlp(path / NLP_DIR)
        codes = {}
        for line in gzip.decompress((path / CODES_FILE).read_bytes()).decode("utf-8").splitlines():
            code, system, billable, title = line.split("\t", 3)
            codes[code] = (system, billable == "1", title)
        config = TrainConfig(**state["config"])
        return cls(nlp, note_model, rankers, codes, config, meta, path / QUERIES_FILE,
                   path / EXCLUDES1_FILE)


def release_mapping(labels: Iterable[str], kb: KnowledgeBase) -> dict:
    """Map training codes the release cannot report to a current billable code, where unambiguous.

    A header with one billable code under it, or with exactly one "unspecified" child, maps to it; a code
    that lacks its 7th character or is not in the release is left as it is, counted and listed.
    """
    mapped, unmapped = {}, {}
    for code in labels:
        entry = kb.get(code)
        if entry and entry.billable:
            continue
        if entry is None:
            unmapped[code] = "needs a 7th character" if seventh_completions(code, kb) else "not in the release"
            continue
        children = billable_descendants(code, kb)
        defaults = [c for c in kb.default_children(code, limit=10)
                    if kb.get(c).parent == code and "unspecified" in kb.title(c).lower()]
        if len(children) == 1:
            mapped[code] = children[0]
        elif len(defaults) == 1:
            mapped[code] = defaults[0]
        else:
            unmapped[code] = f"header with {len(children)} billable codes"
    return {"release": RELEASE[CM], "mapped": mapped, "unmapped": unmapped,
            "counts": {"mapped": len(mapped), "unmapped": len(unmapped)}}


@contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for one batch.

    Scoring allocates millions of small objects; each allocation burst triggered full collections
    that walked the model's hundreds of thousands of container objects, a fifth of prediction time.
    Almost nothing a batch makes is cyclic, and what is gets collected when the pause ends, so
    memory stays bounded by the batch.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_json_gz(path: Path):
    return json.loads(gzip.decompress(path.read_bytes()))


def _write_json_gz(path: Path, value) -> None:
    # mtime=0: the same content gives the same bytes, so manifests of retrained models compare.
    path.write_bytes(gzip.compress(json.dumps(value, sort_keys=True).encode("utf-8"), mtime=0))


def note_fingerprint(text: str) -> str:
    """Short hash of a note's text: lets evaluation spot notes the model was trained on (no PHI kept)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a model folder except ``meta.json`` and the model card."""
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (META_FILE, MODEL_CARD_FILE)}


def verify_manifest(folder: Path, expected: dict[str, str]) -> None:
    """Refuse a model folder whose files differ from its manifest (before anything in it is read)."""
    if not expected:
        raise ModelError(f"{folder}: {META_FILE} has no manifest of file hashes; refusing to load")
    actual = manifest(folder)
    for name, digest in expected.items():
        if name not in actual:
            raise ModelError(f"{folder / name}: file listed in the manifest is missing")
        if actual[name] != digest:
            raise ModelError(f"{folder / name}: SHA-256 does not match the manifest; the file was altered")
    extra = set(actual) - set(expected)
    if extra:
        raise ModelError(f"{folder}: files not in the manifest: {', '.join(sorted(extra))}")


def model_card(meta: dict) -> str:
    """Render ``meta.json`` as a short Markdown model card."""
    lines = [f"# medcode model `{meta.get('name')}`", "",
             f"- medcode {meta['medcode_version']}, created {meta['created']}",
             f"- Code sets: {meta['releases'][CM]}; {meta['releases'][PCS]}"]
    training = meta.get("training", {})
    if training:
        lines.append(f"- Trained on {training.get('notes')} notes ({training.get('corpus', 'corpus')}), "
                     f"data SHA-256 `{training.get('data_sha256', '')[:16]}…`")
    lines += ["", "## Libraries", ""] + [f"- {k} {v}" for k, v in meta["libraries"].items()]
    lines += ["", "## Config", "", "```json", json.dumps(meta["config"], indent=1), "```"]
    for title, key in (("Metrics", "metrics"),):
        if meta.get(key):
            lines += ["", f"## {title}", "", "```json", json.dumps(meta[key], indent=1), "```"]
    mapping = meta.get("release_mapping", {}).get("counts")
    if mapping:
        lines += ["", "## Codes the release cannot report as trained", "",
                  f"- {mapping['mapped']} training codes mapped to a current billable code (suggestions carry "
                  f"`current_code`); {mapping['unmapped']} left as they are (listed in meta.json)"]
    report = training.get("report", {})
    if report:
        lines += ["", "## Training report (out-of-fold candidates of the training notes)", ""]
        for system, r in report.items():
            lines.append(f"- {system}: candidate recall {r['candidate_recall_oof']:.3f}, "
                         f"{r['candidates_per_note']:.0f} candidates per note")
    return "\n".join(lines) + "\n"
