"""Coder decisions kept in a database: accept, reject, add, answer a physician query, mark a note done.

* :mod:`medcode.decisions.schema`: the tables and the migrations that create and upgrade them.
* :mod:`medcode.decisions.store`: :class:`~medcode.decisions.store.DecisionStore`, SQLite (WAL) or any
  SQLAlchemy URL (PostgreSQL for a team).
* :mod:`medcode.decisions.state`: what a note's decisions add up to (latest action per code, final list).
* :mod:`medcode.decisions.export`: the feedback file ``medcode train --feedback`` reads.

A decision keeps the note id and the SHA-256 of the note's text, never the text itself unless the
server was started with ``--keep-text``.
"""
