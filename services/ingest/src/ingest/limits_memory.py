"""The one place that touches the ``limits`` library's internals.

``SweepingMemoryStorage`` replaces the expiry sweep of ``limits``' async in-process
storage, which is not a public extension point: it overrides the name-mangled
``MemoryStorage.__schedule_expiry`` hook that every hit awaits, and trims the storage's
``events``/``expirations``/``storage``/``locks`` the way the stock sweep does.
``tests/test_ingest_limits_memory.py`` pins what this relies on (the hook exists and every
hit awaits it; events are kept newest first; an expired entry never decides anything), and
``services/ingest/pyproject.toml`` bounds ``limits`` below its next minor release, so an
upgrade is a deliberate step that runs those tests.
"""

import bisect
import time

from limits.aio.storage import MemoryStorage

SWEEP_INTERVAL_S = 1.0


class SweepingMemoryStorage(MemoryStorage):
    """``limits``' in-process storage with a cheap expiry sweep.

    The stock async storage restarts its sweep on every hit once the previous one has
    finished, and hands each user's list to a thread (``asyncio.to_thread``) to bisect
    it: under load that is a thread-pool round trip per known user, back to back, and
    cost more CPU than the rest of a submit's rate limiting. Expired entries never
    decide anything (the moving window compares timestamps), so the sweep is only memory
    hygiene: here it runs at most once per ``SWEEP_INTERVAL_S``, inline (no awaits, so no
    hit can interleave with it), with the same trimming rules.
    """

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self._next_sweep = 0.0

    # Replaces the name-mangled ``MemoryStorage.__schedule_expiry`` that every hit calls.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            self.sweep()

    def sweep(self) -> None:
        now = time.time()
        for key in list(self.events):
            events = self.events[key]  # newest first: expiries descending
            cutoff = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
            if cutoff:
                self.events[key] = events[:cutoff]
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key in [k for k, expiry in self.expirations.items() if expiry <= now]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)
