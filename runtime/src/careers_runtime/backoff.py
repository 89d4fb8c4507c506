"""The one backoff: capped exponential, with *equal* jitter.

Every wait-and-try-again loop uses it (a record's retry-topic delay, convex-sync's Convex
writes, waiting for Kafka at start-up, the subscription after a failed fetch or batch).
Equal jitter — half the ceiling fixed, half random — rather than full jitter (anything
from 0 to the ceiling): many replicas retrying the same broker or Convex deployment still
spread out, and none retries at once after a failure, which full jitter allows.
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``Backoff(base_s=0.2, max_s=5).delay_s(failures)`` for ``failures`` = 1, 2, ...

    The ceiling doubles per failure from ``base_s`` up to ``max_s``; the delay is in
    ``[ceiling / 2, ceiling]``.
    """

    base_s: float
    max_s: float

    def ceiling_s(self, failures: int) -> float:
        # The exponent is capped so a long outage cannot overflow the float.
        return min(self.max_s, self.base_s * 2 ** min(max(0, failures - 1), 64))

    def delay_s(self, failures: int) -> float:
        ceiling = self.ceiling_s(failures)
        return ceiling / 2 + random.uniform(0, ceiling / 2)
