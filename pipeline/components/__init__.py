"""spaCy components of the medcode pipeline, one module each.

Importing this package registers the ``medcode_*`` factories and the tokenizer with spaCy; it has no
other effect (no file is read until a component is initialised or loaded).
"""

from pipeline.components import context, mentions, sentences, tokenizer  # noqa: F401 (registration)
