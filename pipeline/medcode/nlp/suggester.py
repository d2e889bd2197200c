"""``medcode_suggester``: the ranked codes of a note, as ``doc._.medcode_suggestions``.

The last component of a model folder's pipeline. Loaded by ``spacy.load("<model>/nlp")`` it reads the
rest of the model folder (after checking its manifest) and sets, for each doc, the record that
``medcode suggest --json`` prints: suggestions, codes set aside, Excludes1 conflicts, releases.
:class:`medcode.Medcoder` binds it to the model it has already loaded instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import ensure_path, minibatch

from medcode.about import MODEL_FORMAT

#: The doc extension that holds the record.
EXTENSION = "medcode_suggestions"
#: What the component writes into its own folder: a pointer to the model folder it reads.
SETTINGS_FILE = "suggester.json"
#: Suggestions per code system when the caller does not say (``medcode suggest``'s default).
DEFAULT_SUGGESTIONS = 10

if not Doc.has_extension(EXTENSION):
    Doc.set_extension(EXTENSION, default=None)


@Language.factory(
    "medcode_suggester",
    assigns=[f"doc._.{EXTENSION}"],
    requires=["doc.spans"],
    default_config={"top_k": DEFAULT_SUGGESTIONS},
)
def make_suggester(nlp: Language, name: str, top_k: int) -> SuggesterComponent:
    return SuggesterComponent(name, top_k=top_k)


def bind_engine(nlp: Language, suggester) -> None:
    """Give the suggester the engine index's 7th characters (for the encounter query)."""
    if "medcode_engine" in nlp.pipe_names:
        engine = nlp.get_pipe("medcode_engine")
        suggester.seventh = engine.seventh_of


class SuggesterComponent:
    """Runs a model's learned stages (:class:`medcode.suggestions.Suggester`) on processed docs.

    Args:
        name: the component name.
        top_k: suggestions per code system.
    """

    def __init__(self, name: str = "medcode_suggester", *, top_k: int = DEFAULT_SUGGESTIONS, nlp=None):
        self.name = name
        self.top_k = top_k
        self.nlp = nlp
        self.suggester = None  # set by from_disk() or bind(): the learned state is not made here

    def bind(self, suggester) -> SuggesterComponent:
        """Use an already loaded :class:`medcode.suggestions.Suggester`."""
        self.suggester = suggester
        return self

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs, batch_size: int = 64):
        """Score docs a batch at a time (the note model's signals are computed per batch)."""
        from medcode.mentions import doc_mentions

        if self.suggester is None:
            raise ValueError("medcode_suggester has no model: load the pipeline from a model folder's nlp/")
        for batch in minibatch(docs, size=batch_size):
            texts = [doc.text for doc in batch]
            ranked = self.suggester.rank(texts, [doc_mentions(doc, text) for doc, text in zip(batch, texts)], self.top_k)
            for doc, by_system in zip(batch, ranked):
                doc._.set(EXTENSION, self.suggester.record("doc", by_system))
                yield doc

    def to_disk(self, path, *, exclude=()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        # The learned state lives beside nlp/ in the model folder; this folder only says so.
        settings = {"model_folder": "../..", "model_format": MODEL_FORMAT}
        (path / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")

    def from_disk(self, path, *, exclude=()) -> SuggesterComponent:
        from medcode.storage import load_suggester

        settings = json.loads((Path(path) / SETTINGS_FILE).read_text("utf-8"))
        self.suggester = load_suggester((Path(path) / settings["model_folder"]).resolve())
        if self.nlp is not None:
            bind_engine(self.nlp, self.suggester)
        return self
