"""The workbench server's speed: API latency for one note (p50/p95) and throughput for batches.

``run(default_model)`` serves the model as ``medcode serve`` does (uvicorn on 127.0.0.1, token checks,
a SQLite decisions database in a temporary folder) in this process, and times real HTTP requests from a
keep-alive client: ``POST /v1/suggest`` with one CodiEsp dev note at a time (latency), with batches of
8, 32 and 64 notes (notes per second), the same notes scored in-process by ``Medcoder.predict`` (what the
CLI does, so the HTTP overhead shows), and ``POST /v1/decisions`` one decision per request.

Usage: ``PYTHONPATH=pipeline python -m devtools.bench_server --default-model models/default``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
TOKEN = "bench-token"
BATCHES = (8, 32, 64)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class _Client:
    """A keep-alive HTTP client with the bearer token (one connection, like a service calling the API)."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def get(self, path: str) -> dict:
        self.conn.request("GET", path, headers=self.headers)
        return json.loads(self.conn.getresponse().read())

    def post(self, path: str, body: dict) -> dict:
        payload = json.dumps(body)
        try:
            self.conn.request("POST", path, payload, self.headers)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a connection idle for 5 s (while the in-process runs are timed): reconnect.
            self.conn.close()
            self.conn.request("POST", path, payload, self.headers)
            response = self.conn.getresponse()
        data = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {data.get('error')}")
        return data


def _latency(client: _Client, texts: list[str], requests: int) -> dict:
    """Milliseconds per ``/v1/suggest`` request of one note."""
    times = []
    for i in range(requests):
        start = time.perf_counter()
        client.post("/v1/suggest", {"text": texts[i % len(texts)], "id": f"n{i}"})
        times.append(1000 * (time.perf_counter() - start))
    return {"requests": requests, "p50_ms": round(_percentile(times, 0.5), 1), "p95_ms": round(_percentile(times, 0.95), 1),
            "mean_ms": round(statistics.fmean(times), 1)}


def _in_process(coder, texts: list[str], requests: int) -> dict:
    """The same notes scored without HTTP, one at a time (``Medcoder.suggest``, as ``medcode suggest``)."""
    times = []
    for i in range(requests):
        start = time.perf_counter()
        coder.suggest(texts[i % len(texts)], note_id=f"n{i}")
        times.append(1000 * (time.perf_counter() - start))
    return {"p50_ms": round(_percentile(times, 0.5), 1), "p95_ms": round(_percentile(times, 0.95), 1)}


def _throughput(client: _Client, coder, texts: list[str]) -> dict:
    """Notes per second through ``/v1/suggest`` batches, and through ``Medcoder.predict`` on the same batches."""
    from medcode.notes import Note

    out = {}
    for size in BATCHES:
        batches = [texts[i:i + size] for i in range(0, len(texts) - size + 1, size)] or [texts[:size]]
        start = time.perf_counter()
        for b, batch in enumerate(batches):
            client.post("/v1/suggest", {"notes": [{"id": f"b{b}-{i}", "text": t} for i, t in enumerate(batch)]})
        api = sum(map(len, batches)) / (time.perf_counter() - start)
        start = time.perf_counter()
        for b, batch in enumerate(batches):
            coder.predict([Note(f"b{b}-{i}", t) for i, t in enumerate(batch)], top_k=10)
        direct = sum(map(len, batches)) / (time.perf_counter() - start)
        out[f"batch_{size}"] = {"notes": sum(map(len, batches)), "api_notes_per_s": round(api, 1),
                                "in_process_notes_per_s": round(direct, 1), "api_over_in_process": round(api / direct, 3)}
    return out


def _decisions(client: _Client, count: int = 500) -> dict:
    start = time.perf_counter()
    for i in range(count):
        client.post("/v1/decisions", {"decision_id": f"bench-{i:06d}", "note_id": "bench", "note_hash": "0" * 64,
                                      "code": "I10", "action": "accept", "coder": "bench"})
    return {"decisions": count, "per_s": round(count / (time.perf_counter() - start), 1)}


def run(default_model: str, corpus: str | Path | None = None, split: str = "dev", requests: int = 100) -> dict:
    """API latency (one note, p50/p95), batch throughput and decision writes, as a dict.

    Args:
        default_model: the model folder to serve.
        corpus: CodiEsp folder whose notes are sent (default: the repository's ``corpora/codiesp``).
        split: its split.
        requests: one-note requests timed.
    """
    from medcode.coder import Medcoder
    from medcode.corpus import load_notes
    from medcode.decisions.store import DecisionStore
    from medcode.server.app import create_app
    from medcode.server.runner import background_server
    from medcode.server.settings import ServerSettings

    notes, _ = load_notes(corpus or REPO / "corpora" / "codiesp", split)
    texts = [n.text for n in notes]
    coder = Medcoder.load(default_model)
    with tempfile.TemporaryDirectory(prefix="medcode-bench-server-") as workdir:
        store = DecisionStore(str(Path(workdir) / "decisions.sqlite"))
        app = create_app(coder, store, settings=ServerSettings(token=TOKEN, coder="bench"))
        with background_server(app) as base:
            client = _Client(base)
            # The code sets load in the background at start; time the steady state, not their loading.
            deadline = time.monotonic() + 300
            while client.get("/health")["code_sets"] != "ready" and time.monotonic() < deadline:
                time.sleep(0.5)
            for text in texts[:5]:  # warm-up: first calls pay for lazily built tables
                client.post("/v1/suggest", {"text": text})
                coder.suggest(text)
            report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                      "notes": f"{Path(corpus or 'corpora/codiesp').name}:{split}, {len(texts)} notes, "
                               f"mean {statistics.fmean(map(len, texts)):.0f} characters",
                      "one_note_api": _latency(client, texts, requests),
                      "one_note_in_process": _in_process(coder, texts, requests),
                      "batches": _throughput(client, coder, texts),
                      "decisions_sqlite": _decisions(client)}
            client.conn.close()
        store.close()
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default-model", default=None)
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    from medcode.api import default_model_dir

    print(json.dumps(run(args.default_model or str(default_model_dir()), args.corpus, args.split, args.requests),
                     indent=2))


if __name__ == "__main__":
    main()
