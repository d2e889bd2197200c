"""The server's state, shared by every request: settings, model, code sets, decisions store, worklist."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from medcode.decisions.store import DecisionStore
from medcode.server.scoring import CodeSets, Scorer
from medcode.server.settings import ServerSettings
from medcode.server.worklist import Worklist


class ApiError(Exception):
    """A request the API refuses: answered as ``{"error": message, "code": code, ...extra}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class Workbench:
    """Everything a request handler needs (one per server process)."""

    settings: ServerSettings
    scorer: Scorer
    codesets: CodeSets
    store: DecisionStore
    worklist: Worklist


def get_bench(request: Request) -> Workbench:
    """FastAPI dependency: the server's :class:`Workbench`."""
    return request.app.state.bench
