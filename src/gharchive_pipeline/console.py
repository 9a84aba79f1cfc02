"""The `gharchive` program's entry point. A stop signal that arrives before the command line is
imported (~0.2 s) ends the program at once with the same line and exit status as later on
(local/stopping.py): nothing has started yet that needs cleaning up. So this module imports
nothing but `signal` before its handler is in place."""

import signal

_STOPPED = b"stopped; run the same command again to resume\n"  # stopping.STOPPED_MESSAGE


def _stop_early(signum: int, _frame: object) -> None:
    import os

    os.write(2, _STOPPED)
    os._exit(128 + signum)


for _sig in (signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(_sig) is not signal.SIG_IGN:  # nohup'ed: stay ignored
        signal.signal(_sig, _stop_early)


def main() -> None:
    from .cli import main as cli_main  # installs the real handlers (stopping.handled) first thing

    try:
        cli_main()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # the command is over: a late signal changes nothing
            signal.signal(sig, signal.SIG_IGN)
