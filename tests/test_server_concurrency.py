"""Concurrent coders on one database: 8 API clients posting 500 decisions each lose none and duplicate none.

Run against a live server (uvicorn in a thread, on 127.0.0.1) over SQLite, and over PostgreSQL when
``$MEDCODE_TEST_POSTGRES_URL`` names a throwaway database (``.ci/run`` starts one); its tables are dropped.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")

from tests.serverkit import TOKEN, load_coder, make_app, write_worklist  # noqa: E402

from medcode.server.runner import background_server  # noqa: E402

CLIENTS, PER_CLIENT, RETRIES = 8, 500, 25
POSTGRES_ENV = "MEDCODE_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def coder(tiny_model_dir):
    return load_coder(tiny_model_dir)


def _client(base: str, worker: int, errors: list, sent: list) -> None:
    """One coder: ``PER_CLIENT`` decisions, one request each, then ``RETRIES`` of them sent again."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    ids = [f"client{worker}-{i:04d}" for i in range(PER_CLIENT)]
    codes = ("J18.9", "I10", "R50.9", "N20.0", "E11.9")
    try:
        for i, decision_id in enumerate(ids + ids[:RETRIES]):
            body = {"decision_id": decision_id, "note_id": ("note-a", "note b/2", "note-c")[i % 3],
                    "code": codes[i % len(codes)], "action": ("accept", "reject")[i % 2], "coder": f"coder{worker}",
                    "rank": 1 + i % 10}
            conn.request("POST", "/v1/decisions", json.dumps(body), headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            if response.status != 200:
                errors.append((decision_id, response.status, payload))
            elif i >= PER_CLIENT and payload["duplicates"] != 1:
                errors.append((decision_id, "retry recorded again"))
        sent.extend(ids)
    except Exception as exc:  # reported by the test, not lost in a thread
        errors.append((worker, repr(exc)))
    finally:
        conn.close()


def hammer(coder, db_url: str, tmp_path) -> tuple[list[dict], float]:
    """Serve an app on ``db_url`` and run the clients at once; returns the decisions kept and the seconds."""
    app, store = make_app(coder, db_url, write_worklist(tmp_path))
    errors, sent = [], []
    with background_server(app) as base:
        threads = [threading.Thread(target=_client, args=(base, k, errors, sent)) for k in range(CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        seconds = time.perf_counter() - started
    assert not errors, errors[:5]
    assert len(sent) == CLIENTS * PER_CLIENT
    rows = store.decisions()
    store.close()
    return rows, seconds


def check_none_lost_none_duplicated(rows: list[dict]) -> None:
    ids = [r["decision_id"] for r in rows]
    expected = {f"client{k}-{i:04d}" for k in range(CLIENTS) for i in range(PER_CLIENT)}
    assert len(ids) == len(set(ids)), "a decision was recorded twice"
    assert set(ids) == expected, f"{len(expected - set(ids))} decisions lost"
    by_coder = {}
    for r in rows:
        by_coder[r["coder"]] = by_coder.get(r["coder"], 0) + 1
    assert by_coder == {f"coder{k}": PER_CLIENT for k in range(CLIENTS)}


def test_eight_clients_on_sqlite(coder, tmp_path):
    rows, seconds = hammer(coder, f"sqlite:///{tmp_path / 'shared.sqlite'}", tmp_path)
    check_none_lost_none_duplicated(rows)
    print(f"sqlite: {len(rows)} decisions from {CLIENTS} clients in {seconds:.1f} s")


@pytest.fixture()
def postgres_url():
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL test skipped: no ${POSTGRES_ENV} (e.g. postgresql://medcode:medcode@127.0.0.1/"
                    "medcode_test, a throwaway database; .ci/run starts one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from medcode.decisions.schema import metadata
    from medcode.decisions.store import normalize_url

    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL test skipped: cannot connect to ${POSTGRES_ENV} ({str(exc.orig).splitlines()[0]})")
    metadata.drop_all(engine)  # a throwaway database: start from an empty schema
    engine.dispose()
    yield url
    engine = create_engine(normalize_url(url))
    metadata.drop_all(engine)
    engine.dispose()


def test_eight_clients_on_postgresql(coder, postgres_url, tmp_path):
    from medcode.decisions.store import DecisionStore

    # Several servers starting on one empty database at once: the migration runs once.
    stores, failures = [], []

    def open_store():
        try:
            stores.append(DecisionStore(postgres_url))
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures and sorted(len(s.migrated) for s in stores) == [0, 0, 0, 1]
    for store in stores:
        store.close()
    rows, seconds = hammer(coder, postgres_url, tmp_path)
    check_none_lost_none_duplicated(rows)
    print(f"postgresql: {len(rows)} decisions from {CLIENTS} clients in {seconds:.1f} s")
