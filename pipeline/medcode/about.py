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

#: Version of what a model folder stores. Bump it whenever a stored class gains or loses state:
#: a model of another format is refused on load with a message, instead of failing mid-prediction.
MODEL_FORMAT = 6

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
DEFAULT_MODEL_NAME = "default"
