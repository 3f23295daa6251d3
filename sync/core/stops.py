"""Stops asked for by a signal, and the words a run stores for them.

Python turns SIGINT (Ctrl-C) into KeyboardInterrupt; SIGTERM, by default, ends the process
at once, without a word and with the run left "running". The CLI turns SIGTERM into Stopped
instead, in the main thread, so that a run under way is recorded as failed, with its reason in
words, and the command ends with one line and exit code 143.
"""

from __future__ import annotations

import signal


class Stopped(BaseException):
    """A stop signal raised as an exception in the main thread. A BaseException, so that the
    libraries' `except Exception` handlers let it through."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    def reason(self) -> str:
        return f"stopped by {self.signal_name}"


def raise_stopped(signum: int, _frame: object) -> None:
    """A signal handler: the signal as Stopped."""
    raise Stopped(signal.Signals(signum).name)


def interruption(exc: BaseException) -> str:
    """What a run cut short by exc stores as its error, in words."""
    if isinstance(exc, KeyboardInterrupt) or (type(exc) is Stopped and exc.signal_name == "SIGINT"):
        return "interrupted by Ctrl-C (SIGINT)"
    if isinstance(exc, Stopped):
        return f"interrupted: {exc.reason()}"
    return f"interrupted: {type(exc).__name__}: {exc}".rstrip(": ")
