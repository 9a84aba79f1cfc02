"""The streaming normalizer: one GH Archive hour (any era, gzip or plain) -> one zstd parquet file.

    from gharchive_pipeline.normalize import normalize
    result = normalize(Path("2015-01-01-15.json.gz"), Path("events.parquet"))

hour.py runs one hour through the pieces: reader.py (lines out of the gzip, salvage), chunks.py and
parallel.py (parse and map in chunks), eras.py (the mapping rules of every era), native.py (the C fast
path of the Events era), pii.py (commit e-mails hashed), writer.py (parquet and rejects, nothing left
behind by a failure), errors.py (what refuses an hour), arrow_columns.py (Arrow arrays from Python and
numpy values without pa.array, which the day rebuild uses too).
"""

from . import arrow_columns, native, native_columns
from .errors import CorruptInputError, EmptyInputError, NormalizeError, SamePathError, TooManyRejectsError
from .hour import (
    CHUNK_BYTES,
    CHUNK_LINES,
    MAX_REJECT_SHARE,
    NormalizeResult,
    check_paths,
    hour_from_name,
    normalize,
)

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_LINES",
    "MAX_REJECT_SHARE",
    "CorruptInputError",
    "EmptyInputError",
    "NormalizeError",
    "NormalizeResult",
    "SamePathError",
    "TooManyRejectsError",
    "arrow_columns",
    "check_paths",
    "hour_from_name",
    "native",
    "native_columns",
    "normalize",
]
