"""A minimal worker for the runtime's own broker tests.

Consumes ``profile.submitted`` in consumer group ``$ECHO_GROUP`` through the shared
delivery policy and appends one JSON line per handled event to ``$ECHO_OUT``. Jobs whose
id starts with ``fail-`` raise, to exercise retries and dead letters.

    ECHO_GROUP=g ECHO_OUT=/tmp/out.jsonl HTTP_PORT=8123 python -m careers_tools.testing.echo_worker
"""

import json
import os
from collections.abc import Sequence
from pathlib import Path

from careers_contracts import TOPICS, ProfileSubmitted
from careers_runtime.app import create_worker_app, serve
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing
from careers_runtime.delivery import EventConsumer
from careers_runtime.settings import ServiceSettings
from careers_runtime.telemetry import current_trace_id

settings = ServiceSettings(service_name="echo-worker")
broker = create_broker(settings)
out = Path(os.environ["ECHO_OUT"])


async def handle(event: Incoming[ProfileSubmitted]) -> Sequence[Outgoing]:
    if event.job_id.startswith("fail-"):
        raise RuntimeError("induced failure")
    with out.open("a") as sink:  # noqa: ASYNC230 - test worker, tiny appends
        sink.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "jobId": event.job_id,
                    "partition": event.partition,
                    "attempt": event.attempt,
                    "traceId": current_trace_id(),
                }
            )
            + "\n"
        )
    return ()


consumer = EventConsumer(
    broker, settings, group=os.environ["ECHO_GROUP"], routes={TOPICS.profile_submitted: handle}
)
app = create_worker_app(settings, broker, [consumer])

if __name__ == "__main__":
    serve(app, settings)
