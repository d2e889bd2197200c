"""Where decisions are kept: :class:`DecisionStore`, over SQLite (the default) or any SQLAlchemy URL.

SQLite runs in WAL mode (readers never wait for the writer) with a 30 s busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE``, so two processes writing the same file queue for the lock
instead of failing half-way; within one process writes also take a lock, so threads queue in order.
PostgreSQL handles concurrent writers itself. A decision carries an id chosen by its client, unique in
the table: a request retried after a lost answer records nothing twice, and concurrent coders lose nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, func, insert, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from medcode.decisions.schema import ACTIONS, ANSWER, DONE, REOPENED, StoreError, completions, decisions, migrate

logger = logging.getLogger(__name__)

#: The SQLite file's name beside a worklist ``notes.jsonl`` -> ``notes.decisions.sqlite``.
DB_SUFFIX = ".decisions.sqlite"
#: The file used when there is no worklist to put it beside.
DEFAULT_DB = "medcode-decisions.sqlite"
#: Seconds a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_SECONDS = 30


def note_hash(text: str) -> str:
    """SHA-256 of a note's text (hex): identifies the text a decision was made on without keeping it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_id() -> str:
    """A random decision or completion id."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def default_url(worklist: str | Path | None) -> str:
    """The SQLite file beside the worklist (``dev/`` -> ``dev.decisions.sqlite``), or in the working folder."""
    if worklist is None:
        return f"sqlite:///{Path(DEFAULT_DB).resolve()}"
    path = Path(worklist).resolve()
    name = path.name if path.is_dir() else path.stem
    return f"sqlite:///{path.parent / (name + DB_SUFFIX)}"


def normalize_url(url: str) -> URL:
    """A SQLAlchemy URL from what a user typed: a path is a SQLite file; ``postgresql://`` uses psycopg 3.

    Raises:
        StoreError: when the URL cannot be parsed.
    """
    if "://" not in url:
        return make_url(f"sqlite:///{Path(url).resolve()}")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"--db {url.split('@')[-1]!r}: not a database URL (e.g. sqlite:///decisions.sqlite "
                         "or postgresql://user@host/db)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory and not Path(url.database).parent.is_dir():
        raise StoreError(f"--db {url.database}: the folder {Path(url.database).parent} does not exist")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
                           **({"poolclass": StaticPool} if memory else {}))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own would defer the lock).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # A write takes the lock up front: upgrading a read lock later can fail with SQLITE_BUSY at once.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("medcode_write") else "BEGIN")

    return engine


def make_engine(url: URL) -> Engine:
    """An engine for the URL (SQLite set up for concurrent writers; others with connection checks)."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(f"--db {url.render_as_string(hide_password=True)}: no driver for it ({exc}); "
                         "for PostgreSQL install medcode's server extra (psycopg)") from None


