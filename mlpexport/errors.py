"""Typed errors. The library raises these; only the CLI turns them into exit codes."""


class MlpexportError(Exception):
    """Base class: a problem the user can fix, reported as one plain sentence."""

    exit_code = 2


class UsageError(MlpexportError):
    """Bad command-line arguments or options."""


class UnsafeModelError(MlpexportError):
    """A model file needs something outside the allowlist; nothing of it was run."""


class UnsupportedModelError(MlpexportError):
    """The estimator (or a step of it) is not one mlpexport can export."""


class ModelFileError(MlpexportError):
    """The model file cannot be read (missing, truncated, wrong format, too large)."""


class InputError(MlpexportError):
    """Bad data: unreadable file, wrong shape, non-numeric or non-finite values."""


class OutputExistsError(MlpexportError):
    """An output file exists and --force was not given."""


class ExportError(MlpexportError):
    """An export cannot be produced or run (e.g. a runtime is missing)."""


class RuntimeMissing(ExportError):
    """A runtime an export needs in order to be run (e.g. octave-cli) is not installed."""


class RuntimeFailed(ExportError):
    """A runtime crashed or misbehaved while running an export (not a disagreement)."""


# The contract's name for bad data (mlpexport.DataError); InputError is the same class,
# kept so existing code and `except InputError` go on working.
DataError = InputError
