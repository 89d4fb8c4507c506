"""Delivery policy for every consumer: validation, per-key ordering with bounded
concurrency, retries through a retry topic, dead letters, commit after produce.

A service registers a *handler*: an async function from one validated ``Incoming`` event
to the ``Outgoing`` events it causes. The handler never publishes or commits itself; this
package does, in this order for each batch the consumer fetches:

1. Records are grouped by key (job id). Keys run concurrently (at most ``max_in_flight``
   records at once); records of one key run one after another, in offset order. One slow
   job therefore does not hold up the other jobs in its partition. (``batching``)
2. A record that is not a valid event goes straight to the group's dead-letter topic with
   the reason (retrying cannot fix it). (``consumer``)
3. A handler that raises ``PermanentError`` is dead-lettered; any other exception sends the
   record to the group's retry topic with its attempt count and a not-before time
   (exponential backoff with jitter), so the partition keeps flowing. After
   ``retry_max_attempts`` the record is dead-lettered as ``exhausted``, with its history.
   (``retries``: the headers, the backoff and the dead letter, as data)
4. The handler's outputs are produced and acknowledged by the broker; only then, after the
   whole batch, are the offsets committed. A crash in between re-delivers the batch, and
   the deterministic event ids make the re-produced events identical, so idempotent sinks
   see each result once. (``publishing``)

Import from ``careers_runtime.delivery``; the modules are its parts, not its interface.
"""

from careers_runtime.delivery.consumer import EventConsumer, Handler
from careers_runtime.delivery.publishing import (
    HEADER_CORRELATION_ID,
    enqueue,
    publish,
    publish_all,
)
from careers_runtime.delivery.retries import (
    DEAD_LETTER_HEADERS_CHARS,
    DEAD_LETTER_VALUE_BYTES,
    H_ATTEMPT,
    H_HISTORY,
    H_NOT_BEFORE,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_TOPIC,
    MAX_HISTORY_CHARS,
    RETRY_HEADERS,
    RetryPolicy,
)
from careers_runtime.delivery.salvage import Fetched, SafeFetch, UnreadableRecord

__all__ = [
    "DEAD_LETTER_HEADERS_CHARS",
    "DEAD_LETTER_VALUE_BYTES",
    "HEADER_CORRELATION_ID",
    "H_ATTEMPT",
    "H_HISTORY",
    "H_NOT_BEFORE",
    "H_ORIGINAL_OFFSET",
    "H_ORIGINAL_PARTITION",
    "H_ORIGINAL_TOPIC",
    "MAX_HISTORY_CHARS",
    "RETRY_HEADERS",
    "EventConsumer",
    "Fetched",
    "Handler",
    "RetryPolicy",
    "SafeFetch",
    "UnreadableRecord",
    "enqueue",
    "publish",
    "publish_all",
]
