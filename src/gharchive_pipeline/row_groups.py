"""Arrow pieces gathered into one parquet row group, up to a row and a byte bound.

The normalizer's sink (normalize/writer.py) and the day rebuild's kept rows (load/kept_rows.py)
both write row groups of about the same size from many small pieces: this is where the pieces wait.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import pyarrow as pa

Piece = TypeVar("Piece", pa.RecordBatch, pa.Table)


class RowGroup(Generic[Piece]):
    """Pieces waiting to be written as one row group: full at `most_rows` rows or `most_bytes`
    Arrow bytes (long lines make fewer rows per group, so memory stays bounded)."""

    def __init__(self, most_rows: int, most_bytes: int) -> None:
        self.most_rows, self.most_bytes = most_rows, most_bytes
        self.pieces: list[Piece] = []
        self.rows = self.nbytes = 0

    def add(self, piece: Piece) -> bool:
        """Gather `piece` (an empty one is dropped); True when the group is full."""
        if piece.num_rows:
            self.pieces.append(piece)
            self.rows += piece.num_rows
            self.nbytes += piece.nbytes
        return self.rows >= self.most_rows or self.nbytes >= self.most_bytes

    def take(self) -> list[Piece]:
        """The gathered pieces, in order; the group is empty again."""
        pieces, self.pieces = self.pieces, []
        self.rows = self.nbytes = 0
        return pieces
