"""Request and response bodies of the HTTP API (they are also its OpenAPI schema, shown at ``/docs``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medcode.decisions.schema import ACTIONS

NoteId = Field(min_length=1, max_length=200, description="The note's id (a file stem, a JSONL/CSV id).")
CodeField = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9.]+$", description="An ICD-10-CM or ICD-10-PCS code.")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = NoteId
    text: str = Field(description="The note's text.")


class SuggestIn(BaseModel):
    """One note (``text``, optional ``id``) or a batch (``notes``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Type 2 diabetes mellitus and arterial hypertension. Chest X-ray: right lower lobe pneumonia."},
        {"notes": [{"id": "a", "text": "Acute calculous cholecystitis."}, {"id": "b", "text": "Fever of 39 C."}],
         "top_k": 5}]})
    text: str | None = Field(None, description="One note's text (answered with one record).")
    id: str | None = Field(None, min_length=1, max_length=200, description="Its id (default: note).")
    notes: list[NoteIn] | None = Field(None, description="A batch of notes (answered with one record each).")
    top_k: int = Field(10, ge=1, le=100, description="Suggestions per code system.")


class Evidence(BaseModel):
    model_config = ConfigDict(extra="allow")
    start: int
    end: int
    text: str
    status: list[str] | None = Field(None, description="NEGATED, HISTORICAL, FAMILY, HYPOTHETICAL or UNCERTAIN.")


class Suggestion(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    system: str
    score: float = Field(description="Calibrated: about that share of such suggestions were right.")
    description: str
    billable: bool
    evidence: list[Evidence]
    source: str = Field(description="mention, related-mention, classifier or neighbours.")
    query: dict | None = Field(None, description="A physician query: question and the more specific codes.")
    warning: str | None = None
    excludes1: list[str] | None = Field(None, description="Codes of the list it cannot be reported with.")


class Record(BaseModel):
    """What ``medcode suggest --json`` prints for one note."""

    model_config = ConfigDict(extra="allow")
    id: str
    suggestions: list[Suggestion]
    excluded: list[dict] = Field(description="Codes set aside (every mention negated or a relative's), with why.")
    conflicts: list[dict] = Field(description="Excludes1 pairs among the suggestions.")
    release: dict[str, str]


class Records(BaseModel):
    results: list[Record]


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"codes": ["E11.9", "E10.9", "S72.001"]}]})
    codes: list[str] = Field(min_length=1, description="Codes as a claim would carry them.")


class DecisionIn(BaseModel):
    """One coder decision on one code of one note."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note_id": "S0004-06142005000500011-1", "code": "J18.9", "action": "accept", "coder": "ana", "rank": 1}]})
    decision_id: str | None = Field(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                    description="Chosen by the client so a retried request is recorded once.")
    note_id: str = NoteId
    note_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                                  description="SHA-256 of the note text (for a note not in the worklist).")
    text: str | None = Field(None, description="The note text, for a note not in the worklist: hashed, and kept "
                                               "only when the server keeps text.")
    code: str = CodeField
    action: Literal[ACTIONS] = Field(description="accept, reject, add, answer (a physician query), query (raise "
                                                 "one), undo.")
    query_answer: str | None = Field(None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9.]+$",
                                     description="For answer: the more specific code chosen.")
    coder: str | None = Field(None, min_length=1, max_length=100, description="Default: the server's --coder.")
    rank: int | None = Field(None, ge=1, le=100000, description="The code's rank in its system when decided.")
    score: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = Field(None, max_length=32)


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decisions: list[DecisionIn] = Field(min_length=1)


class Recorded(BaseModel):
    recorded: int = Field(description="Decisions newly recorded.")
    duplicates: int = Field(description="Decisions whose decision_id was already recorded (retries).")
    decision_ids: list[str]


class PasteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"notes": [{"text": "Fracture of the right femoral neck after a fall at home."}]}]})
    notes: list[PastedNote] = Field(min_length=1)


class PastedNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, min_length=1, max_length=200)
    text: str


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coder: str | None = Field(None, min_length=1, max_length=100)


class Problem(BaseModel):
    error: str = Field(description="What is wrong, naming the note, field or limit.")
    code: str = Field(description="A stable identifier of the kind of error.")


PasteIn.model_rebuild()
