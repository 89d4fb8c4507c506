"""Waiting for a condition in tests: poll until it holds or the time is up."""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_until[T](predicate: Callable[[], T], timeout_s: float = 30, interval_s: float = 0.2) -> T:
    """The predicate's first truthy result, or its result once ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval_s)
    return predicate()


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]], timeout_s: float = 30, interval_s: float = 0.05
) -> Any:
    """``wait_until`` for the event loop; ``predicate`` may be sync or async."""

    async def check() -> Any:
        result = predicate()
        return await result if inspect.isawaitable(result) else result

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval_s)
    return await check()
