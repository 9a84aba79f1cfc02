"""Which exceptions are the user's to fix, and the one line that tells them how.

`gharchive` prints these as `Error: ...` on stderr and exits 1; anything else is a bug and keeps its
traceback (so does everything with GHARCHIVE_TRACEBACK=1). A known error is one the user can act
on: a path they gave that cannot be written or read, a bucket that cannot be used, missing Google
credentials, an unusable topic or Dataproc configuration.
"""

from __future__ import annotations

import errno
import os
import sys

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
    """The one-line message for an error the user can fix; None for a bug (keep the traceback)."""
    from ..hours import HourError
    from ..publish import PublishError
    from ..stages.dataproc import DataprocConfigError
    from ..storage.base import StorageError

    message: str | None = None
    if isinstance(exc, StorageError | PublishError | DataprocConfigError | HourError):
        message = str(exc)
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
