"""Libraries imported only where they are needed. A missing one is one plain line saying
what to install (a UsageError, exit 2), never an internal error.

pandas is a dependency of mlpexport (pyproject.toml), but an install made with
`pip install --no-deps` into the user's own environment can still lack it."""
from .errors import UsageError


def pandas(what: str):
    """The pandas module; `what` says what needs it, for the message when it is missing."""
    try:
        import pandas
    except ImportError:
        raise UsageError(f"{what} needs pandas, which is not installed: pip install pandas "
                         "(a dependency of mlpexport: was it installed with --no-deps?).") from None
    return pandas
