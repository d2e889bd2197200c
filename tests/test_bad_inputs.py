"""Bad inputs, tried as a careless or hostile user would (issue #12).

The catalogue (``pipeline/devtools/bad_input_cases.py``, also run by ``make bench`` on the default model)
asserts for each case: no traceback, the exit code, a one-line message naming the file/row/flag, the other
notes scored, every earlier file untouched, and the marker standing for note text in no output, log,
message or error file. The tests after it cover what a command line alone cannot: kills, worker
processes, the private Dask cluster, and properties checked on random inputs (hypothesis).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import synthetic_notes

from devtools.bad_input_cases import CASES
from devtools.bad_inputs import MARKER, invoke_in_process, invoke_subprocess, note_text, run_case
from medcode.batch.predict import predict_file
from medcode.formats import read_csv, read_jsonl
from medcode.notes import Note, NoteError


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_reported_and_nothing_is_lost(case, tiny_model_dir, tmp_path):
    invoke = invoke_subprocess if case.subprocess else invoke_in_process
    problems = run_case(case, tmp_path, tiny_model_dir, invoke)
    assert not problems, f"{case.name} ({case.issue}): {problems}"


def test_the_catalogue_has_every_kind_of_bad_input():
    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.issue for c in CASES}) == 7


# ----------------------------------------------------------------------------------------- kill and resume
class Killed(BaseException):
    """Stands for a kill: raised from the progress callback, it stops a run between two notes."""


def _kill_after(n):
    def progress(done):
        if done >= n:
            raise Killed
    return progress


def _mixed_input(path: Path) -> list[str]:
    """Good notes, a duplicate id on each side of every kill point, empty and broken rows."""
    notes = synthetic_notes(10, seed=41)
    rows = [json.dumps({"id": n.id, "text": n.text}) for n in notes]
    rows.insert(2, json.dumps({"id": notes[0].id, "text": notes[1].text}))  # duplicate, early
    rows.insert(5, json.dumps({"id": "blank", "text": " "}))
    rows.insert(8, '{"id": "torn", "text": "half')
    rows.append(json.dumps({"id": notes[3].id, "text": notes[4].text}))  # duplicate of a note before any kill
    path.write_text("\n".join(rows) + "\n")
    return [n.id for n in notes]


def test_kill_anywhere_then_resume_gives_the_uninterrupted_run(tiny_model, tmp_path):
    src = tmp_path / "in.jsonl"
    _mixed_input(src)
    full = tmp_path / "full.jsonl"
    expected = predict_file(src, full, tiny_model, batch_size=3)
    assert expected["skipped_total"] == 4
    for kill_at in (1, 6, 12):
        out = tmp_path / f"k{kill_at}.jsonl"
        with pytest.raises(Killed):
            predict_file(src, out, tiny_model, batch_size=3, progress=_kill_after(kill_at))
        assert not out.exists()
        result = predict_file(src, out, tiny_model, batch_size=3, resume=True)
        assert out.read_text() == full.read_text(), kill_at
        assert out.with_name(out.stem + ".errors.jsonl").read_text() == \
            full.with_name("full.errors.jsonl").read_text(), kill_at
        assert result["skipped_total"] == 4 and result["resumed"] + result["scored"] == expected["scored"]


def test_kill_twice_then_resume_with_workers(tiny_model_dir, tmp_path):
    from medcode.coder import Medcoder

    # The folder's own model: an in-memory model saved to several folders by other tests takes the id of
    # the last one, and a resume with another model is (rightly) refused.
    tiny_model = Medcoder.load(tiny_model_dir)
    src = tmp_path / "in.jsonl"
    _mixed_input(src)
    full = tmp_path / "full.jsonl"
    predict_file(src, full, tiny_model, batch_size=2)
    out = tmp_path / "out.jsonl"
    for kill_at in (2, 6):
        with pytest.raises(Killed):
            predict_file(src, out, tiny_model, batch_size=2, resume=True, progress=_kill_after(kill_at))
    result = predict_file(src, out, model_dir=tiny_model_dir, workers=2, batch_size=2, resume=True)
    assert out.read_text() == full.read_text() and result["skipped_total"] == 4


def test_resume_exit_code_counts_the_notes_skipped_before_the_kill(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from medcode.cli import app

    src = tmp_path / "in.jsonl"
    _mixed_input(src)
    out = tmp_path / "out.jsonl"
    with pytest.raises(Killed):
        predict_file(src, out, model_dir=tiny_model_dir, batch_size=3, progress=_kill_after(9))
    result = CliRunner().invoke(app, ["predict", str(src), "-o", str(out), "-m", str(tiny_model_dir), "--resume"])
    assert result.exit_code == 3, result.output
    assert "skipped 4 notes" in result.stderr
    errors = [json.loads(line)["id"] for line in out.with_name("out.errors.jsonl").read_text().splitlines()]
    assert errors[0] == "note000" and "blank" in errors and errors[-1] == "note003"


def _cmdline(process, psutil) -> str:
    """A process's command line, or "" for one that ended meanwhile (a short-lived helper process)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_workers_exit_when_the_parent_is_killed(tiny_model_dir, tmp_path):
    psutil = pytest.importorskip("psutil")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"n{i}", "text": note_text(i)}) + "\n" for i in range(20_000)))
    child = subprocess.Popen([sys.executable, "-m", "medcode", "predict", str(src), "-o", str(tmp_path / "o.jsonl"),
                              "-m", str(tiny_model_dir), "-w", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent, partial = psutil.Process(child.pid), tmp_path / ".o.jsonl.partial"
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and not (len(workers) == 2 and partial.exists() and partial.stat().st_size):
        time.sleep(0.2)  # until both workers run and have scored a batch: they hold the model and notes
        workers = [p for p in parent.children(recursive=True) if "spawn_main" in _cmdline(p, psutil)]
    assert len(workers) == 2
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    gone, alive = psutil.wait_procs(workers, timeout=15)
    for process in alive:
        process.kill()
    assert not alive, "worker processes outlived their parent"


# --------------------------------------------------------------------------------------------- the engines
def test_a_note_that_fails_in_the_model_is_reported_not_raised(tiny_model, tmp_path, monkeypatch):
    from medcode.batch.engines import score_notes

    notes = [Note("a", "Fever."), Note("b", f"Pneumonia {MARKER}."), Note("c", "Chest pain.")]
    real = type(tiny_model).predict

    def predict(self, batch, top_k=30, n_process=1):
        if any(MARKER in n.text for n in batch):
            raise ValueError(f"spaCy choked on {batch[0].text}")
        return real(self, batch, top_k=top_k)

    monkeypatch.setattr(type(tiny_model), "predict", predict)
    results = score_notes(tiny_model, notes, 5)
    assert [r["id"] if isinstance(r, dict) else r for r in results] == ["a", "could not be scored (ValueError)", "c"]


def test_a_dead_dask_worker_is_one_line(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from medcode.batch import engines
    from medcode.errors import EngineError

    class KilledWorker(Exception):
        pass

    class Future:
        def result(self):
            raise KilledWorker("task on 4 workers that all died")

    class Client:
        def submit(self, *args, **kwargs):
            return Future()

    engine = engines.DaskEngine.__new__(engines.DaskEngine)
    engine.client, engine.model_dir, engine.model_id, engine.workers, engine.cluster = Client(), "m", None, 1, None
    with pytest.raises(EngineError, match="KilledWorker while scoring") as caught:
        list(engine.map([([Note("a", MARKER)], [Note("a", MARKER)])], 5))
    assert MARKER not in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def private_cluster():
    pytest.importorskip("distributed")
    from medcode.batch.engines import _private_cluster

    cluster, security = _private_cluster(1)
    yield cluster, security
    cluster.close()


def test_the_local_cluster_refuses_a_client_without_credentials(private_cluster):
    import socket
    import ssl

    from distributed import Client

    cluster, security = private_cluster
    address = cluster.scheduler_address
    assert address.startswith("tls://127.0.0.1:")
    with pytest.raises((OSError, TimeoutError)):
        Client(address.replace("tls://", "tcp://"), timeout=3)  # plain TCP: refused
    host, port = address.removeprefix("tls://").split(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    # TLS without a client certificate: the handshake (or the first read) fails
    with socket.create_connection((host, int(port)), timeout=5) as raw, pytest.raises((ssl.SSLError, OSError)), \
            context.wrap_socket(raw) as tls:
        tls.sendall(b"\x00" * 8)
        assert tls.recv(1) == b""
    with Client(cluster, security=security) as client:
        assert client.submit(sum, [1, 2]).result() == 3


def test_the_local_cluster_serves_no_dashboard(private_cluster):
    import urllib.error
    import urllib.request

    cluster, _ = private_cluster
    ports = {cluster.scheduler.http_server.port} | {8787}
    for port in ports:
        for path in ("/status", "/info/main/workers.html", "/json/index.html", "/health"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
                    assert response.status != 200, f"{port}{path} answers"
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            except (urllib.error.URLError, ConnectionError):
                pass  # nothing listens


def test_a_real_cluster_through_a_security_file(private_cluster, tiny_model, tiny_model_dir, tmp_path):
    """`--scheduler cluster.yaml`: the address and the client's certificates, as for a real cluster."""
    cluster, security = private_cluster
    for name, pem in (("ca.pem", security.tls_ca_file), ("client.pem", security.tls_client_cert),
                      ("client-key.pem", security.tls_client_key)):
        (tmp_path / name).write_text(pem)
    config = tmp_path / "cluster.yaml"
    config.write_text(f"address: {cluster.scheduler_address}\ntls-ca-file: ca.pem\ntls-cert: client.pem\n"
                      "tls-key: client-key.pem\n")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in synthetic_notes(5, seed=3)))
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    predict_file(src, local, tiny_model)
    predict_file(src, remote, model_dir=tiny_model_dir, engine="dask", scheduler=str(config))
    assert remote.read_text() == local.read_text()


# -------------------------------------------------------------------------------------------- code lists
def test_excludes1_conflicts_of_thousands_of_codes_stay_small():
    """One entry per code and note, not per pair (its time is a `make bench` figure, not a test)."""
    from medcode.codesets.excludes import Excludes1Index

    index = Excludes1Index({"M00": ["any other M00 code (M00.-)"]}, {})
    codes = [f"M00.{i:03d}" for i in range(3000)] * 2  # every code names every other, and each is repeated
    conflicts = index.grouped_conflicts(codes)
    assert len(conflicts) == 3000 and all(len(c["codes"]) == 3000 for c in conflicts)
    assert index.grouped_conflicts(["M00.001", "J18.9"]) == []


# ----------------------------------------------------------------------------------- hypothesis properties
_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                            lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                             children, max_size=3),
                            max_leaves=8)
_rows = st.fixed_dictionaries({}, optional={"id": _json_values | st.text(max_size=30),
                                            "text": st.text(max_size=60).map(lambda t: f"{t} {MARKER}"),
                                            "codes": _json_values})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_rows | st.binary(max_size=40).map(lambda b: b + MARKER.encode()), max_size=8))
def test_jsonl_reader_never_raises_and_never_reports_text(rows):
    lines = [r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")
             for r in rows]
    for item in read_jsonl(lines, "x.jsonl"):
        assert isinstance(item, (Note, NoteError))
        if isinstance(item, NoteError):
            assert MARKER not in item.id + item.reason
        else:
            assert item.id.isprintable() and 0 < len(item.id) <= 200 and item.text.encode("utf-8")


_csv_pieces = st.sampled_from(['"', ",", "\n", "\r\n", '""', f" {MARKER} ", "a", "id", "\x00", "é"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=st.lists(_csv_pieces, max_size=40).map("".join), latin1=st.booleans())
def test_csv_reader_never_raises_and_names_broken_rows_by_line(tmp_path, body, latin1):
    path = tmp_path / "x.csv"
    data = ("id,text\n" + body).encode("latin-1" if latin1 else "utf-8", "replace")
    path.write_bytes(data)
    for item in read_csv(path):
        assert isinstance(item, (Note, NoteError))
        if isinstance(item, NoteError):
            assert MARKER not in item.reason
            assert MARKER not in item.id or not item.reason.startswith(("row has", "row cannot"))
