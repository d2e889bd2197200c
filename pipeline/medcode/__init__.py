"""medcode: suggest ICD-10-CM and ICD-10-PCS codes for clinical notes.

::

    import medcode
    coder = medcode.load()                      # the default model (or medcode.load("models/mine"))
    record = coder.suggest("Fracture of the right femoral neck.")
    frame = coder.suggest_many(df, text_col="text", id_col="id")   # one row per suggestion

Importing medcode reads no file and loads no model; :func:`load` does.
"""

from medcode.about import CM, PCS, RELEASE, SYSTEMS, __version__
from medcode.api import default_model_dir, list_models, load
from medcode.errors import InputError, MedcodeError, ModelError

__all__ = ["CM", "PCS", "RELEASE", "SYSTEMS", "InputError", "MedcodeError", "Medcoder", "ModelError", "__version__",
           "default_model_dir", "list_models", "load"]


def __getattr__(name: str):
    # Medcoder pulls in spaCy and scikit-learn: import it when asked for, not with the package.
    if name == "Medcoder":
        from medcode.coder import Medcoder

        return Medcoder
    raise AttributeError(f"module 'medcode' has no attribute {name!r}")
