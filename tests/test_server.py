"""The workbench's HTTP API with FastAPI's test client: suggest, codes, decisions, worklist, limits, safety."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")

from fastapi.testclient import TestClient  # noqa: E402
from tests.serverkit import NOTES, TOKEN, bearer, load_coder, make_app, write_worklist  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from medcode.decisions.store import note_hash  # noqa: E402
from medcode.server.security import CSRF_HEADER  # noqa: E402

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def coder(tiny_model_dir):
    return load_coder(tiny_model_dir)


@pytest.fixture()
def served(coder, tmp_path):
    """``(client, store)``: a fresh app over a fresh SQLite file and the test worklist."""
    app, store = make_app(coder, f"sqlite:///{tmp_path / 'decisions.sqlite'}", write_worklist(tmp_path))
    with TestClient(app, base_url=BASE) as client:
        yield client, store
    store.close()


def post(client, path, body, **kwargs):
    return client.post(path, json=body, headers={**bearer(), **kwargs.pop("headers", {})}, **kwargs)


def get(client, path, **kwargs):
    return client.get(path, headers=bearer(), **kwargs)


# ---------------------------------------------------------------------- access
def test_every_request_needs_the_token(served):
    client, _ = served
    for path in ("/health", "/v1/worklist", "/openapi.json", "/docs", "/", "/static/app.js"):
        response = client.get(path)
        assert response.status_code == 401, path
    assert client.post("/v1/suggest", json={"text": "Fever."}).status_code == 401
    wrong = client.get("/health", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized" and "wrong" in wrong.json()["error"]
    assert get(client, "/health").status_code == 200
    assert client.get(f"/health?token={TOKEN}").status_code == 200  # a GET may carry it in the URL


def test_page_url_token_becomes_a_cookie_and_leaves_the_url(served):
    client, _ = served
    response = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN in cookie
    page = client.get("/")
    assert page.status_code == 200 and "medcode workbench" in page.text
    assert client.get("/static/app.js").status_code == 200
    # A state-changing request on the cookie alone needs the page's header (a cross-site form cannot add it).
    assert client.post("/v1/worklist", json={"notes": [{"text": "Fever."}]}).status_code == 403
    ok = client.post("/v1/worklist", json={"notes": [{"text": "Fever."}]}, headers={CSRF_HEADER: "1"})
    assert ok.status_code == 200, ok.text


def test_host_and_origin_checks(served):
    client, _ = served
    rebound = client.get("/health", headers={**bearer(), "Host": "attacker.example"})
    assert rebound.status_code == 403 and rebound.json()["code"] == "host_not_allowed"
    assert client.get("/health", headers={**bearer(), "Host": "localhost:8000"}).status_code == 200
    assert client.get("/health", headers={**bearer(), "Host": "[::1]:8000"}).status_code == 200
    cross = post(client, "/v1/suggest", {"text": "Fever."}, headers={"Origin": "https://attacker.example"})
    assert cross.status_code == 403 and cross.json()["code"] == "cross_origin"
    assert post(client, "/v1/suggest", {"text": "Fever."}, headers={"Origin": "null"}).status_code == 403
    same = post(client, "/v1/suggest", {"text": "Fever."}, headers={"Origin": BASE})
    assert same.status_code == 200


def test_security_headers(served):
    client, _ = served
    response = get(client, "/health")
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"


def test_assets_and_docs_are_local(served):
    client, _ = served
    pages = [get(client, p).text for p in ("/", "/static/app.js", "/static/app.css", "/docs")]
    for text in pages:
        assert "https://" not in text and "http://cdn" not in text and "//cdn" not in text
    docs = pages[-1]
    for path in ("/v1/suggest", "/v1/codes/search", "/v1/codes/validate", "/v1/decisions", "/v1/worklist", "/health"):
        assert path in docs
    schema = get(client, "/openapi.json").json()
    assert {"/v1/suggest", "/v1/codes/{code}", "/v1/codes/search", "/v1/codes/validate", "/v1/decisions",
            "/v1/worklist", "/health"} <= set(schema["paths"])


# ---------------------------------------------------------------------- suggest
def test_suggest_is_the_json_of_medcode_suggest(served, coder, tiny_model_dir):
    from medcode.cli import app as cli

    client, _ = served
    text = NOTES[0]["text"]
    response = post(client, "/v1/suggest", {"text": text})
    assert response.status_code == 200
    printed = CliRunner().invoke(cli, ["suggest", "-", "-m", str(tiny_model_dir), "--json"], input=text)
    expected = json.loads(printed.stdout)
    expected["id"] = "note"  # the CLI names a note read from stdin "stdin"
    served_record = response.json()
    assert served_record["suggestions"][0]["query"]["options"][0]["code"] == "J18.0"
    del served_record["suggestions"][0]["query"]  # the test server's model has a query on J18.9 the CLI's lacks
    assert served_record == expected
    assert response.json()["conflicts"] and response.json()["excluded"]


def test_suggest_a_batch_in_order(served, coder):
    client, _ = served
    notes = [{"id": n["id"], "text": n["text"]} for n in NOTES]
    response = post(client, "/v1/suggest", {"notes": notes, "top_k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [n["id"] for n in NOTES]
    assert results == coder.predict(notes, top_k=3)


def test_request_limits_are_clear_4xx(coder, tmp_path):
    app, store = make_app(coder, f"sqlite:///{tmp_path / 'd.sqlite'}", max_batch=2, max_chars=200)
    with TestClient(app, base_url=BASE) as client:
        batch = post(client, "/v1/suggest", {"notes": [{"id": str(i), "text": "Fever."} for i in range(3)]})
        assert batch.status_code == 413 and "3 notes, over the limit of 2" in batch.json()["error"]
        long = post(client, "/v1/suggest", {"notes": [{"id": "ok", "text": "Fever."}, {"id": "big", "text": "x" * 201}]})
        assert long.status_code == 422 and long.json()["note"] == "big" and "over the limit of 200" in long.json()["error"]
        empty = post(client, "/v1/suggest", {"text": "  ", "id": "blank"})
        assert empty.status_code == 422 and empty.json() == {
            "error": "note 'blank' cannot be scored: note is empty", "code": "unscorable_note", "note": "blank"}
        twice = post(client, "/v1/suggest", {"notes": [{"id": "a", "text": "Fever."}, {"id": "a", "text": "Pain."}]})
        assert twice.status_code == 422 and "'a' appears twice" in twice.json()["error"]
        both = post(client, "/v1/suggest", {"text": "Fever.", "notes": [{"id": "a", "text": "Fever."}]})
        assert both.status_code == 422 and "either text" in both.json()["error"]
        huge = client.post("/v1/suggest", content=b'{"text": "' + b"x" * (2 << 20) + b'"}',
                           headers={**bearer(), "Content-Type": "application/json"})
        assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
        malformed = post(client, "/v1/suggest", {"text": 42})
        assert malformed.status_code == 422 and malformed.json()["error"].startswith("text:")
        assert "42" not in malformed.json()["error"]  # never echoes a value (it could be note text)
    store.close()


def test_a_note_the_model_fails_on_is_a_422_naming_it_and_no_text_is_logged(served, coder, monkeypatch, caplog):
    client, _ = served
    secret = "Zyxwvut-secret-words"
    original = coder.predict

    def flaky(notes, top_k=10, n_process=1):
        notes = list(notes)
        if any(secret in n.text for n in notes):
            raise RuntimeError(f"cannot handle {secret}")  # a library error quoting the note
        return original(notes, top_k=top_k)

    monkeypatch.setattr(coder, "predict", flaky)
    caplog.set_level(logging.DEBUG)
    body = {"notes": [{"id": "fine", "text": "Fever."}, {"id": "bad-one", "text": f"{secret} pneumonia."}]}
    response = post(client, "/v1/suggest", body)
    assert response.status_code == 422
    assert response.json()["note"] == "bad-one" and "RuntimeError" in response.json()["error"]
    assert secret not in response.text
    post(client, "/v1/decisions", {"note_id": "ext", "text": f"{secret} again", "code": "J18.9", "action": "accept"})
    post(client, "/v1/worklist", {"notes": [{"id": "p", "text": f"{secret} pasted"}]})
    assert secret not in caplog.text
    assert "note bad-one could not be scored: RuntimeError" in caplog.text


def test_an_unexpected_error_is_a_plain_500_logged_without_its_message(served, monkeypatch, caplog):
    client, store = served
    secret = "Qwerty-private-text"

    def broken(*args, **kwargs):
        raise ValueError(f"database saw {secret}")

    monkeypatch.setattr(store, "note_summaries", broken)
    caplog.set_level(logging.DEBUG)
    response = get(client, "/v1/worklist")
    assert response.status_code == 500 and response.json()["code"] == "internal"
    assert secret not in response.text and secret not in caplog.text
    assert "internal error on GET /v1/worklist: ValueError" in caplog.text


# ---------------------------------------------------------------------- codes
def test_code_lookups(served):
    client, _ = served
    hits = get(client, "/v1/codes/search", params={"q": "pneumonia"}).json()
    assert hits[0]["code"] in ("J18.9", "J18.0")
    assert get(client, "/v1/codes/J18.9").json()["title"] == "Pneumonia, unspecified organism"
    missing = get(client, "/v1/codes/Q99.99")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_code"
    result = post(client, "/v1/codes/validate", {"codes": ["J18.9", "R50.9", "BW24"]}).json()
    assert result["valid"] is False and result["conflicts"][0]["codes"] == ["J18.9", "R50.9"]
    assert {c["code"]: c["status"] for c in result["codes"]}["BW24"] == "header"
    assert post(client, "/v1/codes/validate", {"codes": ["I10"] * 201}).status_code == 413


# ---------------------------------------------------------------------- decisions
def test_decisions_are_kept_once_with_hash_model_and_release(served, coder):
    client, store = served
    decision = {"decision_id": "retry-me-0001", "note_id": "note-a", "code": "j18.9", "action": "accept", "rank": 1,
                "score": 0.9, "source": "mention"}
    first = post(client, "/v1/decisions", decision).json()
    again = post(client, "/v1/decisions", {"decisions": [decision]}).json()
    assert (first["recorded"], first["duplicates"], again["recorded"], again["duplicates"]) == (1, 0, 0, 1)
    [row] = store.decisions()
    assert row["code"] == "J18.9" and row["system"] == "ICD-10-CM" and row["coder"] == "tester"
    assert row["note_hash"] == note_hash(NOTES[0]["text"]) and "note_text" not in row
    assert row["model_id"] == coder.model_id and row["code_release"].startswith("ICD-10-CM FY2026")
    assert row["rank"] == 1 and row["created_at"].endswith("+00:00")
    listed = get(client, "/v1/decisions", params={"note_id": "note-a"}).json()["decisions"]
    assert [d["decision_id"] for d in listed] == ["retry-me-0001"]


def test_decisions_on_notes_outside_the_worklist(served, coder, tmp_path):
    client, store = served
    unknown = post(client, "/v1/decisions", {"note_id": "elsewhere", "code": "I10", "action": "reject"})
    assert unknown.status_code == 422 and "not in the worklist" in unknown.json()["error"]
    hashed = post(client, "/v1/decisions", {"note_id": "elsewhere", "note_hash": "a" * 64, "code": "I10", "action": "reject"})
    assert hashed.status_code == 200
    texted = post(client, "/v1/decisions", {"note_id": "other", "text": "Essential hypertension.", "code": "I10",
                                            "action": "add", "coder": "ana"})
    assert texted.status_code == 200
    rows = store.decisions(note_id="other")
    assert rows[0]["note_hash"] == note_hash("Essential hypertension.") and "note_text" not in rows[0]
    no_answer = post(client, "/v1/decisions", {"note_id": "note-a", "code": "J18.9", "action": "answer"})
    assert no_answer.status_code == 422 and "query_answer" in no_answer.json()["error"]
    bad_action = post(client, "/v1/decisions", {"note_id": "note-a", "code": "J18.9", "action": "approve"})
    assert bad_action.status_code == 422 and bad_action.json()["error"].startswith("action:")
    # Kept text is opt-in.
    app, keeping = make_app(coder, f"sqlite:///{tmp_path / 'keep.sqlite'}", keep_text=True)
    with TestClient(app, base_url=BASE) as keeper:
        post(keeper, "/v1/decisions", {"note_id": "k", "text": "Kidney stone.", "code": "N20.0", "action": "accept"})
    assert keeping.decisions()[0]["note_text"] == "Kidney stone."
    keeping.close()


# ---------------------------------------------------------------------- worklist and review
def test_worklist_note_and_evidence_that_slices_the_text(served):
    client, _ = served
    listing = get(client, "/v1/worklist").json()
    assert [n["id"] for n in listing["notes"]] == [n["id"] for n in NOTES]
    assert listing["done"] == 0 and {n["status"] for n in listing["notes"]} == {"new"}
    note = get(client, "/v1/worklist/note%20b%2F2").json()  # an id with a space and a slash
    assert note["id"] == "note b/2" and note["text"] == NOTES[1]["text"]
    spans = [e for s in note["record"]["suggestions"] + note["record"]["excluded"] for e in s["evidence"]]
    assert spans and all(note["text"][e["start"]:e["end"]] == e["text"] for e in spans)
    first = get(client, "/v1/worklist/note-a").json()
    statuses = {st for s in first["record"]["excluded"] for e in s["evidence"] for st in e.get("status", [])}
    assert {"NEGATED", "FAMILY"} & statuses
    assert get(client, "/v1/worklist/nope").status_code == 404


def test_paste_notes(served):
    client, _ = served
    added = post(client, "/v1/worklist", {"notes": [{"text": "Acute fever."}, {"id": "mine", "text": "Kidney stone."}]})
    assert added.json()["added"] == ["pasted-1", "mine"]
    assert post(client, "/v1/worklist", {"notes": [{"id": "mine", "text": "Kidney stone."}]}).status_code == 200
    clash = post(client, "/v1/worklist", {"notes": [{"id": "mine", "text": "Something else."}]})
    assert clash.status_code == 422 and "another note with this id" in clash.json()["error"]
    assert post(client, "/v1/worklist", {"notes": [{"text": " "}]}).status_code == 422
    ids = [n["id"] for n in get(client, "/v1/worklist").json()["notes"]]
    assert ids[-2:] == ["pasted-1", "mine"]


def decide(client, note_id, code, action, **extra):
    response = post(client, "/v1/decisions", {"note_id": note_id, "code": code, "action": action, **extra})
    assert response.status_code == 200, response.text


def test_done_only_when_the_final_list_is_claim_ready(served):
    client, store = served
    done = client.post("/v1/worklist/note-a/done", headers=bearer())
    assert done.status_code == 422 and "final list is empty" in done.json()["error"]
    decide(client, "note-a", "J18.9", "accept")
    decide(client, "note-a", "R50.9", "add")
    decide(client, "note-a", "BW24", "accept")
    refused = client.post("/v1/worklist/note-a/done", headers=bearer()).json()
    assert refused["code"] == "not_claim_ready"
    assert "J18.9 and R50.9 cannot be reported together" in refused["error"] and "BW24" in refused["error"]
    assert refused["review"]["final"] == ["J18.9", "R50.9", "BW24"]
    decide(client, "note-a", "R50.9", "undo")
    decide(client, "note-a", "BW24", "reject")
    decide(client, "note-a", "J18.9", "query")
    assert "physician query open on J18.9" in client.post("/v1/worklist/note-a/done", headers=bearer()).json()["error"]
    decide(client, "note-a", "J18.9", "answer", query_answer="J18.0")
    decide(client, "note-a", "N20.0", "accept")
    ok = client.post("/v1/worklist/note-a/done", json={"coder": "ana"}, headers=bearer())
    assert ok.status_code == 200, ok.text
    review = ok.json()
    assert review["status"] == "done" and review["final"] == ["J18.0", "N20.0"] and review["completed"]["coder"] == "ana"
    assert get(client, "/v1/worklist").json()["done"] == 1
    reopened = client.post("/v1/worklist/note-a/reopen", headers=bearer()).json()
    assert reopened["status"] == "reopened" and get(client, "/v1/worklist").json()["done"] == 0
    assert store.completions(note_id="note-a")[0]["codes"] == ["J18.0", "N20.0"]


def test_decisions_survive_a_restart(coder, tmp_path):
    worklist = write_worklist(tmp_path)
    url = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    app, store = make_app(coder, url, worklist)
    with TestClient(app, base_url=BASE) as client:
        decide(client, "note-c", "E11.9", "accept")
        decide(client, "note-c", "BW03ZZZ", "reject")
        assert client.post("/v1/worklist/note-c/done", headers=bearer()).status_code == 200
    store.close()
    app, store = make_app(coder, url, worklist)
    with TestClient(app, base_url=BASE) as client:
        review = get(client, "/v1/reviews/note-c").json()
        assert {c: s["action"] for c, s in review["state"].items()} == {"E11.9": "accept", "BW03ZZZ": "reject"}
        assert review["status"] == "done"
        assert [n["status"] for n in get(client, "/v1/worklist").json()["notes"]] == ["new", "new", "done"]
    store.close()


def test_health_names_model_releases_and_version(served, coder):
    from medcode.about import RELEASE, __version__

    client, _ = served
    health = get(client, "/health").json()
    assert health["model_id"] == coder.model_id == health["model"]["id"]
    assert health["releases"] == RELEASE and health["version"] == __version__
    assert health["worklist"] == {"notes": 3, "unreadable": 0}
    session = get(client, "/v1/session").json()
    assert session["coder"] == "tester" and session["limits"]["max_batch"] == 64


def test_page_top_k_matches_medcode_suggest():
    from medcode.nlp.suggester import DEFAULT_SUGGESTIONS
    from medcode.server.settings import DEFAULT_TOP_K

    assert DEFAULT_TOP_K == DEFAULT_SUGGESTIONS


def test_worklist_reads_a_folder_with_unreadable_notes(coder, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "one.txt").write_text("Fever of 39 C.")
    (folder / "two.txt").write_bytes(b"caf\xe9")
    app, store = make_app(coder, f"sqlite:///{tmp_path / 'd.sqlite'}", folder)
    with TestClient(app, base_url=BASE) as client:
        listing = get(client, "/v1/worklist").json()
    assert [n["id"] for n in listing["notes"]] == ["one"]
    assert listing["unreadable"] == [{"id": "two", "error": "file is not UTF-8 (byte 3)"}]
    store.close()


def test_static_page_has_every_shortcut_documented():
    static = Path(__file__).resolve().parents[1] / "pipeline" / "medcode" / "server" / "static"
    script, page = (static / "app.js").read_text(), (static / "index.html").read_text()
    for key in ("j", "k", "a", "r", "u", "c", "q", "d", "o", "n", "p", "N", "i", "/", "?"):
        assert f"<kbd>{key}</kbd>" in page or f"<kbd>{key.upper()}</kbd>" in page, key
    assert "innerHTML" not in script  # note text is only ever set as text


def test_a_chunked_body_over_the_limit_is_a_413(coder, tmp_path):
    app, store = make_app(coder, f"sqlite:///{tmp_path / 'd.sqlite'}", max_chars=1000, max_batch=2)

    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * (64 << 10)
        yield b'"}'

    with TestClient(app, base_url=BASE) as client:
        response = client.post("/v1/suggest", content=chunks(), headers={**bearer(), "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    store.close()


def test_allow_host_for_a_reverse_proxy(coder, tmp_path):
    app, store = make_app(coder, f"sqlite:///{tmp_path / 'd.sqlite'}", allowed_hosts=("coding.example",))
    with TestClient(app, base_url=BASE) as client:
        assert client.get("/health", headers={**bearer(), "Host": "coding.example"}).status_code == 200
        proxied = post(client, "/v1/suggest", {"text": "Fever."}, headers={"Origin": "https://coding.example"})
        assert proxied.status_code == 200
        assert client.get("/health", headers={**bearer(), "Host": "other.example"}).status_code == 403
    store.close()
