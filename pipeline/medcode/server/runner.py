"""Run the application under uvicorn: in the foreground (``medcode serve``) or in a thread (tests, bench).

The socket is bound here, before uvicorn starts, so a busy port is a one-line error and ``--port 0``
gets a free port whose number the printed address then carries.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from medcode.errors import InputError


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one).

    Raises:
        InputError: when the address cannot be bound (in use, not this machine's), naming it.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise InputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    sock.setblocking(False)
    return sock


def _config(app, log_level: str = "warning"):
    import uvicorn

    # access_log off: medcode's own access log (medcode.server.security) leaves out query strings,
    # which can hold the token; the server header says nothing about the software.
    return uvicorn.Config(app, access_log=False, log_level=log_level, server_header=False, date_header=False,
                          proxy_headers=False, timeout_keep_alive=5, lifespan="on")


def serve(app, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve until interrupted (Ctrl-C), on an already bound socket."""
    import uvicorn

    uvicorn.Server(_config(app, log_level)).run(sockets=[sock])


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yields its base URL (``http://127.0.0.1:PORT``) and stops it after.

    Raises:
        RuntimeError: when the server has not started within ``timeout`` seconds.
    """
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="medcode-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    bound = sock.getsockname()
    try:
        yield f"http://{bound[0] if ':' not in bound[0] else f'[{bound[0]}]'}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
