"""One error hierarchy for medcode, and the exit code the command line gives each kind.

Every error a user can cause (a missing file, a malformed config, a model that fails its checks)
is a :class:`MedcodeError` whose message names the file, row or flag at fault; the CLI prints it as
one line and exits with the class's ``exit_code``. Anything else is a bug and keeps its traceback.

Exit codes (documented in the README):

====  ===============================================================
0     success
1     a check the user asked for failed (``codes validate``)
2     usage: an unknown option value or a missing argument
3     some notes of a batch were skipped (the others were scored)
4     an input file, config or option value cannot be used
5     a model folder cannot be used (missing, altered, other format)
6     evaluation refused (notes the model was trained on)
====  ===============================================================
"""

from __future__ import annotations

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3


class MedcodeError(Exception):
    """Base of every error medcode reports to a user."""

    exit_code = 4


class InputError(MedcodeError, ValueError):
    """An input (notes, gold codes, predictions, config, feedback) cannot be read as given."""

    exit_code = 4


class CorpusError(InputError):
    """A corpus or notes input as a whole cannot be read (missing path, unknown format)."""


class ConfigError(InputError):
    """A training config or ``--set`` override is malformed or names an unknown key."""


class UsageError(MedcodeError, ValueError):
    """Options that do not go together, or an unknown option value."""

    exit_code = EXIT_USAGE


class ModelError(MedcodeError, RuntimeError):
    """A model folder cannot be used (missing, tampered with, or incompatible)."""

    exit_code = 5


class CodeNotFoundError(MedcodeError, KeyError):
    """A code is not in the release."""

    exit_code = 4

    def __str__(self) -> str:  # KeyError quotes its argument; a message should read as one
        return str(self.args[0]) if self.args else ""


class TrainingOverlapError(MedcodeError, ValueError):
    """The evaluation notes include notes the model was trained on."""

    exit_code = 6


class EngineError(MedcodeError, RuntimeError):
    """A batch engine failed (a worker died, the cluster cannot be reached)."""

    exit_code = 4


class OutputError(MedcodeError, ValueError):
    """An output cannot be written without destroying something: it is an input, a corpus's gold file,
    a folder, a special file, or a folder that is not a medcode model folder (``train -o``)."""

    exit_code = 4


class ReleaseError(MedcodeError, ValueError):
    """A code-set release cannot be used: an unknown name, no release in force on a date, a release
    folder that is damaged or of another format, or an install that would replace something else."""

    exit_code = 4


class ReleaseFileError(ReleaseError, InputError):
    """An official release file (CDC / CMS zip, XML or text) is not one medcode knows, or is malformed;
    the message names the file (and the zip member) and what was expected."""
