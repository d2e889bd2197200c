"""Bad inputs, part 2: model folders medcode must refuse to trust (edited, rewritten, forged or
oversized files), each named in one line (see :mod:`devtools.bad_input_cases`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devtools.bad_inputs import TRUST, Case, Env, Outcome, model_id, note_text, rehash


# ------------------------------------------------------------------------------------------ model trust
def _suggest(env: Env, model: Path, *extra: str) -> list[str]:
    return ["suggest", "-", "-m", str(model), *extra]


def _edit_meta(env: Env, change, again: bool = False) -> list[str]:
    model = env.model_copy()
    meta = json.loads((model / "meta.json").read_text())
    change(meta)
    (model / "meta.json").write_text(json.dumps(meta, indent=2))
    if again:  # an attacker's edit, with the manifest rewritten to match: the content checks must catch it
        rehash(model)
    return _suggest(env, model)


def _set(path: str, value):
    def change(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def _raw_meta(env: Env, data: bytes) -> list[str]:
    model = env.model_copy()
    (model / "meta.json").write_bytes(data)
    return _suggest(env, model)


def _edit_file(env: Env, name: str, data: bytes, again: bool = False) -> list[str]:
    model = env.model_copy()
    (model / name).write_bytes(data)
    if again:
        rehash(model)
    return _suggest(env, model)


def _rewritten(env: Env, *extra: str) -> list[str]:
    original = model_id(env.model)
    model = env.model_copy()
    meta = json.loads((model / "meta.json").read_text())
    meta.setdefault("release_mapping", {})["mapped"] = {"R50.9": "Z99.89"}
    (model / "meta.json").write_text(json.dumps(meta))
    rehash(model)
    return _suggest(env, model, *[x.replace("ORIGINAL", original) for x in extra])


def _rewritten_env(env: Env) -> list[str]:
    env.vars["MEDCODE_EXPECT_MODEL"] = model_id(env.model)
    return _rewritten(env)


def _gzip_bomb(env: Env, name: str) -> list[str]:
    import gzip

    model = env.model_copy()
    with gzip.open(model / name, "wb", compresslevel=9) as bomb:
        block = b"\0" * (1 << 24)
        for _ in range(20):  # 320 MB out of 320 KB
            bomb.write(block)
    rehash(model)
    return _suggest(env, model)


def _sparse(env: Env, name: str, size: int) -> list[str]:
    model = env.model_copy()
    with (model / name).open("r+b") as handle:
        handle.truncate(size)
    return _suggest(env, model)


def _forged_npz(env: Env, header: dict) -> list[str]:
    import io
    import zipfile

    import numpy as np

    model = env.model_copy()
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(model / "model.npz", "a") as archive:
        archive.writestr("forged.npy", buffer.getvalue() + b"\0" * 64)
    rehash(model)
    return _suggest(env, model)


def _special_in_model(env: Env, kind: str) -> list[str]:
    model = env.model_copy()
    if kind == "link":
        os.symlink("/dev/zero", model / "nlp" / "zero.bin")
    else:
        os.mkfifo(model / "nlp" / "pipe.json")
    return _suggest(env, model)


def _models_list(env: Env, broken: bytes) -> list[str]:
    env.model_copy("models/good")
    env.write("models/broken/meta.json", broken)
    return ["models", "list", str(env.path("models")), "--json"]


def _lists_ids(env: Env, outcome: Outcome) -> list[str]:
    return [] if model_id(env.model) in outcome.stdout else ["models list does not print the model id"]


def _trust(name: str, build, code: int = 5, names: str = "meta.json", **kw) -> Case:
    return Case(name, TRUST, build, code, names, stdin=note_text(0), **kw)


TRUST_CASES = [
    _trust("meta.json: release mapping edited", lambda e: _edit_meta(e, _set("release_mapping.mapped", {"R50.9": "Z99.89"}))),
    _trust("meta.json: training fingerprints edited", lambda e: _edit_meta(e, _set("training.note_fingerprints", []))),
    _trust("nlp/meta.json edited", lambda e: _edit_file(e, "nlp/meta.json", b'{"lang": "en"}'), names="nlp/meta.json"),
    _trust("MODEL_CARD.md edited", lambda e: _edit_file(e, "MODEL_CARD.md", b"# trust me\n"), names="MODEL_CARD.md"),
    _trust("files and manifest rewritten, --expect-model", lambda e: _rewritten(e, "--expect-model", "ORIGINAL"),
           names="expected"),
    _trust("files and manifest rewritten, $MEDCODE_EXPECT_MODEL", _rewritten_env, names="expected"),
    _trust("--expect-model that is not a SHA-256", lambda e: _suggest(e, e.model, "--expect-model", "latest"), 2,
           "--expect-model"),
    _trust("gzip bomb in the lexicon", lambda e: _gzip_bomb(e, "nlp/medcode_mentions/lexicon.json.gz"),
           names="lexicon.json.gz"),
    _trust("gzip bomb in the code table", lambda e: _gzip_bomb(e, "codes.tsv.gz"), names="codes.tsv.gz"),
    _trust("meta.json of 400 MB", lambda e: _sparse(e, "meta.json", 400 << 20)),
    _trust("model.json of 300 MB", lambda e: _sparse(e, "model.json", 300 << 20), names="model.json"),
    _trust("arrays file with a forged shape", lambda e: _forged_npz(e, {"descr": "<f8", "fortran_order": False,
                                                                        "shape": (10 ** 6, 10 ** 6)}), names="model.npz"),
    _trust("arrays file with Python objects", lambda e: _forged_npz(e, {"descr": "|O", "fortran_order": False,
                                                                        "shape": (2,)}), names="model.npz"),
    _trust("symbolic link to /dev/zero in a model", lambda e: _special_in_model(e, "link"), names="zero.bin"),
    _trust("FIFO in a model", lambda e: _special_in_model(e, "fifo"), names="pipe.json"),
    _trust("meta.json not JSON", lambda e: _raw_meta(e, b"{not json")),
    _trust("meta.json a list", lambda e: _raw_meta(e, b"[]")),
    _trust("meta.json empty", lambda e: _raw_meta(e, b"")),
    _trust("meta.json not UTF-8", lambda e: _raw_meta(e, b'{"name": "\xff"}')),
    _trust("meta.json nested 100,000 deep", lambda e: _raw_meta(e, b"[" * 100_000 + b"]" * 100_000)),
    _trust("meta.json: model format a string", lambda e: _edit_meta(e, lambda m: m.update(model_format=str(m["model_format"]))),
           names="model format"),
    _trust("meta.json: manifest a list", lambda e: _edit_meta(e, lambda m: m.update(manifest=sorted(m["manifest"])))),
    _trust("meta.json: manifest missing", lambda e: _edit_meta(e, lambda m: m.pop("manifest"))),
    _trust("meta.json: manifest entry outside the folder", lambda e: _edit_meta(e, lambda m: m["manifest"].update({"../../etc/passwd": "0" * 64}))),
    _trust("meta.json: manifest hash not hex", lambda e: _edit_meta(e, lambda m: m["manifest"].update({"model.json": 5}))),
    _trust("meta.json: config a list (rehashed)", lambda e: _edit_meta(e, _set("config", [1]), again=True)),
    _trust("meta.json: config with a bad value (rehashed)", lambda e: _edit_meta(e, _set("config.folds", "many"), again=True)),
    _trust("meta.json: releases a string (rehashed)", lambda e: _edit_meta(e, _set("releases", "FY2026"), again=True)),
    _trust("meta.json: libraries a list (rehashed)", lambda e: _edit_meta(e, _set("libraries", ["spacy"]), again=True)),
    _trust("meta.json: fingerprints a string (rehashed)", lambda e: _edit_meta(e, _set("training.note_fingerprints", "abc"), again=True)),
    _trust("meta.json: mapped codes a list (rehashed)", lambda e: _edit_meta(e, _set("release_mapping.mapped", ["Z99.89"]), again=True)),
    _trust("meta.json: training a string (rehashed)", lambda e: _edit_meta(e, _set("training", "notes"), again=True)),
    _trust("model.json not JSON (rehashed)", lambda e: _edit_file(e, "model.json", b"{", again=True), names="model.json"),
    _trust("model.json without its tables (rehashed)", lambda e: _edit_file(e, "model.json", b"{}", again=True), names="model"),
    _trust("meta.json is a folder", lambda e: (e.model_copy(), os.remove(e.path("model/meta.json")),
                                              os.mkdir(e.path("model/meta.json")), _suggest(e, e.path("model")))[-1]),
    Case("models list with a broken meta.json", TRUST, lambda e: _models_list(e, b"[" * 50_000), 0, extra=_lists_ids),
    Case("models list with a 400 MB meta.json", TRUST, lambda e: (_models_list(e, b"{}"), os.truncate(
        e.path("models/broken/meta.json"), 400 << 20), ["models", "list", str(e.path("models"))])[-1], 0),
]
