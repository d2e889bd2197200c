"""Training a model on coded notes.

The ranker learns from out-of-fold candidates: for each of ``config.folds`` folds the note model and
the learned aliases are fitted without the fold's notes, then the fold's candidates are generated and
labelled. The final note model and aliases are then fitted on all notes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from medcode.about import CM, PCS, SYSTEMS
from medcode.candidates import propose
from medcode.codesets.kb import KnowledgeBase
from medcode.codesets.queries import seventh_completions, specificity_query
from medcode.coding.index import CodeIndex
from medcode.config import TrainConfig
from medcode.corpus import corpus_hash, load_notes
from medcode.errors import InputError
from medcode.features import COLUMN, CodeTable, feature_matrix
from medcode.lexicon import kb_lexicon, learn_aliases, merge_lexicons
from medcode.manifest import note_fingerprint
from medcode.mentions import doc_mentions
from medcode.nlp import build_nlp
from medcode.nlp.matcher import window_keys
from medcode.notemodel import NoteModel
from medcode.notes import Note, parse_codes
from medcode.ranker import CalibratedRanker
from medcode.suggestions import Suggester
from medcode.textnorm import content_words

logger = logging.getLogger(__name__)

#: Called with a stage name, the steps done and the steps in all (for progress bars).
Progress = Callable[[str, int, int], None]


def _log_progress(stage: str, done: int, total: int) -> None:
    logger.info("%s (%d/%d)", stage, done, total)


@dataclass
class _Corpus:
    """What every fold reads: the notes, their docs and window keys, and the code-set links."""

    texts: list[str]
    gold: list[dict[str, list[str]]]
    docs: list
    note_keys: list[set[str]]
    base_mentions: list
    words: list[frozenset[str]]
    clinical_words: set[str] = field(default_factory=set)
    pcs_weights: list[float] = field(default_factory=list)
    unlinked_weights: list[float] = field(default_factory=list)
    rows: dict[str, list] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    recall: dict[str, list[int]] = field(default_factory=lambda: {s: [0, 0] for s in SYSTEMS})


def train_model(notes: list[Note], config: TrainConfig | None = None, progress: Progress | None = None,
                kb: KnowledgeBase | None = None, pcs_weights: list[float] | None = None,
                unlinked_weights: list[float] | None = None):
    """Train a :class:`medcode.Medcoder` on coded notes.

    Args:
        notes: training notes with gold codes.
        config: hyper-parameters (the defaults of :class:`TrainConfig` when ``None``).
        progress: called at each stage and fold with ``(stage, done, total)``.
        kb: the code sets (the full FY2026 knowledge base when ``None``; tests pass a tiny one).
        pcs_weights: per note, its weight in the ICD-10-PCS ranker (1 when ``None``).
        unlinked_weights: per note, the weight in the ICD-10-CM ranker of its candidates that no mention
            names (1 when ``None``).

    Returns:
        The trained model (its ``meta`` holds candidate recall and calibration on the training
        notes' out-of-fold candidates).

    Raises:
        InputError: with fewer coded notes than folds.
    """
    from medcode.coder import Medcoder

    config = config or TrainConfig()
    say = progress or _log_progress
    if len(notes) < max(config.folds, 2):
        raise InputError(f"training needs at least {max(config.folds, 2)} coded notes, got {len(notes)}")
    total = config.folds + 4
    say("loading code sets", 0, total)
    if kb is None:  # the release chosen by `train --release` / $MEDCODE_RELEASE, else the one in force today
        from medcode.codesets.releases import resolve_releases

        kb = KnowledgeBase.for_releases(resolve_releases())
    base_lexicon = kb_lexicon(kb)
    nlp = build_nlp(index=CodeIndex.build(kb))
    say(f"tokenizing {len(notes)} notes", 1, total)
    corpus = _prepare(nlp, notes, base_lexicon, config)
    corpus.pcs_weights = pcs_weights or [1.0] * len(notes)
    corpus.unlinked_weights = unlinked_weights or [1.0] * len(notes)
    code_info = CodeTable(lambda c, s: (e.billable, e.title) if (e := kb.get(c, s)) else None)
    folds = KFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for fold, (train_idx, test_idx) in enumerate(folds.split(corpus.texts), start=1):
        say(f"fold {fold}/{config.folds}: fitting on {len(train_idx)} notes, candidates for {len(test_idx)}",
            1 + fold, total)
        _fold_candidates(nlp, corpus, train_idx, test_idx, base_lexicon, code_info, config)
    say("training the rankers", config.folds + 2, total)
    rankers, report = _fit_rankers(corpus, config, len(notes))

    say("fitting the final note model and aliases on all notes", config.folds + 3, total)
    note_model = NoteModel(config.ridge_alpha, config.knn_k).fit(corpus.texts, corpus.gold)
    note_model.fit_link_stats(corpus.base_mentions, corpus.gold)
    learned = learn_aliases(corpus.note_keys, corpus.gold, config, corpus.clinical_words)
    lexicon = merge_lexicons(base_lexicon, learned)
    nlp.get_pipe("medcode_mentions").set_lexicon(lexicon)
    nlp.get_pipe("medcode_engine").remember = False
    codes = _code_table(note_model, lexicon, kb)
    meta = _model_meta(kb, note_model, notes, corpus, learned, report)
    suggester = Suggester(note_model, rankers, codes, config, meta, _queries(codes, kb), kb.excludes1)
    say("done", total, total)
    return Medcoder(nlp, suggester)


def _model_meta(kb: KnowledgeBase, note_model: NoteModel, notes: list[Note], corpus, learned: dict,
                report: dict) -> dict:
    """What a trained model records of its training: code-set releases, data hashes, the training report."""
    return {
        "releases": kb.release,  # the code-set release the model was trained with (its codes, titles, notes)
        **({"code_release": {s: r.record() for s, r in kb.releases.items()}} if kb.releases else {}),
        "release_mapping": release_mapping(note_model.labels[CM], kb),
        "training": {"notes": len(notes), "data_sha256": corpus_hash(notes),
                     "note_fingerprints": sorted(note_fingerprint(t) for t in corpus.texts),
                     "learned_aliases": sum(len(v) for v in learned.values()), "report": report},
    }


def _prepare(nlp, notes: list[Note], base_lexicon: dict, config: TrainConfig) -> _Corpus:
    """Tokenize once; find the code-set links once (they are the same in every fold)."""
    texts = [n.text for n in notes]
    docs = list(nlp.pipe(texts, disable=["medcode_mentions", "medcode_context", "medcode_engine"]))
    nlp.get_pipe("medcode_engine").remember = True  # the same docs pass once per fold
    # The code-set links are found once, to learn how often each one names a gold code.
    nlp.get_pipe("medcode_mentions").set_lexicon(base_lexicon)
    base_mentions = [doc_mentions(_annotate(nlp, d)) for d in docs]
    return _Corpus(texts, [n.codes for n in notes], docs, [window_keys(d, config.learned_max_words) for d in docs],
                   base_mentions, [frozenset(content_words(t)) for t in texts],
                   {w for key in base_lexicon for w in key.split()})


def _annotate(nlp, doc):
    """Mentions, their statuses and the engine's codes on a tokenized doc (the pipeline after sentences)."""
    for name in ("medcode_mentions", "medcode_context", "medcode_engine"):
        doc = nlp.get_pipe(name)(doc)
    return doc


def _fold_candidates(nlp, corpus: _Corpus, train_idx, test_idx, base_lexicon: dict, code_info: CodeTable,
                     config: TrainConfig) -> None:
    """Fit the note model and aliases without a fold's notes; label the fold's candidates."""
    note_model = NoteModel(config.ridge_alpha, config.knn_k).fit([corpus.texts[i] for i in train_idx],
                                                                 [corpus.gold[i] for i in train_idx])
    note_model.fit_link_stats([corpus.base_mentions[i] for i in train_idx], [corpus.gold[i] for i in train_idx])
    learned = learn_aliases([corpus.note_keys[i] for i in train_idx], [corpus.gold[i] for i in train_idx], config,
                            corpus.clinical_words)
    nlp.get_pipe("medcode_mentions").set_lexicon(merge_lexicons(base_lexicon, learned))
    ridge, knn = note_model.signals([corpus.texts[i] for i in test_idx])
    for k, i in enumerate(test_idx):
        mentions = doc_mentions(_annotate(nlp, corpus.docs[i]))
        for s in SYSTEMS:
            pool = propose(s, ridge[s][k], knn[s][k], mentions, note_model, config.ridge_candidates,
                           config.max_candidates)
            features = feature_matrix(pool, note_model, code_info, len(corpus.texts[i]), corpus.words[i])
            truth = set(corpus.gold[i].get(s, []))
            corpus.recall[s][0] += len(truth & set(pool.codes))
            corpus.recall[s][1] += len(truth)
            corpus.rows[s].append((np.full(len(pool.codes), i), features,
                                   np.array([c in truth for c in pool.codes], dtype=np.int8),
                                   row_weights(s, features, corpus.pcs_weights[i], corpus.unlinked_weights[i])))


def row_weights(system: str, features: np.ndarray, pcs_weight: float, unlinked_weight: float) -> np.ndarray:
    """Each candidate row's weight in its system's ranker.

    Args:
        system: the code system of the rows.
        features: the rows' feature matrix (its ``n_mentions`` column tells a linked code).
        pcs_weight: the note's weight in the ICD-10-PCS ranker (every row).
        unlinked_weight: in the ICD-10-CM ranker, the weight of the rows no mention names (see
            :class:`medcode.config.TrainConfig`'s ``also_unlinked_weight``).
    """
    if system == PCS:
        return np.full(len(features), pcs_weight)
    return np.where(features[:, COLUMN["n_mentions"]] > 0, 1.0, unlinked_weight)


def _fit_rankers(corpus: _Corpus, config: TrainConfig, n_notes: int) -> tuple[dict, dict]:
    rankers, report = {}, {}
    for s in SYSTEMS:
        groups = np.concatenate([r[0] for r in corpus.rows[s]])
        x = np.concatenate([r[1] for r in corpus.rows[s]])
        y = np.concatenate([r[2] for r in corpus.rows[s]])
        weights = np.concatenate([r[3] for r in corpus.rows[s]])
        logger.info("training the %s ranker on %d out-of-fold candidates", s, len(y))
        rankers[s] = CalibratedRanker.from_config(config).fit(
            x, y, groups, folds=config.folds, sample_weight=None if np.all(weights == 1.0) else weights)
        report[s] = {
            "candidate_recall_oof": corpus.recall[s][0] / max(corpus.recall[s][1], 1),
            "candidates_per_note": len(y) / n_notes,
            # The reliability of the scores the calibrator was fitted on (so near-perfect by
            # construction); held-out calibration comes from `medcode evaluate`.
            "calibration_fit": rankers[s].reliability,
        }
    return rankers, report


def _code_table(note_model: NoteModel, lexicon: dict, kb: KnowledgeBase) -> dict[tuple[str, str], tuple[bool, str]]:
    """``{(system, code): (billable, title)}`` of every code the model can suggest.

    That is every code of the release: the coding engine proposes any of them (a PCS code the composer
    builds, an ICD-10-CM code from the index or a table), and the ranker was trained reading the release's
    code facts (billable, title words) for them. With only the corpus's and the lexicon's codes in the table,
    a composed code the corpus never used read as "not in this release" at inference (no title, not
    billable) and ranked low: on the vignettes' tune-b quarter, PCS exact@5 0.84 with that table, 0.90 with
    the release's. Corpus codes the release lacks stay, with no title.
    """
    codes = {}
    for s in SYSTEMS:
        for code in note_model.labels[s]:
            entry = kb.get(code, s)
            codes[(s, code)] = (entry.billable, entry.title) if entry else (False, "")
    for hits in lexicon.values():
        for code, system, _, _ in hits:
            if (system, code) not in codes:
                entry = kb.get(code, system)
                codes[(system, code)] = (entry.billable, entry.title)
    for entry in kb.entries():
        codes.setdefault((entry.system, entry.code), (entry.billable, entry.title))
    return codes


def _queries(codes: dict, kb: KnowledgeBase) -> dict:
    """The physician query of every unspecified or header ICD-10-CM code the model can suggest."""
    queries = {}
    for (system, code), (billable, title) in codes.items():
        if system == CM and (not billable or "unspecified" in title.lower()):
            query = specificity_query(code, kb)
            if query:
                queries[code] = query
    return queries


def release_mapping(labels, kb: KnowledgeBase) -> dict:
    """Map training codes the release cannot report to a current billable code, where unambiguous.

    A header with one billable code under it, or with exactly one "unspecified" child, maps to it; a code
    that lacks its 7th character or is not in the release is left as it is, counted and listed.
    """
    mapped, unmapped = {}, {}
    for code in labels:
        entry = kb.get(code, CM)
        if entry and entry.billable:
            continue
        if entry is None:
            unmapped[code] = "needs a 7th character" if seventh_completions(code, kb) else "not in the release"
            continue
        children = kb.billable_descendants(code, CM)
        defaults = [c for c in kb.default_children(code, limit=10)
                    if kb.get(c, CM).parent == code and "unspecified" in kb.title(c, CM).lower()]
        if len(children) == 1:
            mapped[code] = children[0]
        elif len(defaults) == 1:
            mapped[code] = defaults[0]
        else:
            unmapped[code] = f"header with {len(children)} billable codes"
    return {"release": kb.release[CM], "mapped": mapped, "unmapped": unmapped,
            "counts": {"mapped": len(mapped), "unmapped": len(unmapped)}}


def apply_feedback(notes: list[Note], path: str | Path) -> dict:
    """Fold coder decisions into training notes (in place; new notes are appended).

    Each JSONL line: ``{"id", "accepted": [...], "rejected": [...], "added": [...], "text"?}``. A note's
    codes become its gold plus accepted and added codes, less rejected ones; a line for an unknown id
    with a ``text`` adds a new note coded with its accepted and added codes.

    Returns:
        Counts of what was applied.

    Raises:
        InputError: when the file cannot be read.
    """
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"--feedback {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--feedback {path}: cannot read it ({exc})") from None
    by_id = {n.id: n for n in notes}
    counts = {"notes_updated": 0, "notes_added": 0, "codes_added": 0, "codes_removed": 0, "lines_ignored": 0}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            keep = parse_codes(list(row.get("accepted", [])) + list(row.get("added", [])))
            drop = parse_codes(list(row.get("rejected", [])))
        except (ValueError, TypeError, AttributeError) as exc:
            logger.warning("feedback line %d ignored: %s", number, exc)
            counts["lines_ignored"] += 1
            continue
        note = by_id.get(str(row.get("id")))
        if note is None:
            if not isinstance(row.get("text"), str) or not row["text"].strip():
                counts["lines_ignored"] += 1
                continue
            note = Note(str(row["id"]), row["text"], {})
            notes.append(note)
            by_id[note.id] = note
            counts["notes_added"] += 1
        else:
            counts["notes_updated"] += 1
        _apply(note, keep, drop, counts)
    return counts


