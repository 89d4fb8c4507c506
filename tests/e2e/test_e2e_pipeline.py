"""End to end through the real stack: every service its own process, the embedded broker,
the Convex stand-in, real Clerk-style tokens, real OTLP export.

Several users submit concurrently; each sees only their own jobs; every job's documents
land in Convex once; one job is one trace across all five services; every worker's
/metrics shows lag and handler latency afterwards.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import careers_tools.services
import httpx
import pytest
from careers_tools.testing.otlp_sink import OtlpSink
from careers_tools.testing.polling import wait_until
from careers_tools.testing.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

SERVICES = {service.name for service in careers_tools.services.SERVICES}
WORKERS = ("orchestrator", "profile-analyzer", "career-matcher", "convex-sync")

PROFILES = [
    {
        "summary": "Backend engineer who builds APIs and data pipelines.",
        "skills": ["Python", "SQL", "Kubernetes"],
        "experience": [
            {
                "title": "Software Engineer",
                "organization": "Acme",
                "startDate": "2018-03",
                "endDate": None,
                "description": "Built services, databases and CI pipelines.",
            }
        ],
    },
    {
        "summary": "Pastry chef running a bakery kitchen.",
        "skills": ["baking", "menu planning", "food safety"],
        "experience": [
            {
                "title": "Pastry Chef",
                "organization": "Bakery",
                "startDate": "2015-06",
                "endDate": None,
                "description": "Created desserts, managed the kitchen team and ordering.",
            }
        ],
    },
    {
        "summary": "Bookkeeper who wants to become an auditor.",
        "skills": ["bookkeeping", "Excel", "payroll"],
        "experience": [
            {
                "title": "Bookkeeper",
                "organization": "Shop",
                "startDate": "2019-01",
                "endDate": None,
                "description": "Kept the ledgers, ran payroll and prepared tax documents.",
            }
        ],
        "goals": "Become a certified auditor",
    },
]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, kafka_kind: str
) -> Iterator[tuple[LocalStack, OtlpSink]]:
    workdir: Path = tmp_path_factory.mktemp("e2e")
    with OtlpSink() as sink:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with LocalStack(workdir, env=env, kafka=kafka_kind) as running:
            yield running, sink


@pytest.fixture(scope="module")
def jobs(stack: tuple[LocalStack, OtlpSink]) -> dict[str, str]:
    """Three users submit two profiles each, concurrently; returns job id -> user."""
    running, _ = stack
    requests = [
        (f"user_e2e_{u}", PROFILES[(u + k) % len(PROFILES)]) for u in range(3) for k in range(2)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        job_ids = list(pool.map(lambda r: running.submit(r[1], r[0]), requests))
    submitted = {job_id: user for job_id, (user, _) in zip(job_ids, requests, strict=True)}

    assert wait_until(lambda: running.landed(submitted), timeout_s=120, interval_s=0.5), (
        f"not every job reached Convex\n{running.logs()}"
    )
    return submitted


def test_every_job_completes_and_lands_in_convex_once(stack, jobs) -> None:  # type: ignore[no-untyped-def]
    running, _ = stack
    recommendations = [
        d for d in running.convex.documents("careerRecommendations") if d["jobId"] in jobs
    ]
    outputs = [d for d in running.convex.documents("agentOutputs") if d["jobId"] in jobs]
    assert sorted(d["jobId"] for d in recommendations) == sorted(jobs), "one document per job"
    assert all(d["status"] == "completed" and d["recommendations"] for d in recommendations)
    assert sorted((d["jobId"], d["agent"]) for d in outputs) == sorted(
        (job, agent) for job in jobs for agent in ("career-matcher", "profile-analyzer")
    ), "one agentOutputs document per agent per job"
    for doc in recommendations:
        assert doc["userId"] == jobs[doc["jobId"]]
        top = doc["recommendations"][0]
        assert top["rank"] == 1 and 0 <= top["score"] <= 1 and top["occupationCode"]


def test_users_see_only_their_own_jobs(stack, jobs) -> None:  # type: ignore[no-untyped-def]
    running, _ = stack
    job_id, owner = next(iter(jobs.items()))
    other = next(user for user in jobs.values() if user != owner)

    def finished() -> bool:
        return running.job(job_id, owner).json().get("status") == "completed"

    assert wait_until(finished, timeout_s=30, interval_s=0.5)
    view = running.job(job_id, owner).json()
    assert view["recommendations"] and view["progress"] == 100
    assert running.job(job_id, other).status_code == 404, "another user's job does not exist"

    mine = running.convex.query(
        "careerRecommendations:getByJob", {"jobId": job_id}, token=running.token(owner)
    )
    assert mine is not None and mine["jobId"] == job_id
    theirs = running.convex.query(
        "careerRecommendations:getByJob", {"jobId": job_id}, token=running.token(other)
    )
    assert theirs is None
    outputs = running.convex.query(
        "agentOutputs:listByJob", {"jobId": job_id}, token=running.token(other)
    )
    assert outputs == []


def test_one_job_is_one_trace_across_all_five_services(stack, jobs) -> None:  # type: ignore[no-untyped-def]
    _, sink = stack
    job_id = next(iter(jobs))

    def services_in_trace() -> set[str]:
        spans = sink.spans()
        traces = {s.trace_id for s in spans if s.attributes.get("careers.job_id") == job_id}
        if len(traces) != 1:
            return set()
        (trace_id,) = traces
        return {s.service for s in spans if s.trace_id == trace_id}

    found = wait_until(
        lambda: services_in_trace() >= SERVICES and services_in_trace(),
        timeout_s=30,
        interval_s=0.5,
    )
    traces = {s.trace_id for s in sink.spans() if s.attributes.get("careers.job_id") == job_id}
    assert len(traces) == 1, f"job spans belong to {len(traces)} traces"
    assert found and found >= SERVICES, f"services in the job's trace: {found}"


def test_metrics_show_lag_and_handler_latency(stack, jobs) -> None:  # type: ignore[no-untyped-def]
    running, _ = stack
    for worker in WORKERS:
        text = httpx.get(running.url(worker, "/metrics"), timeout=10).text
        assert "careers_consumer_lag{" in text, worker
        assert "careers_handler_duration_seconds_count{" in text, worker
        assert "careers_messages_consumed_total{" in text, worker
    ingest = httpx.get(running.url("ingest", "/metrics"), timeout=10).text
    assert "http_request" in ingest
