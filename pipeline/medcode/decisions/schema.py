"""The decisions database: its tables and the migrations that create and upgrade them.

Every table is prefixed ``medcode_`` so a team can keep them in a PostgreSQL database it shares with other
tools. ``medcode_schema`` holds one row per migration applied; :func:`migrate` applies the missing ones in
order, inside one transaction that holds a lock, so two servers starting on one database at once do not
both run a migration. A database written by a newer medcode (a version this code does not know) is
refused rather than written to.

Decisions are an append-only log: a later decision on the same note and code supersedes an earlier one
(see :mod:`medcode.decisions.state`), so nothing a coder did is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection

from medcode.about import __version__
from medcode.errors import MedcodeError

#: Actions a decision can record.
ACCEPT, REJECT, ADD, ANSWER, QUERY, UNDO = "accept", "reject", "add", "answer", "query", "undo"
ACTIONS = (ACCEPT, REJECT, ADD, ANSWER, QUERY, UNDO)
#: Completion statuses: a note's final list was validated and marked done, or reopened.
DONE, REOPENED = "done", "reopened"

metadata = MetaData()
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")

schema_versions = Table(
    "medcode_schema", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("medcode_version", String(32), nullable=False),
)

decisions = Table(
    "medcode_decisions", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    # Chosen by the client: a retried request carries the same id and is recorded once.
    Column("decision_id", String(64), nullable=False, unique=True),
    Column("note_id", String(200), nullable=False),
    Column("note_hash", String(64), nullable=False),
    Column("note_text", Text),  # only with --keep-text
    Column("code", String(16), nullable=False),
    Column("system", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("query_answer", String(16)),
    Column("coder", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_id", String(64)),
    Column("code_release", String(100)),
    # Where the model ranked the code (within its system) when the coder decided: the auditor's
    # precision by rank needs it, and the ranking itself is not kept.
    Column("rank", Integer),
    Column("score", Float),
    Column("source", String(32)),
    Index("ix_medcode_decisions_note", "note_id", "note_hash"),
    Index("ix_medcode_decisions_model", "model_id"),
    Index("ix_medcode_decisions_coder", "coder"),
)

completions = Table(
    "medcode_completions", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("completion_id", String(64), nullable=False, unique=True),
    Column("note_id", String(200), nullable=False),
    Column("note_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("codes", Text, nullable=False),  # JSON list of the validated final codes
    Column("coder", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_id", String(64)),
    Column("code_release", String(200)),
    Index("ix_medcode_completions_note", "note_id", "note_hash"),
)


class StoreError(MedcodeError):
    """The decisions database cannot be used (unreachable, or written by a newer medcode)."""

    exit_code = 4


def _v1(conn: Connection) -> None:
    for table in (decisions, completions):
        table.create(conn, checkfirst=True)


#: ``version -> (description, function)``; append, never edit an applied one.
MIGRATIONS: dict[int, tuple[str, Callable[[Connection], None]]] = {
    1: ("decisions and completions", _v1),
}


def _lock(conn: Connection) -> None:
    """Serialise migrations between processes (SQLite's write transaction is already exclusive)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7261001)"))


def schema_version(conn: Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    schema_versions.create(conn, checkfirst=True)
    return conn.execute(select(func.max(schema_versions.c.version))).scalar() or 0


def migrate(conn: Connection, migrations: dict | None = None) -> list[int]:
    """Bring the database to the latest schema, in the caller's transaction.

    Args:
        conn: a connection inside a write transaction.
        migrations: the migrations to apply (default :data:`MIGRATIONS`; tests pass their own).

    Returns:
        The versions applied (empty when the schema was current).

    Raises:
        StoreError: when the database has a version this medcode does not know.
    """
    migrations = migrations or MIGRATIONS
    _lock(conn)
    current, latest = schema_version(conn), max(migrations)
    if current > latest:
        raise StoreError(f"the decisions database has schema version {current}, newer than this medcode "
                         f"({__version__}, schema {latest}) knows: upgrade medcode to use it")
    applied = []
    for version in range(current + 1, latest + 1):
        description, apply = migrations[version]
        apply(conn)
        conn.execute(insert(schema_versions).values(version=version, description=description,
                                                    applied_at=dt.datetime.now(dt.UTC),
                                                    medcode_version=__version__))
        applied.append(version)
    return applied
