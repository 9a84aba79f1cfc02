"""The CLI's one mapping of errors: which are one line on stderr, and what that line says.

`gharchive` prints these as `Error: ...` on stderr and exits 1, never with a traceback: every error
of the package's tree (errors.GharchiveError: a transient fault, to be run again; a permanent one;
a user error), a path the user gave that cannot be written or read, missing Google credentials.
Anything else is a bug and keeps its traceback (so does everything with GHARCHIVE_TRACEBACK=1).
"""

from __future__ import annotations

import errno
import os
import sys

from ..errors import GharchiveError

TRACEBACK_ENV = "GHARCHIVE_TRACEBACK"

_CREDENTIALS_HELP = (
    "no Google Cloud credentials: run `gcloud auth application-default login` "
    "or set GOOGLE_APPLICATION_CREDENTIALS"
)


def _credentials_error(exc: BaseException) -> bool:
    module = sys.modules.get("google.auth.exceptions")  # loaded only if a Google client ran
    return module is not None and isinstance(exc, module.DefaultCredentialsError)


def _path_error(exc: OSError) -> str:
    """`Permission denied: /proc/x` (the path the user gave, and what is wrong with it)."""
    what = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    return f"{what}: {where}"


def user_error(exc: BaseException) -> str | None:
    """The one-line message for an error of ours or the user's; None for a bug (keep the traceback)."""
    message: str | None = None
    if isinstance(exc, GharchiveError):
        message = str(exc) or type(exc).__name__
    elif _credentials_error(exc):
        message = _CREDENTIALS_HELP
    elif isinstance(exc, OSError) and exc.filename is not None:
        message = _path_error(exc)
    if message is None:
        return None
    from ..download import redact_url  # a message may quote a source URL with its credentials

    return redact_url(" ".join(message.split()))


def show_tracebacks() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")
