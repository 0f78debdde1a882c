"""A SIGALRM timer as a context manager: the one way to end code that never returns (a hung env step)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


@contextlib.contextmanager
def sigalrm(seconds: float | None, expire: Callable[[int, FrameType | None], None]) -> Iterator[bool]:
    """Call `expire` from SIGALRM after `seconds` unless the block ends first; yields whether a timer was
    armed (only in the main thread on POSIX, and not for `seconds=None`: elsewhere nothing is)."""
    if seconds is None or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
