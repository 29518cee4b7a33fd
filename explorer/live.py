"""Live mode: regenerate as the form changes — debounced, the stale take cancelled, the latest request wins.

The Generate panel's "live" switch (:class:`explorer.widgets.generate_panel.GeneratePanel`) hands every edit
of the form to a :class:`LiveRunner`. An edit after a quiet spell (nothing running or waiting, no edit for
``delay_s``) starts at once: a click on a slider answers without waiting. Edits that follow within ``delay_s``
of each other (a slider drag sends dozens a second) wait until they pause, then the latest runs, on the
runner's one worker thread. An edit that arrives while a take is being made cancels that take at its next step
(``RunControl.cancel``), since the form no longer describes it, and the newest request runs next. Requests
replaced before they started are never run.

The worker thread is what keeps the panel answering: the kernel's main thread only receives the browser's
messages and hands them over (:meth:`LiveRunner.submit` returns at once), so edits still arrive while a take runs.

What is logged (decisions the issue leaves open):

- every take that started is logged like any run, marked ``live`` (``lab.generate(..., live=True)``,
  migration 0007), and left out of ``lab.runs()``, the gallery, the rate queue, battle pairs and the
  leaderboard until kept: ``lab.keep(run)`` or the panel's Keep button (``lab.runs(live=True)`` lists them);
- a stale take cancelled mid-run stays in the log as ``cancelled`` (and live): a run is logged when it starts
  and runs are never deleted (the runs index relies on it), and the row says honestly what the kernel spent;
- a request replaced during the debounce wait never started, so nothing is logged for it.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

from explorer.backends.base import RunControl

DELAY_S = 0.05  # edits closer than this are one edit: a drag runs once it pauses, not at every pixel
IDLE_EXIT_S = 30.0  # the worker thread ends after this long with nothing to do (a new edit starts another)


class LiveRunner:
    """Run ``run(payload, control)`` for the latest submitted payload, debounced, cancelling the stale one; thread-safe.

    ``run`` is called on the runner's worker thread, one at a time; it should pass ``control`` to the backend
    (``lab.generate(..., control=control)``) so that :meth:`submit` can stop it at its next step.

    >>> import time
    >>> from explorer.backends.base import RunControl
    >>> done = []
    >>> runner = LiveRunner(lambda payload, control: done.append(payload), delay_s=0.05)
    >>> runner.submit(1)  # after a quiet spell: at once
    >>> runner.wait(5)
    True
    >>> for value in (2, 3, 4):  # a burst within the delay: once it pauses, one run, of the last
    ...     runner.submit(value)
    >>> runner.wait(5)
    True
    >>> done
    [1, 4]
    """

    def __init__(self, run: Callable[[Any, RunControl], Any], *, delay_s: float = DELAY_S):
        if not (isinstance(delay_s, (int, float)) and not isinstance(delay_s, bool) and 0 <= delay_s <= 10):
            raise ValueError(f"delay_s: must be a number of seconds from 0 to 10 (got {delay_s!r})")
        self._run = run
        self.delay_s = float(delay_s)
        self._cond = threading.Condition()
        self._pending: tuple[Any] | None = None  # the latest payload not started yet (a 1-tuple: None is a payload too)
        self._due = 0.0  # when it may start (monotonic seconds)
        self._last_submit = float("-inf")
        self._control: RunControl | None = None  # the take being made
        self._thread: threading.Thread | None = None
        self._closed = False
        self.started = 0  # takes started
        self.superseded = 0  # takes cancelled because a newer edit came
        self.skipped = 0  # payloads replaced before they started (never run)

    # -- from the kernel's main thread ----------------------------------------------------------------

    def submit(self, payload: Any) -> None:
        """A new edit: it replaces any payload still waiting, and the take being made (now stale) is cancelled."""
        with self._cond:
            if self._closed:
                raise RuntimeError("this live runner is closed")
            if self._pending is not None:
                self.skipped += 1
            now = time.monotonic()
            quiet = self._pending is None and self._control is None and now - self._last_submit >= self.delay_s
            self._pending = (payload,)
            self._due = now if quiet else now + self.delay_s  # leading edge after quiet, trailing during a burst
            self._last_submit = now
            if self._control is not None and not self._control.cancelled:
                self._control.cancel()  # the form no longer describes it: stop at its next step
                self.superseded += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="explorer-live", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def cancel(self) -> bool:
        """Drop the waiting payload and stop the take being made; True if there was anything to stop."""
        with self._cond:
            had = self._pending is not None or self._control is not None
            self._pending = None
            if self._control is not None:
                self._control.cancel()
            self._cond.notify_all()
            return had

    def close(self) -> None:
        """Cancel everything and let the worker end (a closed runner takes no more edits)."""
        with self._cond:
            self._closed = True
        self.cancel()

    @property
    def busy(self) -> bool:
        """A take is being made or waits to start."""
        with self._cond:
            return self._pending is not None or self._control is not None

    @property
    def waiting(self) -> bool:
        """A payload waits to start (a newer edit than the take being made)."""
        with self._cond:
            return self._pending is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing waits and no take runs (for scripts and tests); False if ``timeout`` passed first."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._control is not None:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- the worker ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                idle_since = time.monotonic()
                while True:
                    now = time.monotonic()
                    if self._closed:
                        self._thread = None
                        return
                    if self._pending is not None and now >= self._due:
                        break
                    if self._pending is None and now - idle_since >= IDLE_EXIT_S:
                        self._thread = None  # a later submit starts a new worker
                        return
                    self._cond.wait(self._due - now if self._pending is not None else IDLE_EXIT_S)
                (payload,), self._pending = self._pending, None
                control = self._control = RunControl()
                self.started += 1
            try:
                self._run(payload, control)
            except Exception:  # noqa: BLE001 - the worker survives a failed take; the caller shows its own errors
                traceback.print_exc()
            finally:
                with self._cond:
                    self._control = None
                    self._cond.notify_all()
