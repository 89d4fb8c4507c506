"""The LLM path end to end: SpoonOS's real OpenAI provider against a loopback server.

A small HTTP server on 127.0.0.1 speaks the OpenAI chat-completions protocol
(``POST /v1/chat/completions``). Both agent graphs run with ``CAREERS_LLM_PROVIDER=openai``
and SpoonOS's own settings (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``), so
the request goes through ``spoon_ai.chat.ChatBot`` -> the LLM manager -> ``OpenAIProvider``
-> the ``openai`` client -> HTTP. The tests show:

(a) a request carries the system instruction and the text to reword, and nothing else
    about the person; (b) the answer is used; (c) a timeout, a 500, an empty or an
    oversized answer keep the deterministic text; (d) codes, scores, wages, matched
    skills and gaps never pass through the model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from career_matcher.domain.matcher import recommend
from career_matcher.graph import run_matching
from careers_runtime.agent_kit import llm
from profile_analyzer.domain.analyzer import analyze, normalise
from profile_analyzer.graph import run_analysis

AS_OF = "2025-11"
PROFILE = {
    "headline": "Line cook moving into food safety",
    "summary": "Six years cooking on the line in a busy hotel kitchen; I run the HACCP logs "
    "and train new cooks on food safety.",
    "skills": ["food safety", "HACCP", "knife skills", "inventory control"],
    "experience": [
        {
            "title": "Line Cook",
            "organization": "Harbourview Hotel Ltd",
            "startDate": "2019-03",
            "endDate": None,
            "description": "Grill and saute stations; HACCP temperature logs; trained 8 cooks.",
        }
    ],
    "education": [
        {
            "degree": "Certificate",
            "field": "Culinary Arts",
            "institution": "Riverside Community College",
            "graduationYear": 2018,
        }
    ],
    "interests": ["public health"],
    "goals": "Become a food safety inspector.",
    "location": "Portsmouth, UK",
}
# what the profile holds beyond the text the analyzer summarises: never sent
PRIVATE = ["Harbourview Hotel", "Riverside Community College", "Portsmouth", "2019-03"]
SLOW_S = 6.0  # the "timeout" server answers after this
TIMEOUT_S = "2"  # CAREERS_LLM_TIMEOUT_S in the failure tests (generous elsewhere: a loaded
# CI machine takes a while for the provider's first, lazy initialisation)


class _Server:
    """An OpenAI-compatible chat-completions endpoint whose behaviour a test switches."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body})
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                mode = server.mode
                if mode == "slow":
                    time.sleep(SLOW_S)
                if mode == "500":
                    return self._send(500, {"error": {"message": "boom", "type": "server"}})
                text = body["messages"][-1]["content"].split("\n\n", 1)[-1]
                content = {
                    "ok": f"REWORDED: {text}",
                    "slow": f"REWORDED: {text}",
                    "empty": "",
                    "huge": "x" * (10 * len(text) + 1000),
                }[mode]
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "test-model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout case): nothing to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def take(self) -> list[dict[str, Any]]:
        out, self.requests = self.requests, []
        return out


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    s = _Server()
    mp = pytest.MonkeyPatch()
    mp.setenv("CAREERS_LLM_PROVIDER", "openai")
    mp.setenv("CAREERS_LLM_TIMEOUT_S", "20")
    mp.setenv("OPENAI_BASE_URL", s.url)
    mp.setenv("OPENAI_API_KEY", "sk-test-loopback")
    mp.setenv("OPENAI_MODEL", "test-model")
    mp.setenv("OPENAI_TIMEOUT", "5")
    llm._chatbots.clear()
    yield s
    mp.undo()
    llm._chatbots.clear()
    s.httpd.shutdown()


def _text(req: dict[str, Any]) -> str:
    return json.dumps(req["body"])


async def test_analysis_summary_goes_through_the_provider_and_only_the_text(server: _Server):
    server.mode = "ok"
    server.take()
    expected = analyze(PROFILE, as_of=AS_OF).summary
    analysis = await run_analysis(PROFILE, as_of=AS_OF)
    reqs = server.take()
    assert len(reqs) == 1
    req = reqs[0]
    assert req["path"] == "/v1/chat/completions"
    body = req["body"]
    # (a) the system instruction + one user message: the instruction and the text
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == llm.SYSTEM_PROMPT
    instruction, text = body["messages"][1]["content"].split("\n\n", 1)
    assert "Rewrite this profile summary" in instruction
    assert text == expected
    assert body["model"] == "test-model"
    assert not {"user", "metadata", "tools", "functions"} & set(body)
    for private in PRIVATE:
        assert private not in _text(req)
    assert server.headers[-1]["authorization"] == "Bearer sk-test-loopback"
    # (b) the answer is used
    assert analysis.summary == f"REWORDED: {expected}"


@pytest.mark.slow
async def test_a_hanging_provider_costs_one_timeout_per_job(
    server: _Server, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CAREERS_LLM_TIMEOUT_S", TIMEOUT_S)
    server.mode = "slow"
    p = normalise(PROFILE)
    analysis = analyze(p, as_of=AS_OF)
    offline = recommend(analysis, p, limit=5)
    t0 = time.perf_counter()
    recs = await run_matching(analysis, p, limit=5)
    assert time.perf_counter() - t0 < 5.5  # 5 explanations: one 2 s timeout, not five
    assert recs == offline
    server.take()


@pytest.mark.parametrize("mode", ["slow", "500", "empty", "huge"])
async def test_provider_failures_keep_the_deterministic_text(
    server: _Server, mode: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CAREERS_LLM_TIMEOUT_S", TIMEOUT_S)
    server.mode = mode
    server.take()
    expected = analyze(PROFILE, as_of=AS_OF).summary
    t0 = time.perf_counter()
    analysis = await run_analysis(PROFILE, as_of=AS_OF)
    assert analysis.summary == expected  # (c)
    assert server.take(), "the provider was called"
    assert time.perf_counter() - t0 < SLOW_S  # bounded by CAREERS_LLM_TIMEOUT_S


async def test_matching_facts_never_pass_through_the_model(server: _Server):
    server.mode = "ok"
    p = normalise(PROFILE)
    analysis = analyze(p, as_of=AS_OF)
    offline = recommend(analysis, p, limit=5)
    server.take()
    recs = await run_matching(analysis, p, limit=5)
    reqs = server.take()
    assert len(reqs) == len(recs) == 5
    # each request stands alone: no earlier text (another person's) is carried along
    assert all([m["role"] for m in r["body"]["messages"]] == ["system", "user"] for r in reqs)
    sent = " ".join(_text(r) for r in reqs)
    for r_off, r in zip(offline, recs, strict=True):
        # (b) the reworded explanation is used ...
        assert r.explanation == f"REWORDED: {r_off.explanation}"
        # (d) ... and every fact is the deterministic one, never sent to the model
        assert r.model_dump(exclude={"explanation"}) == r_off.model_dump(exclude={"explanation"})
        assert r.occupation_code not in sent
        assert f"{r.score}" not in sent
        if r.wages and r.wages.annual_median:
            assert f"{r.wages.annual_median:g}" not in sent
            assert f"{int(r.wages.annual_median):,}" not in sent
    for private in PRIVATE:
        assert private not in sent


async def test_offline_provider_is_the_default_and_changes_nothing(
    server: _Server, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CAREERS_LLM_PROVIDER", "offline")
    server.take()
    analysis = await run_analysis(PROFILE, as_of=AS_OF)
    assert analysis.summary == analyze(PROFILE, as_of=AS_OF).summary
    assert server.take() == []
