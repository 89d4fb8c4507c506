"""The shared backoff: exponential ceiling, capped, equal jitter."""

import random

from careers_runtime.backoff import Backoff


def test_the_ceiling_doubles_per_failure_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.2, max_s=5.0)
    assert [backoff.ceiling_s(n) for n in (1, 2, 3, 5, 6, 1000)] == [0.2, 0.4, 0.8, 3.2, 5.0, 5.0]
    assert backoff.ceiling_s(0) == 0.2


def test_equal_jitter_keeps_half_the_ceiling_and_randomises_the_rest() -> None:
    random.seed(7)
    backoff = Backoff(base_s=0.2, max_s=5.0)
    for failures, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (6, 5.0), (20, 5.0)]:
        delays = [backoff.delay_s(failures) for _ in range(300)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4, "jittered, not a constant"
