"""The coder workbench: ``medcode serve``, an HTTP API and a review page over one loaded model.

* :mod:`medcode.server.app`: :func:`~medcode.server.app.create_app`, the FastAPI application.
* :mod:`medcode.server.api`: the versioned API (``/v1/suggest``, ``/v1/codes``, ``/v1/decisions``, ``/health``).
* :mod:`medcode.server.review`: the worklist and each note's review (decisions, final list, done).
* :mod:`medcode.server.security`: access token, Host and Origin checks, access log without note text.
* :mod:`medcode.server.settings`, :mod:`~medcode.server.worklist`, :mod:`~medcode.server.scoring`,
  :mod:`~medcode.server.docs`, :mod:`~medcode.server.runner`: settings, notes, the model, the API
  documentation page, and running uvicorn (in the foreground, or in a thread for tests and the bench).

Everything the page needs (``static/``) is served by the server itself: it works offline.
"""
