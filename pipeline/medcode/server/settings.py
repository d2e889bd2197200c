"""What ``medcode serve`` was started with: address, access token, request limits, coder, text policy."""

from __future__ import annotations

import getpass
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, field

#: Environment variable holding a fixed access token (a team's reverse proxy or script can then use it).
TOKEN_ENV = "MEDCODE_TOKEN"
#: Host names that always reach a loopback server.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
#: The address served unless ``--host`` says otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Suggestions per code system, as ``medcode suggest`` (``medcode.nlp.suggester.DEFAULT_SUGGESTIONS``,
#: not imported: that module loads spaCy, and settings are read before the model is).
DEFAULT_TOP_K = 10


def new_token() -> str:
    """A random access token (256 bits), unless ``$MEDCODE_TOKEN`` fixes one."""
    return os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(32)


def _default_coder() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "coder"


@dataclass
class ServerSettings:
    """Settings of one server process.

    Attributes:
        host: the address served (loopback unless ``--host``).
        port: the TCP port.
        token: the access token every request must carry.
        allowed_hosts: further ``Host`` header names to accept (``*`` accepts any), besides loopback
            names and the served address.
        max_chars: the longest note, in characters.
        max_batch: the most notes in one ``/v1/suggest`` or paste request.
        max_decisions: the most decisions in one ``/v1/decisions`` request.
        max_codes: the most codes in one ``/v1/codes/validate`` request.
        top_k: suggestions per code system on the review page (and ``/v1/suggest``'s default).
        coder: the coder name a decision gets when its request names none.
        keep_text: keep note text with decisions (off: only its SHA-256 is kept).
        model_path: the model folder (shown by ``/health``).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = field(default_factory=new_token, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    max_chars: int = 100_000
    max_batch: int = 64
    max_decisions: int = 1000
    max_codes: int = 200
    top_k: int = DEFAULT_TOP_K
    coder: str = field(default_factory=_default_coder)
    keep_text: bool = False
    model_path: str = ""

    @property
    def max_body_bytes(self) -> int:
        """The largest request body: a full batch of the longest notes, JSON-escaped, with room to spare."""
        return max(1 << 20, 2 * self.max_chars * self.max_batch + (1 << 20))

    def host_names(self) -> set[str]:
        """``Host`` header names this server answers to (lower case, without port)."""
        names = {n.lower() for n in LOOPBACK_NAMES} | {h.lower() for h in self.allowed_hosts}
        if not is_wildcard(self.host):
            names.add(self.host.lower())
            names.add(f"[{self.host.lower()}]")
        if not is_loopback(self.host):
            # Served beyond this machine: its own names are how colleagues reach it.
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        return names


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether an address (or name) only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