class DecisionStore:
    """Decisions and completed notes in a database (created or migrated on open).

    Args:
        url: a SQLAlchemy URL, or a path taken as a SQLite file.
        keep_text: keep each note's text with its decisions (off: only its hash is kept).
        migrations: the schema migrations (tests pass their own).

    Raises:
        StoreError: when the database cannot be opened or was written by a newer medcode.
    """

    def __init__(self, url: str, keep_text: bool = False, migrations: dict | None = None):
        self.url = normalize_url(url)
        self.keep_text = keep_text
        self.engine = make_engine(self.url)
        self._lock = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        with self._write() as conn:
            self.migrated = migrate(conn, migrations)
        if self.migrated:
            logger.info("decisions database %s: applied schema versions %s", self.display_url, self.migrated)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden (for messages and logs)."""
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._lock, self.engine.connect() as conn:
                conn.execution_options(medcode_write=True)
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise StoreError(f"decisions database {self.display_url}: {type(exc.orig).__name__}: "
                             f"{str(exc.orig).splitlines()[0] if str(exc.orig) else ''}") from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"decisions database {self.display_url}: {type(exc.orig).__name__}") from None

    def close(self) -> None:
        self.engine.dispose()

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (``wal``), ``None`` for other databases."""
        if self.dialect != "sqlite":
            return None
        with self._read() as conn:
            return conn.exec_driver_sql("PRAGMA journal_mode").scalar()

    # ------------------------------------------------------------------ writing
    def record(self, items: Iterable[dict]) -> list[str]:
        """Record decisions (see :func:`decision_row` for the fields); returns the ids newly recorded.

        A decision whose ``decision_id`` is already in the table (a retried request) is not recorded again.

        Raises:
            StoreError: for a decision missing a field or with an unknown action, or a database failure.
        """
        rows = list({row["decision_id"]: row for row in (self._decision_row(i) for i in items)}.values())
        if not rows:
            return []
        with self._write() as conn:
            return _insert_new(conn, decisions, rows, "decision_id")

    def _decision_row(self, item: dict) -> dict:
        missing = [k for k in ("note_id", "note_hash", "code", "system", "action", "coder") if not item.get(k)]
        if missing:
            raise StoreError(f"decision for note {item.get('note_id')!r}: missing {', '.join(missing)}")
        if item["action"] not in ACTIONS:
            raise StoreError(f"decision for note {item['note_id']!r}: unknown action {item['action']!r} "
                             f"(use {', '.join(ACTIONS)})")
        if item["action"] == ANSWER and not item.get("query_answer"):
            raise StoreError(f"decision for note {item['note_id']!r}: an answer needs the chosen code (query_answer)")
        row = {c.name: item.get(c.name) for c in decisions.columns if c.name != "id"}
        row["decision_id"] = str(item.get("decision_id") or new_id())
        row["created_at"] = item.get("created_at") or utcnow()
        row["note_text"] = item.get("note_text") if self.keep_text else None
        return row

    def complete(self, note_id: str, hash_: str, codes: list[str], coder: str, status: str = DONE,
                 model_id: str | None = None, release: dict | None = None, completion_id: str | None = None) -> dict:
        """Record that a note's final list was validated and marked done (or that it was reopened)."""
        if status not in (DONE, REOPENED):
            raise StoreError(f"completion status {status!r}: use {DONE} or {REOPENED}")
        row = {"completion_id": completion_id or new_id(), "note_id": note_id, "note_hash": hash_, "status": status,
               "codes": json.dumps(list(codes)), "coder": coder, "created_at": utcnow(), "model_id": model_id,
               "code_release": json.dumps(release) if release else None}
        with self._write() as conn:
            _insert_new(conn, completions, [row], "completion_id")
        return _completion_dict(row)

    # ------------------------------------------------------------------ reading
    def decisions(self, note_id: str | None = None, hash_: str | None = None, coder: str | None = None,
                  model_id: str | None = None) -> list[dict]:
        """Decisions in the order they were recorded, optionally of one note (and text), coder or model."""
        return list(self.iter_decisions(note_id, hash_, coder, model_id))

    def iter_decisions(self, note_id: str | None = None, hash_: str | None = None, coder: str | None = None,
                       model_id: str | None = None, by_note: bool = False, after_id: int = 0) -> Iterator[dict]:
        """Stream decisions (in recording order, or grouped by note with ``by_note``), a thousand rows at a time.

        ``after_id`` skips the rows up to that row id (paging through a large table).
        """
        query = select(decisions).where(decisions.c.id > after_id)
        for column, value in (("note_id", note_id), ("note_hash", hash_), ("coder", coder), ("model_id", model_id)):
            if value is not None:
                query = query.where(decisions.c[column] == value)
        query = query.order_by(*([decisions.c.note_id] if by_note else []), decisions.c.id)
        with self._read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield _decision_dict(row)

    def completions(self, note_id: str | None = None, hash_: str | None = None) -> list[dict]:
        """Completions (done / reopened) in recording order, optionally of one note."""
        query = select(completions).order_by(completions.c.id)
        if note_id is not None:
            query = query.where(completions.c.note_id == note_id)
        if hash_ is not None:
            query = query.where(completions.c.note_hash == hash_)
        with self._read() as conn:
            return [_completion_dict(row) for row in conn.execute(query).mappings()]

    def note_summaries(self) -> dict[tuple[str, str], dict]:
        """``{(note id, hash): {"decisions": n, "status": "done" | "reopened" | None}}`` for every note decided on."""
        out: dict[tuple[str, str], dict] = {}
        counted = select(decisions.c.note_id, decisions.c.note_hash, func.count()).group_by(
            decisions.c.note_id, decisions.c.note_hash)
        latest = select(func.max(completions.c.id)).group_by(completions.c.note_id, completions.c.note_hash)
        last_status = select(completions.c.note_id, completions.c.note_hash, completions.c.status).where(
            completions.c.id.in_(latest))
        with self._read() as conn:
            for note_id, hash_, n in conn.execute(counted):
                out[(note_id, hash_)] = {"decisions": n, "status": None}
            for note_id, hash_, status in conn.execute(last_status):
                out.setdefault((note_id, hash_), {"decisions": 0, "status": None})["status"] = status
        return out

    def count(self) -> int:
        """How many decisions the database holds."""
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(decisions)).scalar() or 0


def _insert_new(conn: Connection, table, rows: list[dict], key: str) -> list[str]:
    """Insert rows whose ``key`` is not in the table yet; returns the keys inserted."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        statement = dialect_insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
        return list(conn.execute(statement, rows).scalars())
    # Other databases: skip the keys already there (the unique constraint still guards a race).
    known = set(conn.execute(select(table.c[key]).where(table.c[key].in_([r[key] for r in rows]))).scalars())
    fresh = [r for r in rows if r[key] not in known]
    if fresh:
        conn.execute(insert(table), fresh)
    return [r[key] for r in fresh]


def _iso(value) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _decision_dict(row) -> dict:
    out = {k: v for k, v in dict(row).items() if v is not None}
    out["created_at"] = _iso(row["created_at"])
    return out


def _completion_dict(row) -> dict:
    out = dict(row)
    out.pop("id", None)
    out["codes"] = json.loads(out["codes"])
    out["code_release"] = json.loads(out["code_release"]) if out.get("code_release") else None
    out["created_at"] = _iso(out["created_at"])
    return out
