"""The agent kit: what every SpoonOS agent service is built from, in one place.

* ``settings`` — ``AgentSettings`` (the shared service settings plus the optional LLM
  refinement) and ``LLMSettings``, the value the graphs are given explicitly.
* ``llm`` — ``refine_text``: optional rewording of agent text by a SpoonOS provider, never
  failing a job (offline echo by default).
* ``graph`` — ``LinearGraph``: a linear SpoonOS ``StateGraph`` built and compiled once per
  process, run with a throw-away checkpoint thread; the SpoonOS log level is set here, once.
* ``warmup`` — ``WARMUP_PROFILE`` (and its analysis): the sample every agent runs once
  before joining its group.

The Kafka side (warm-up before joining, compute loop, error mapping, the agent-output
record) is ``careers_runtime.agent.AgentService``. SpoonOS itself is imported lazily, by
``llm`` and by the first graph build (slow, ~5 s, and it loads ``.env`` from the working
directory): an agent pays for it once, at start-up, during warm-up. Importing this package
does not import SpoonOS.
"""

from careers_runtime.agent_kit.settings import AgentSettings, LLMSettings
from careers_runtime.agent_kit.warmup import WARMUP_ANALYSIS, WARMUP_AS_OF, WARMUP_PROFILE

__all__ = ["WARMUP_ANALYSIS", "WARMUP_AS_OF", "WARMUP_PROFILE", "AgentSettings", "LLMSettings"]
