"""Run an iterator in a thread, a bounded number of items ahead of its consumer.

Why: the native mapper releases the GIL while it maps a chunk, so inflating and splitting the next
chunk (the reader) can use the second core meanwhile. `depth` bounds how many chunks wait, so memory
stays bounded; errors raised by the source (a damaged gzip, ...) are re-raised to the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1


def prefetched(source: Iterator[T], depth: int = 2, name: str = "prefetch") -> Iterator[T]:
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(message, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()
