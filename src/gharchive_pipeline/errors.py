"""The package's one exception tree: what a caller should do about an error is its class.

    GharchiveError                 raised on purpose by this package (anything else is a bug)
    ├── TransientError             a later attempt may succeed: retry (5xx to Pub/Sub/Eventarc)
    │   └── ConfigError            a setting is missing: retried until the deployment is fixed
    └── PermanentError             can never succeed as asked: record, log once, acknowledge
        ├── MalformedInput         an event, message or object name that is not what we take
        └── UserError              the user's to fix (an option, a path): one line on stderr

Each consumer maps the tree in one place: the Cloud Functions and the local bus in
entrypoints.py (transient -> raise, so the event is redelivered; permanent -> a recorded
outcome, acknowledged), the CLI in cli/errors.py (one line on stderr, non-zero exit, never a
traceback). Stage-specific exceptions subclass a branch here; several also keep the builtin they
always were (ValueError, RuntimeError) so existing `except` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GharchiveError",
    "MalformedInput",
    "PermanentError",
    "TransientError",
    "UserError",
    "is_transient",
]


class GharchiveError(Exception):
    """Root of every error the package raises on purpose."""


class TransientError(GharchiveError):
    """A fault a later attempt may not meet (a 5xx, a timeout, a held lock, a bucket or setting
    that is being fixed): retried, never recorded as the hour's final outcome."""


class ConfigError(TransientError):
    """A setting the stage needs is missing (names it): the event is redelivered, not lost, until
    the deployment is fixed; the CLI shows it as one line."""


class PermanentError(GharchiveError):
    """Can never succeed as asked, however often it is retried: recorded and acknowledged."""


class MalformedInput(PermanentError, ValueError):
    """Input from outside that is not what we take (a Pub/Sub body, a CloudEvent, an object name)."""


class UserError(PermanentError):
    """Something the user gave that cannot work (an option, a path): the CLI prints it as one line."""


#: Builtins that mean "this input is bad" when a parser of untrusted input raises them: a body
#: nested past the interpreter's recursion limit raises RecursionError, not ValueError.
INPUT_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a delivery that raised `exc` should be retried: transient errors and bugs (unknown
    exceptions, which a redeploy may fix) are; permanent errors are not."""
    return not isinstance(exc, PermanentError)
