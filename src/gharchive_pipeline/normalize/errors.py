"""Why a normalize run refused an input. Every message names the file."""

from __future__ import annotations

from ..errors import PermanentError, UserError


class NormalizeError(PermanentError):
    """Base class: the hour could not be normalized; nothing was written."""


class CorruptInputError(NormalizeError):
    """A damaged gzip stream (truncated or corrupt), or bytes that are neither gzip nor JSON."""


class EmptyInputError(NormalizeError):
    """A zero-byte file, or one that holds no events at all."""


class SamePathError(NormalizeError, UserError):
    """Two of the paths given (source, output, rejects) are the same file: a user error."""


class TooManyRejectsError(NormalizeError):
    """More than the allowed share of lines were not usable events."""


class RowError(ValueError):
    """A line that is JSON but not a usable event (the reason goes to the rejects file)."""
