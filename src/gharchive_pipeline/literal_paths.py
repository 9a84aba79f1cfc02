"""Paths handed to a query engine are literal paths, never patterns: the one place that makes them so.

DuckDB's `read_parquet` and Spark's readers (Hadoop's FileSystem.globStatus) expand glob characters
in every path they are given, lists included. A home named `p[1]` would read its sibling `p1`'s
files (wrong figures, exit 0), `p*` every sibling's. DuckDB also expands a leading `~` to the user's
home and takes `scheme://` prefixes for remote files, so a relative path can name something else
entirely. Every path goes to an engine through here: made absolute, then each pattern character
escaped the way that engine un-escapes it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

#: DuckDB's glob characters (`*`, `?`, `[...]`); DuckDB has no backslash escape, but a bracket
#: expression of one character matches that character: `[[]` is a literal `[` (duckdb/duckdb#15722).
_DUCKDB_GLOB = re.compile(r"([*?\[])")
#: Hadoop's GlobPattern characters (adds `{a,b}` alternatives); a backslash escapes the next one.
_HADOOP_GLOB = re.compile(r"([\\{}\[\]*?])")


def sql_string(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def duckdb_path(path: str | os.PathLike[str]) -> str:
    """A local file path as DuckDB's readers must be given it to read exactly that file."""
    return _DUCKDB_GLOB.sub(r"[\1]", os.path.abspath(os.fspath(path)))


def duckdb_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """An SQL list of literal file paths, for `read_parquet([...])`."""
    return "[" + ", ".join(sql_string(duckdb_path(p)) for p in paths) + "]"


def local_file(path: str | os.PathLike[str]) -> str:
    """The absolute path DuckDB reports in its `filename` column for a file given by duckdb_path."""
    return os.path.abspath(os.fspath(path))


def hadoop_path(url: str) -> str:
    """A file or folder (`gs://bucket/name` or a local path) as Spark's readers must be given it to
    read exactly that one: local paths absolute, glob characters escaped."""
    if "://" not in url:
        url = os.path.abspath(url)
    return _HADOOP_GLOB.sub(r"\\\1", url)
