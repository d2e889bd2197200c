import json

import pytest
from tests.conftest import synthetic_notes

from medcode.about import ARRAYS_FILE, CM, META_FILE, PCS
from medcode.coder import Medcoder
from medcode.codesets.kb import ancestors
from medcode.config import TrainConfig
from medcode.errors import ModelError
from medcode.notes import Note


def test_ancestors_are_the_shorter_codes_a_coder_may_stop_at():
    assert ancestors("S72.001A", CM) == ("S72.001", "S72.00", "S72.0", "S72")
    assert ancestors("BW03ZZZ", PCS) == ("BW03", "BW0")


def test_model_learns_the_synthetic_codes(tiny_model):
    held_out = synthetic_notes(20, seed=99)
    ranked = tiny_model.rank([n.text for n in held_out], depth=5)
    hits = sum(len(set(n.gold(s)) & {x["code"] for x in r[s][:3]}) for n, r in zip(held_out, ranked) for s in (CM, PCS))
    total = sum(len(n.gold(s)) for n in held_out for s in (CM, PCS))
    assert hits / total > 0.8


def test_suggestions_carry_evidence_that_slices_the_note(tiny_model):
    text = "Admitted with fever.\nA chest X-ray showed pneumonia."
    result = tiny_model.predict([Note("x", text)], top_k=5)[0]
    assert result["id"] == "x"
    scores = [s["score"] for s in result["suggestions"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    with_evidence = [s for s in result["suggestions"] if s["evidence"]]
    assert {"J18.9", "R50.9"} <= {s["code"] for s in with_evidence}
    for sug in with_evidence:
        assert sug["source"] == "mention"
        for ev in sug["evidence"]:
            assert text[ev["start"]:ev["end"]] == ev["text"]


def test_negated_mention_is_not_suggested_first(tiny_model):
    text = "No evidence of pneumonia.\nThe patient has hypertension."
    top = [s for s in tiny_model.predict([Note("n", text)], top_k=5)[0]["suggestions"] if s["system"] == CM]
    assert top[0]["code"] == "I10"
    pneumonia = [s for s in top if s["code"] == "J18.9"]
    assert not pneumonia or pneumonia[0]["score"] < top[0]["score"]


def test_saved_model_round_trips(tiny_model, tiny_model_dir):
    loaded = Medcoder.load(tiny_model_dir)
    notes = synthetic_notes(5, seed=7)
    assert loaded.predict(notes) == tiny_model.predict(notes)
    meta = json.loads((tiny_model_dir / META_FILE).read_text())
    assert meta["releases"][CM].startswith("ICD-10-CM FY2026") and meta["training"]["notes"] == 60
    assert set(meta["manifest"]) >= {ARRAYS_FILE, "codes.tsv.gz", "nlp/medcode_mentions/lexicon.json.gz"}


def test_tampered_model_file_is_refused(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    data = bytearray((copy / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=ARRAYS_FILE):
        Medcoder.load(copy)


def test_missing_model_folder_says_how_to_build_one(tmp_path):
    with pytest.raises(ModelError, match="make setup"):
        Medcoder.load(tmp_path / "nowhere")


def test_training_is_deterministic(kb):
    notes = synthetic_notes(30, seed=3)
    config = TrainConfig(folds=2, ranker_iter=20, ridge_candidates=5)
    a = Medcoder.train(notes, config, kb=kb).predict(notes[:5])
    b = Medcoder.train(notes, config, kb=kb).predict(notes[:5])
    assert a == b


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown config keys: nope"):
        TrainConfig.from_dict({"nope": 1})
    assert TrainConfig.from_dict({"folds": "3"}).folds == 3


def test_mark_dominated_flags_mentions_inside_longer_ones():
    from medcode.mentions import Mention, mark_dominated

    def m(start, end, system=CM):
        return Mention(start, end, "x" * (end - start), 1, 0, system, (), frozenset())

    mentions = [m(0, 20), m(5, 10), m(0, 5), m(15, 25), m(5, 10, PCS), m(30, 35)]
    mark_dominated(mentions)
    assert [x.dominated for x in mentions] == [False, True, True, False, False, False]


def test_feedback_updates_and_adds_notes(tmp_path):
    from medcode.training import apply_feedback

    notes = synthetic_notes(3, seed=1)
    first = notes[0]
    dropped = first.gold(CM)[0]
    feedback = tmp_path / "fb.jsonl"
    feedback.write_text("\n".join([
        json.dumps({"id": first.id, "rejected": [dropped], "added": ["R52"]}),
        json.dumps({"id": "new", "text": "Severe pain.", "accepted": ["R52"]}),
        json.dumps({"id": "ghost", "accepted": ["R52"]}),
    ]))
    counts = apply_feedback(notes, feedback)
    assert counts == {"notes_updated": 1, "notes_added": 1, "codes_added": 2, "codes_removed": 1, "lines_ignored": 1}
    assert dropped not in first.gold(CM) and "R52" in first.gold(CM)
    assert notes[-1].id == "new" and notes[-1].gold(CM) == ["R52"]


def test_excludes1_pairs_among_suggestions_are_flagged(tiny_model):
    note = Note("n1", "The patient presented a right lower lobe pneumonia.\nThe patient presented fever of 39 C.")
    result = tiny_model.predict([note], top_k=5)[0]
    by_code = {s["code"]: s for s in result["suggestions"]}
    assert {"J18.9", "R50.9"} <= set(by_code)
    assert {"codes": ["J18.9", "R50.9"], "note": "fever presented with pneumonia (R50.-)"} in result["conflicts"]
    assert by_code["J18.9"]["excludes1"] == ["R50.9"] and by_code["R50.9"]["excludes1"] == ["J18.9"]
    assert "excludes1" not in by_code.get("I10", {})


def test_saved_model_holds_no_pickle(tiny_model_dir):
    import numpy as np

    with np.load(tiny_model_dir / ARRAYS_FILE, allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)
    assert not list(tiny_model_dir.rglob("*.pkl")) and not list(tiny_model_dir.rglob("*.joblib"))


def test_save_replaces_a_model_folder_whole_and_never_clobbers_other_folders(fresh_tiny_model, tmp_path):
    tiny_model = fresh_tiny_model
    from medcode.errors import OutputError

    target = tmp_path / "m"
    tiny_model.save(target)
    tiny_model.save(target)  # an intact model folder is replaced whole
    assert Medcoder.load(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    (target / "stale.bin").write_bytes(b"not part of the model")
    with pytest.raises(OutputError, match="not a medcode model folder"):
        tiny_model.save(target)  # a file the manifest does not list may be the user's: nothing is deleted
    assert (target / "stale.bin").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep me")
    (other / META_FILE).write_text("{}")  # a meta.json alone does not make a folder a model
    with pytest.raises(OutputError, match="not a medcode model folder"):
        tiny_model.save(other)
    assert (other / "a.txt").read_text() == "keep me"


def test_save_replaces_a_model_of_an_older_format(fresh_tiny_model, tmp_path):
    """`make setup` after a format change: the old default model is replaced (its files match its manifest)."""
    tiny_model = fresh_tiny_model
    from medcode.manifest import manifest

    target = tmp_path / "m"
    tiny_model.save(target)
    meta = json.loads((target / META_FILE).read_text())
    older = {name: digest for name, digest in manifest(target).items() if name.split("/")[-1] != META_FILE}
    (target / META_FILE).write_text(json.dumps({**meta, "model_format": meta["model_format"] - 1, "manifest": older}))
    with pytest.raises(ModelError, match="model format"):
        Medcoder.load(target)
    tiny_model.save(target)
    assert Medcoder.load(target)


def test_save_replaces_the_previous_format_whose_manifest_lists_meta_json(fresh_tiny_model, tmp_path):
    """Formats 4-7 list meta.json in the manifest by its content's digest: `make setup` after the format 7 -> 8
    change refused the old default model ("meta.json does not match its manifest")."""
    from medcode.manifest import manifest

    target = tmp_path / "m"
    fresh_tiny_model.save(target)
    meta = json.loads((target / META_FILE).read_text())
    older = {**meta, "model_format": meta["model_format"] - 1}
    older["manifest"] = manifest(target, older)
    (target / META_FILE).write_text(json.dumps(older))
    fresh_tiny_model.save(target)
    assert json.loads((target / META_FILE).read_text())["model_format"] == meta["model_format"]
    assert Medcoder.load(target)


def test_scores_do_not_depend_on_the_batch_or_the_thread_count():
    """--workers, Dask and --resume cut the input into other batches and run other thread counts."""
    import random

    import numpy as np
    from threadpoolctl import threadpool_limits

    from medcode.notemodel import NoteModel

    # Big enough that a BLAS product would round differently by batch size and thread count.
    rng = random.Random(3)
    notes = synthetic_notes(400, seed=30)
    gold = [{CM: [f"X{rng.randrange(1000):03d}" for _ in range(4)], PCS: [f"0{rng.randrange(300):03d}"]}
            for _ in notes]
    model = NoteModel(ridge_alpha=0.1, knn_k=10).fit([n.text for n in notes], gold)
    texts = [n.text for n in synthetic_notes(64, seed=31)]
    ridge_all, knn_all = model.signals(texts)
    with threadpool_limits(1):
        ridge_part, knn_part = model.signals(texts[5:12])
    ridge_one, knn_one = model.signals(texts[9:10])  # one note: a matrix-matrix product would take another kernel
    for system in ridge_all:
        assert np.array_equal(ridge_all[system][5:12], ridge_part[system])
        assert knn_all[system][5:12] == knn_part[system]
        assert np.array_equal(ridge_all[system][9:10], ridge_one[system])
        assert knn_all[system][9:10] == knn_one[system]


def test_the_code_table_holds_every_code_of_the_release(kb):
    # The engine proposes codes the corpus never used (a composed PCS code): at inference they must read as
    # the release's codes (title, billable), as the ranker saw them in training, not as unknown codes.
    from types import SimpleNamespace

    from medcode.training import _code_table

    model = SimpleNamespace(labels={CM: ["J18.9", "Z99.99"], PCS: []})  # Z99.99: a corpus code not in the release
    table = _code_table(model, {}, kb)
    for entry in kb.entries():
        assert table[(entry.system, entry.code)] == (entry.billable, entry.title)
    assert table[(CM, "Z99.99")] == (False, "")


def test_an_extra_corpus_weighs_its_unlinked_diagnosis_rows_less_and_every_procedure_row_alike():
    import numpy as np

    from medcode.features import COLUMN, FEATURES
    from medcode.training import row_weights

    rows = np.zeros((3, len(FEATURES)))
    rows[1, COLUMN["n_mentions"]] = 2  # only the second code is named by a mention
    assert row_weights(CM, rows, 0.05, 0.3).tolist() == [0.3, 1.0, 0.3]
    assert row_weights(PCS, rows, 0.05, 0.3).tolist() == [0.05, 0.05, 0.05]
    assert TrainConfig().also_unlinked_weight < 1.0  # the default trains with it


def test_neighbour_votes_are_the_targets_votes_and_follow_a_refit():
    """The votes come from each training note's codes, held on the model: they are the sums a reading of the sparse
    targets gives (shares added in neighbour order, the highest similarity kept), and a refit's new targets count."""
    import numpy as np

    from medcode.notemodel import NoteModel

    notes = synthetic_notes(60, seed=40)
    texts = [n.text for n in synthetic_notes(8, seed=41)]
    model = NoteModel(ridge_alpha=0.1, knn_k=5)
    for shift in (0, 1):  # the second fit gives other codes to the same notes
        gold = [{CM: [f"X{(i + shift) % 7:03d}", f"Y{(i * 3 + shift) % 5:03d}"], PCS: [f"0{i % 4:03d}"]}
                for i in range(len(notes))]
        model.fit([n.text for n in notes], gold)
        _, knn = model.signals(texts)
        sims = (model._vectors(texts) @ model.train_matrix.T).toarray()
        for i in range(len(texts)):
            top = np.argsort(-sims[i], kind="stable")[:5]
            total = float(sims[i, top].sum())
            for system in (CM, PCS):
                expected: dict = {}
                for j in top:
                    for code in gold[j][system]:
                        vote, best = expected.get(code, (0.0, 0.0))
                        expected[code] = (vote + float(sims[i, j]) / total, max(best, float(sims[i, j])))
                assert knn[system][i] == expected
