"""One side object per log and process (the rating summary, the prompt index, the runs index): made on first use, dropped with the log."""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class PerLog(Generic[T]):
    """``get(log)`` gives this process's ``make(log)`` for that log, the same one every time, thread-safe."""

    def __init__(self, make: Callable[[Any], T]):
        self._make = make
        self._made: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, log: Any) -> T:
        with self._lock:
            made = self._made.get(log)
            if made is None:
                made = self._made[log] = self._make(log)
            return made