def _apply(note: Note, keep: dict, drop: dict, counts: dict) -> None:
    for system in SYSTEMS:
        codes = list(note.codes.get(system, []))
        for code in keep.get(system, []):
            if code not in codes:
                codes.append(code)
                counts["codes_added"] += 1
        for code in drop.get(system, []):
            if code in codes:
                codes.remove(code)
                counts["codes_removed"] += 1
        note.codes[system] = codes


def train_corpus(corpus: str | Path, output: str | Path, split: str | None = "train",
                 config: TrainConfig | None = None, eval_split: str | None = None,
                 progress: Progress | None = None, feedback: str | Path | None = None,
                 also: list[str | Path] = ()) -> dict:
    """Train a model on a corpus (plus coder feedback) and save it; optionally evaluate on a held-out split.

    ``also`` names more coded notes to train on (JSONL, CSV, or a folder), read whole.

    Returns:
        ``{"model", "notes", "skipped", "seconds", "feedback"?, "metrics"?}``.
    """
    from medcode.evaluation.run import evaluate_model, headline
    from medcode.storage import check_model_output

    check_model_output(output)  # before hours of training: an output that cannot take the model is refused now
    start = time.perf_counter()
    config = config or TrainConfig()
    notes, errors = load_notes(corpus, split)
    also_ids: set[str] = set()
    for extra_corpus in also:
        more, more_errors = load_notes(extra_corpus)
        also_ids |= {n.id for n in more}
        notes += more
        errors += more_errors
    for bad in errors:
        logger.warning("training: skipped note %s: %s", bad.id, bad.reason)
    applied = apply_feedback(notes, feedback) if feedback else None
    notes = [n for n in notes if any(n.codes.values())]
    pcs_weights = [config.also_pcs_weight if n.id in also_ids else 1.0 for n in notes]
    unlinked_weights = [config.also_unlinked_weight if n.id in also_ids else 1.0 for n in notes]
    model = train_model(notes, config, progress=progress, pcs_weights=pcs_weights, unlinked_weights=unlinked_weights)
    names = [f"{Path(corpus).name}:{split}", *(Path(p).name for p in also)]
    extra = {"training": {**model.meta["training"], "corpus": " + ".join(names),
                          **({"feedback": {"file": Path(feedback).name, **applied}} if applied else {})}}
    result = {"notes": len(notes), "skipped": len(errors), "config": asdict(config),
              **({"feedback": applied} if applied else {})}
    if eval_split:
        metrics = headline(evaluate_model(model, corpus, eval_split))
        extra["metrics"] = metrics
        result["metrics"] = metrics
    path = model.save(output, extra)
    return {"model": str(path), **result, "seconds": round(time.perf_counter() - start, 1)}
