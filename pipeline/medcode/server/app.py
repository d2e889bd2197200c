"""The FastAPI application: :func:`create_app` wires the model, code sets, store and worklist together.

Usage::

    from medcode.server.app import create_app
    app = create_app(medcode.load(), DecisionStore("decisions.sqlite"), Worklist.from_path("notes.jsonl", 100_000))
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from medcode.about import __version__
from medcode.decisions.schema import StoreError
from medcode.decisions.store import DecisionStore
from medcode.errors import CodeNotFoundError, InputError
from medcode.server import api, review
from medcode.server.bench import ApiError, Workbench
from medcode.server.docs import render_docs
from medcode.server.scoring import CodeSets, Scorer, ScoringError
from medcode.server.security import Guard, error_response
from medcode.server.settings import ServerSettings
from medcode.server.worklist import Worklist

STATIC = Path(__file__).parent / "static"
DESCRIPTION = ("Suggest ICD-10-CM and ICD-10-PCS codes for clinical notes, look codes up, validate a claim's codes, "
               "and record coder decisions. Note text is never logged.")


def create_app(coder, store: DecisionStore, worklist: Worklist | None = None, settings: ServerSettings | None = None,
               kb=None) -> FastAPI:
    """The workbench application.

    Args:
        coder: the loaded :class:`medcode.Medcoder` (loaded once; every request uses it).
        store: where decisions go.
        worklist: the notes to review (empty: coders paste notes in).
        settings: address, token, limits (defaults: loopback, a random token).
        kb: the code sets for look-ups and validation (default: the full FY2026 ones, loaded in the
            background when the server starts).
    """
    settings = settings or ServerSettings()
    bench = Workbench(settings, Scorer(coder, settings.max_chars), CodeSets(kb), store, worklist or Worklist())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        bench.codesets.warm_up()
        yield
        # Closing the pool lets SQLite fold its WAL back into the database file on a clean stop.
        bench.store.close()

    app = FastAPI(title="medcode", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=lifespan)
    app.state.bench = bench
    app.include_router(api.router)
    app.include_router(review.router)
    _pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _error_handlers(app)
    app.add_middleware(Guard, settings=settings)
    return app


def _pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))


def _error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error", "code"}``; validation errors name the field and never echo its value."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(ScoringError)
    async def scoring_error(_request: Request, exc: ScoringError):
        return error_response(422, "unscorable_note", str(exc), note=exc.note_id)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request", "; ".join(validation_problems(exc.errors())[:10]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        if exc.status_code == 413:
            return error_response(413, "body_too_large", str(exc.detail))
        message = "no such endpoint (see /docs)" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, f"http_{exc.status_code}", message)

    for kind, status, code in ((CodeNotFoundError, 404, "unknown_code"), (InputError, 422, "invalid_input"),
                               (StoreError, 503, "database")):
        app.add_exception_handler(kind, _simple(status, code))


def _simple(status: int, code: str):
    async def handler(_request: Request, exc: Exception):
        return error_response(status, code, str(exc))

    return handler


def validation_problems(errors: list[dict]) -> list[str]:
    """``field: message`` for each validation error, without the value (it could be note text).

    A body that may take two shapes (one decision, or ``{"decisions": [...]}``) fails once per shape; the
    shape with the fewest errors is the one the client meant, and only its errors are shown.
    """
    branches: dict[str, list[tuple]] = {}
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        branch = loc[0] if loc and isinstance(loc[0], str) and loc[0][:1].isupper() else ""
        branches.setdefault(branch, []).append((loc[1:] if branch else loc, error.get("msg", "invalid")))
    chosen = min(branches.values(), key=len) if branches else []
    return [f"{'.'.join(map(str, loc)) or 'body'}: {message}" for loc, message in chosen]
