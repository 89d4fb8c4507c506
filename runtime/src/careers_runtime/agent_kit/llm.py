"""Optional LLM refinement of agent text (summaries, explanations), never failing a job.

The graphs always run a ``refine`` node. Which provider it talks to:

* provider ``offline`` (default): the ``careers-offline`` provider registered here with
  SpoonOS's ``@register_provider``. It returns the text unchanged, so the graph stays
  identical and the output deterministic.
* any SpoonOS provider name (``openai``, ``anthropic``, ``gemini``, ``deepseek``,
  ``openrouter``, ``ollama``) configured through SpoonOS's usual environment variables:
  the text is rewritten by that model under the timeout (default 8 s). Any error, timeout
  or empty/oversized answer keeps the deterministic text.

The provider and timeout are an ``LLMSettings`` passed in by the caller (a service passes
``settings.llm``, from ``CAREERS_LLM_PROVIDER`` / ``CAREERS_LLM_TIMEOUT_S``); without one,
``LLMSettings.from_env()`` reads the same variables at call time.

Only wording changes: facts (codes, scores, skills, wages) never go through the model.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from spoon_ai.llm.interface import (
    LLMProviderInterface,
    LLMResponse,
    ProviderCapability,
    ProviderMetadata,
)
from spoon_ai.llm.registry import get_global_registry, register_provider
from spoon_ai.schema import Message

from careers_runtime.agent_kit.settings import LLMSettings

log = logging.getLogger(__name__)

OFFLINE = "careers-offline"
SYSTEM_PROMPT = (
    "You rewrite text for a career-guidance product. Keep every fact, number, job title and "
    "skill exactly as given; do not add new facts. Answer with the rewritten text only."
)


class OfflineProvider(LLMProviderInterface):
    """Deterministic stand-in: echoes the text to refine (the last user message)."""

    async def initialize(self, config: dict[str, Any]) -> None:
        return None

    def _echo(self, text: str) -> LLMResponse:
        return LLMResponse(
            content=text,
            provider=OFFLINE,
            model="echo",
            finish_reason="stop",
            native_finish_reason="stop",
        )

    async def chat(self, messages: list[Message], **kwargs: Any) -> LLMResponse:
        user = [m for m in messages if m.role == "user"]
        return self._echo(str(user[-1].content) if user else "")

    async def chat_stream(self, messages, callbacks=None, **kwargs):  # type: ignore[override]
        yield (await self.chat(messages)).content

    async def completion(self, prompt: str, **kwargs: Any) -> LLMResponse:
        return self._echo(prompt)

    async def chat_with_tools(self, messages, tools, **kwargs):  # type: ignore[override]
        return await self.chat(messages)

    def get_metadata(self) -> ProviderMetadata:
        return ProviderMetadata(
            name=OFFLINE,
            version="1",
            capabilities=[ProviderCapability.CHAT],
            max_tokens=4096,
            supports_system_messages=True,
        )

    async def health_check(self) -> bool:
        return True

    async def cleanup(self) -> None:
        return None


if not get_global_registry().is_registered(OFFLINE):
    register_provider(OFFLINE, [ProviderCapability.CHAT])(OfflineProvider)


_offline = OfflineProvider()
_chatbots: dict[str, Any] = {}


async def refine_text(text: str, instruction: str, llm: LLMSettings | None = None) -> str:
    """Return ``text`` reworded by the configured provider, or unchanged on any problem."""
    llm = llm or LLMSettings.from_env()
    name = llm.provider
    if not text:
        return text
    if llm.offline:
        return (await _offline.chat([Message(role="user", content=text)])).content
    timeout = llm.timeout_s
    try:
        from spoon_ai.chat import ChatBot

        bot = _chatbots.get(name) or _chatbots.setdefault(name, ChatBot(llm_provider=name))
        answer = await asyncio.wait_for(
            bot.ask(
                [Message(role="user", content=f"{instruction}\n\n{text}")], system_msg=SYSTEM_PROMPT
            ),
            timeout,
        )
    except Exception as exc:  # never fail the job because of the optional LLM
        log.warning("LLM refinement via %s skipped: %s", name, exc)
        return text
    answer = (answer or "").strip()
    if not answer or len(answer) > 3 * len(text) + 200:
        return text
    return answer
