"""Who may talk to the server, and what it writes to its logs.

:class:`Guard` wraps the whole application (an ASGI middleware, outermost but for the error handler):

* **Host check** against DNS rebinding: a page on another site whose name was re-pointed at 127.0.0.1
  sends its own name as ``Host``; only loopback names, the served address and ``--allow-host`` names
  are answered.
* **Access token** on every request, as Jupyter does: ``Authorization: Bearer TOKEN`` (the API), or the
  page URL's ``?token=`` (a GET), which sets an HttpOnly, SameSite=Strict cookie and redirects to the
  same URL without the token, so it stays out of the address bar and the browser history.
* **Cross-site requests**: a request whose ``Origin`` is not the server's own is refused; a state-changing
  request authenticated by the cookie must also carry the ``X-Medcode-Request`` header, which a page on
  another site cannot add without a CORS preflight this server never grants.
* **Logs without note text**: one access line per request (method, path without query string, status,
  milliseconds), and an unexpected error is logged as its type and stack, not its message (which could
  quote a note), and answered as a plain 500.
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import URL, Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcode.server.settings import ServerSettings

access_log = logging.getLogger("medcode.server.access")
error_log = logging.getLogger("medcode.server.error")

#: The header a cookie-authenticated state-changing request must carry (the page's script adds it).
CSRF_HEADER = "x-medcode-request"
#: Paths that are pages: a token in their URL is swapped for a cookie and a redirect.
PAGES = ("/", "/docs")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # Note text must not linger in a browser or proxy cache.
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
]


def cookie_name(scope: Scope) -> str:
    """The token cookie's name: per port, since browsers share cookies between ports of one host."""
    server = scope.get("server") or ("", 0)
    return f"medcode_token_{server[1]}"


def host_name(host_header: str) -> str:
    """``Host`` header without its port, lower case (``[::1]:8000`` -> ``[::1]``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def error_response(status: int, code: str, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    """The JSON every refusal and error has: ``{"error": message, "code": code, ...extra}``."""
    return JSONResponse({"error": message, "code": code, **extra}, status_code=status, headers=headers)


class Guard:
    """Host, Origin and token checks, access log and last-resort error handling (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: ServerSettings):
        self.app = app
        self.settings = settings
        self.hosts = settings.host_names()
        self.any_host = "*" in self.hosts
        self.extra_hosts = {h.lower() for h in settings.allowed_hosts if h != "*"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            refusal = self.check(scope)
            await (refusal or self.app)(scope, self.limited(receive), send_with_headers)
        except Exception as exc:  # the last resort: no exception message (it may quote a note) reaches a log
            error_log.error("internal error on %s %s: %s\n%s", scope["method"], scope["path"], type(exc).__name__,
                            "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            if not state["status"]:
                await error_response(500, "internal", "internal error (logged on the server without note text)")(
                    scope, receive, send_with_headers)
        finally:
            access_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], state["status"],
                            1000 * (time.perf_counter() - started))

    def limited(self, receive: Receive) -> Receive:
        """``receive`` that refuses a body growing past the limit (one sent without a Content-Length)."""
        limit, seen = self.settings.max_body_bytes, [0]

        async def receive_limited() -> Message:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                # An HTTPException passes through FastAPI's body parsing and becomes a JSON 413.
                raise HTTPException(413, f"the request body is over the limit of {limit:,} bytes")
            return message

        return receive_limited

    def check(self, scope: Scope) -> Response | None:
        """A refusal (or the token-to-cookie redirect) for a request, or ``None`` to let it through."""
        headers = Headers(scope=scope)
        method = scope["method"]
        host = headers.get("host", "")
        if not self.any_host and host_name(host) not in self.hosts:
            return error_response(403, "host_not_allowed", f"Host {host_name(host)!r} is not served here: open the "
                                  "address the server printed (or start it with --allow-host)")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.settings.max_body_bytes:
            return error_response(413, "body_too_large", f"the request body has {int(length):,} bytes, over the limit "
                                  f"of {self.settings.max_body_bytes:,} (send fewer or shorter notes per request)")
        origin = headers.get("origin")
        if origin is not None and not self.same_origin(origin, host):
            return error_response(403, "cross_origin", "cross-site request refused (Origin is not this server)")
        if headers.get("sec-fetch-site") == "cross-site" and method not in SAFE_METHODS:
            return error_response(403, "cross_origin", "cross-site request refused")
        return self.check_token(scope, headers, method)

    def same_origin(self, origin: str, host: str) -> bool:
        """Whether a request's ``Origin`` is this server: its own ``Host``, or an ``--allow-host`` name (the
        public name of a reverse proxy that does not pass ``Host`` on)."""
        if origin == "null":  # sandboxed frames, file: pages
            return False
        parts = urlsplit(origin)
        return parts.netloc.lower() == host.lower() or (parts.hostname or "").lower() in self.extra_hosts

    def check_token(self, scope: Scope, headers: Headers, method: str) -> Response | None:
        token = self.settings.token
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and secrets.compare_digest(auth[7:].strip().encode(), token.encode()):
            return None
        cookies = _cookies(headers)
        if secrets.compare_digest(cookies.get(cookie_name(scope), "").encode(), token.encode()):
            if method not in SAFE_METHODS and headers.get(CSRF_HEADER) != "1":
                return error_response(403, "csrf", f"a request authenticated by cookie must carry {CSRF_HEADER}: 1")
            return None
        query = QueryParams(scope.get("query_string", b""))
        if method in SAFE_METHODS and secrets.compare_digest(query.get("token", "").encode(), token.encode()):
            if scope["path"] in PAGES:
                return self.token_redirect(scope, query)
            return None
        return self.unauthorized(scope, bool(auth or query.get("token")))

    def token_redirect(self, scope: Scope, query: QueryParams) -> Response:
        """Swap the URL's token for a cookie: the token leaves the address bar and the history."""
        rest = urlencode([(k, v) for k, v in query.multi_items() if k != "token"])
        response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
        response.set_cookie(cookie_name(scope), self.settings.token, httponly=True, samesite="strict", path="/",
                            secure=URL(scope=scope).scheme == "https")
        return response

    def unauthorized(self, scope: Scope, wrong: bool) -> Response:
        message = ("the access token is wrong" if wrong else "an access token is needed") + (
            ": open the page address the server printed (with ?token=...), or send Authorization: Bearer TOKEN")
        if scope["path"] in PAGES:
            return HTMLResponse(f"<!doctype html><title>medcode: token needed</title><p>{message}</p>", status_code=401)
        return error_response(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _cookies(headers: Headers) -> dict[str, str]:
    from starlette.requests import cookie_parser

    return cookie_parser(headers.get("cookie", ""))
