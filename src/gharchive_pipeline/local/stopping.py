"""How a local command stops on SIGINT or SIGTERM: at any moment, one line, a non-zero exit, no
process left behind.

The first stop signal raises `Stopped` in the main thread (a BaseException, so no `except Exception`
that records a failed hour or day swallows it); later ones are ignored while the command unwinds,
so its cleanup (stopping the worker processes) cannot itself be cut short, which is what used to
leave workers and the resource tracker orphaned. `gharchive` prints STOPPED_MESSAGE and exits with
128 + the signal number, as a shell does.

Worker processes never see the stop: a terminal's Ctrl-C goes to the whole process group, so the
parent starts them with the stop signals blocked (`deferred`: the mask is inherited across fork and
exec, so a worker cannot be hit while its interpreter starts or before its initializer runs), and
`worker_init` then ignores SIGINT and restores SIGTERM, by which the parent ends them.

`--follow` asks for a graceful first stop (`graceful`): the first signal only sets an event (finish
the current hour), the second raises `Stopped`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOPPED_MESSAGE = "stopped; run the same command again to resume"


class Stopped(BaseException):
    """A stop signal arrived: unwind (cleanup runs) and exit with `exit_status`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # the args pickle (a stop may cross a process boundary)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class _State:
    signum: int | None = None  # the first stop signal received
    raised = False  # Stopped was raised (or is pending at the end of a deferred section)
    pending = False  # a raise waits for the end of a deferred section
    deferred = 0  # depth of deferred sections
    graceful: threading.Event | None = None


_state = _State()


def requested() -> int | None:
    """The stop signal received so far, if any (for code that must not record a stop as a failure)."""
    return _state.signum


def stopping_now() -> bool:
    """A stop signal asked to stop at once (not only `graceful`'s first, which finishes the hour)."""
    return _state.raised


def check() -> None:
    """Raise `Stopped` if a stop was requested (after a library swallowed the raise)."""
    if _state.signum is not None and _state.graceful is None:
        raise Stopped(_state.signum)


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _state.signum is None:
        _state.signum = signum
        if _state.graceful is not None:
            log.warning("%s: finishing the current hour, then stopping", signal.Signals(signum).name)
            _state.graceful.set()
            return
    elif _state.raised or _state.graceful is None:
        return  # already unwinding: let the cleanup finish
    _state.raised = True
    if _state.deferred:
        _state.pending = True
        return
    raise Stopped(_state.signum)


def install() -> None:
    """Handle SIGINT and SIGTERM as described above (main thread only; idempotent)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup'ed: stay ignored
            signal.signal(sig, _handler)


def reset() -> None:
    """Forget a stop (tests running several commands in one process)."""
    global _state
    _state = _State()


@contextmanager
def handled() -> Iterator[None]:
    """One command's stop handling: a fresh state and the handlers installed while inside; the
    handlers before are put back after (a command run in-process, e.g. by a test, leaves its
    caller's Ctrl-C as it was)."""
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} if main else {}
    reset()
    install()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def graceful(stop: threading.Event) -> Iterator[None]:
    """While inside: the first stop signal sets `stop`, the second raises `Stopped`. The handlers
    in place before are put back on the way out."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    install()
    _state.graceful = stop
    try:
        yield
    finally:
        _state.graceful = None
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold stop signals while inside (starting worker processes): they are blocked in this thread,
    so processes started here inherit them blocked, and a stop raised meanwhile (another thread may
    take the signal) waits for the end, where nothing is half-done."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    _state.deferred += 1
    try:
        yield
    finally:
        _state.deferred -= 1
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if not _state.deferred and _state.pending and _state.signum is not None:
            _state.pending = False
            raise Stopped(_state.signum)


def worker_init() -> None:
    """In a worker started inside `deferred`: ignore SIGINT (the parent's to handle), let SIGTERM end
    it (the parent's way to stop it), then unblock both (a SIGINT that came meanwhile is dropped)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
