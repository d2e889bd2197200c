"""``medcode serve`` as a user starts it: loopback only unless told, the token printed, refused without it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")

from tests.serverkit import write_worklist  # noqa: E402


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (read from /proc: no traffic sent anywhere)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                found.add(address)
    return found


class Served:
    """``medcode serve`` in a subprocess; its stderr lines in a queue."""

    def __init__(self, *args: str):
        env = {k: v for k, v in os.environ.items() if k != "MEDCODE_TOKEN"}
        self.proc = subprocess.Popen([sys.executable, "-m", "medcode", "serve", "--port", "0", *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.output: list[str] = []

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in: {''.join(self.output)}") from None
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def fetch(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_binds_loopback_prints_the_token_and_refuses_requests_without_it(tiny_model_dir, tmp_path):
    worklist = write_worklist(tmp_path)
    served = Served("-m", str(tiny_model_dir), "--worklist", str(worklist))
    try:
        served.wait_for(r"3 notes to review, decisions in sqlite:///.*worklist\.decisions\.sqlite")
        match = served.wait_for(r"open\s+http://127\.0\.0\.1:(\d+)/\?token=(\S+)")
        port, token = int(match.group(1)), match.group(2)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        base = f"http://127.0.0.1:{port}"
        assert fetch(f"{base}/health")[0] == 401
        assert fetch(f"{base}/health", "not-the-token")[0] == 401
        status, health = fetch(f"{base}/health", token)
        assert status == 200 and health["worklist"]["notes"] == 3
        assert fetch(f"{base}/v1/session?token={token}")[0] == 200
        assert (tmp_path / "worklist.decisions.sqlite").exists()
        served.wait_for(r"medcode\.server\.access: GET /health 401 [\d.]+ ms")
        served.wait_for(r"medcode\.server\.access: GET /v1/session 200 [\d.]+ ms")
    finally:
        assert served.stop() in (0, -signal.SIGINT, 130)
    log = [line for line in served.output if "medcode.server.access" in line]
    assert log and not any("token" in line for line in log)  # no query string, so no token, in the access log
    assert "warning" not in "".join(served.output)


def test_serve_on_all_interfaces_warns(tiny_model_dir, tmp_path):
    served = Served("-m", str(tiny_model_dir), "--host", "0.0.0.0", "--db", str(tmp_path / "d.sqlite"))
    try:
        match = served.wait_for(r"open\s+http://127\.0\.0\.1:(\d+)/")
        served.wait_for(r"warning: serving on 0\.0\.0\.0, not only this machine")
        assert listening_addresses(int(match.group(1))) == {"00000000"}
    finally:
        served.stop()


def test_a_busy_port_is_a_one_line_error(tmp_path):
    from medcode.server.runner import bind

    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "medcode", "serve", "--port", str(port), "--db",
                                 str(tmp_path / "d.sqlite")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 4 and "cannot listen there" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        sock.close()
