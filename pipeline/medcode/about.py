"""Project facts that other modules read: the single source of truth.

Everything here is a plain constant so that importing it has no side effect.
"""

__version__ = "0.2.0"

#: Code-system names, as they appear in every output.
CM = "ICD-10-CM"
PCS = "ICD-10-PCS"
SYSTEMS = (CM, PCS)

#: Releases of the code sets the knowledge base is built from.
CM_RELEASE = "ICD-10-CM FY2026 (April 1, 2026 update)"
PCS_RELEASE = "ICD-10-PCS FY2026"
RELEASE = {CM: CM_RELEASE, PCS: PCS_RELEASE}

#: Code-set releases as data (``medcode codes install``). The bundled release is the one above; its
#: name is what ``--release`` takes to choose it, and each code set's effective date decides which
#: release is in force on a date of service.
BUNDLED_RELEASE_NAME = "FY2026"
BUNDLED_EFFECTIVE = {CM: "2026-04-01", PCS: "2025-10-01"}
#: Environment variables: the folder under which releases are installed (default: the platform's user
#: data folder), and the release to use when ``--release`` is not given.
HOME_ENV = "MEDCODE_HOME"
RELEASE_ENV = "MEDCODE_RELEASE"
#: The date of service when ``--date-of-service`` is not given (``medcode predict`` sets both for its workers).
DATE_OF_SERVICE_ENV = "MEDCODE_DATE_OF_SERVICE"
#: Fixed names inside ``$MEDCODE_HOME`` and a release folder.
RELEASES_DIR = "releases"
RELEASE_FILE = "release.json"
#: Version of what a release folder stores (a folder of another format is refused with a message).
RELEASE_FORMAT = 1


def release_title(system: str, fiscal_year: int, april: bool = False) -> str:
    """The name of one code set's release as outputs show it (``ICD-10-PCS FY2025``).

    An April 1 update of fiscal year ``Y`` takes effect on April 1 of calendar year ``Y``.
    """
    return f"{system} FY{fiscal_year}" + (f" (April 1, {fiscal_year} update)" if april else "")

#: Version of what a model folder stores. Bump it whenever a stored class gains or loses state:
#: a model of another format is refused on load with a message, instead of failing mid-prediction.
MODEL_FORMAT = 8  # 8: the ranker's engine_category_rank feature

#: Fixed artifact names inside a model folder (scispaCy style: one name, one meaning).
META_FILE = "meta.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
NLP_DIR = "nlp"
#: Learned state of the note model and rankers: settings as JSON, arrays as .npz (no pickle anywhere).
STATE_FILE = "model.json"
ARRAYS_FILE = "model.npz"
CODES_FILE = "codes.tsv.gz"
QUERIES_FILE = "queries.json.gz"
EXCLUDES1_FILE = "excludes1.json.gz"

#: Name of the spaCy span group that holds code mentions.
MENTIONS_KEY = "medcode_mentions"
#: The longest alias, in content words: the matcher's window and the lexicon's cut-off.
MAX_ALIAS_WORDS = 6

#: Assertion statuses a mention can carry (none: affirmed, current, the patient's own).
NEGATED, HISTORICAL, FAMILY, HYPOTHETICAL, UNCERTAIN = "NEGATED", "HISTORICAL", "FAMILY", "HYPOTHETICAL", "UNCERTAIN"
STATUSES = (NEGATED, HISTORICAL, FAMILY, HYPOTHETICAL, UNCERTAIN)
#: The label of a mention with no status, where one is needed (test cases, reports).
AFFIRMED = "AFFIRMED"

#: Suggestions per note and code system that ``medcode predict`` writes, and that ``medcode evaluate``
#: scores, so an audit measures exactly what coders are shown.
DEFAULT_TOP_K = 30

#: Environment variable that points at a model folder to use by default.
MODEL_ENV = "MEDCODE_MODEL"
#: Environment variable holding the only model id (SHA-256 of its manifest) medcode may load.
EXPECT_MODEL_ENV = "MEDCODE_EXPECT_MODEL"

#: The longest note medcode scores, in characters: spaCy's ``nlp.max_length`` (a longer text is refused
#: by the pipeline, so ``--max-chars`` cannot go above it).
MAX_NOTE_CHARS = 1_000_000
DEFAULT_MODEL_NAME = "default"
