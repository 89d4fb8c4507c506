"""Dev and ops tools: the local stack, brokers, chaos runs, test fixtures. Knows the services.

Everything here runs on a developer's machine or in CI, never as a deployed service: a
service's unset ``ENVIRONMENT`` means production (every production check on), so the
tools say ``dev`` for themselves and for every process they start, unless the caller's
environment already says otherwise (``make dev`` says dev, the stacks of the e2e and
browser tests say test). Imported first by the pytest plugin, the benches and chaos.
"""

import os

os.environ.setdefault("ENVIRONMENT", "dev")
