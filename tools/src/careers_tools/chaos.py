"""``make chaos``: prove that nothing is lost or duplicated when things break.

Starts the whole stack on the embedded broker, or Apache Kafka with ``--kafka apache``
(each service its own process), submits N
profiles from several users at a steady rate, and meanwhile:

1. SIGKILLs and restarts orchestrator, profile-analyzer, career-matcher, convex-sync and
   ingest, one after another (no drain, no commit, no leaving the group); submits carry an
   Idempotency-Key, so a submit retried across the ingest kill is the same job;
2. makes the Convex stand-in answer 503 and 429 (with Retry-After) for a while;
3. injects one poison record of each shape (deep nesting, huge integer, invalid UTF-8,
   wrong event type, 10 MB value, null value, no key, garbled retry headers on the main
   and on the retry topic: ``careers_tools.testing.poison``) for the orchestrator;
4. SIGTERMs career-matcher under load and checks it exits within its grace period.

Then it waits for every job's documents and counts them *in the Convex stand-in*, checks
that every job accepted before the ingest kill is served by the restarted ingest, and
that every poison record (and nothing else) was dead-lettered:

    submitted 20, completed 20, lost 0, duplicated 0, dead-lettered 9

It exits non-zero on any loss or duplicate, a job the restarted ingest does not serve, a
poison record not dead-lettered (or any other dead letter), or a SIGTERM that overran the
deadline.
"""

import argparse
import asyncio
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careers_contracts import TOPICS
from careers_contracts.topics import ConsumerGroup
from careers_runtime.dlq_cli import DLQ_GROUPS, read_dead_letters
from careers_runtime.settings import KafkaSettings

from careers_tools.services import SERVICES, Service
from careers_tools.testing.poison import Poison, inject, poison_records
from careers_tools.testing.stack import LocalStack, default_workdir

SHUTDOWN_GRACE_S = 10.0
# The orchestrator and ingest first (the faults below are timed for them), then every other
# service in the service list's order: a service added there is killed too.
_KILLED_FIRST = ("orchestrator", "ingest")


def kill_order(services: Sequence[Service] = SERVICES) -> tuple[str, ...]:
    return _KILLED_FIRST + tuple(s.name for s in services if s.name not in _KILLED_FIRST)


KILL_ORDER = kill_order()

ROLES = [
    (
        "Registered Nurse",
        "Hospital",
        ["patient care", "medication administration", "triage"],
        "Cared for patients in a busy emergency department, assessed symptoms, administered medication.",
    ),
    (
        "Software Developer",
        "Tech Co",
        ["Python", "SQL", "REST APIs", "testing"],
        "Designed and built web services and databases; wrote automated tests; reviewed code.",
    ),
    (
        "Accountant",
        "Audit LLP",
        ["bookkeeping", "financial reporting", "tax preparation"],
        "Prepared financial statements, reconciled accounts and filed tax returns for clients.",
    ),
    (
        "Electrician",
        "Build Ltd",
        ["electrical wiring", "blueprint reading", "troubleshooting"],
        "Installed and repaired wiring, fixtures and control systems on commercial sites.",
    ),
    (
        "High School Teacher",
        "City School",
        ["lesson planning", "classroom management", "mathematics"],
        "Taught algebra and geometry, planned lessons, graded exams and mentored students.",
    ),
    (
        "Line Cook",
        "Bistro",
        ["food preparation", "grilling", "kitchen sanitation"],
        "Prepared dishes to order, managed the grill station and kept the kitchen clean.",
    ),
]


def sample_profile(i: int) -> dict[str, Any]:
    title, org, skills, description = ROLES[i % len(ROLES)]
    start_year = 2010 + (i % 9)
    return {
        "headline": f"{title} with {2026 - start_year} years of experience",
        "summary": f"Experienced {title.lower()}. {description}",
        "skills": skills,
        "experience": [
            {
                "title": title,
                "organization": org,
                "startDate": f"{start_year}-0{1 + i % 9}",
                "endDate": None,
                "description": description,
            }
        ],
        "education": [],
        "interests": [],
    }


class Submitter(threading.Thread):
    """Submits profiles at a steady rate while faults happen around it."""

    def __init__(self, stack: LocalStack, count: int, users: int, duration_s: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.count, self.users = stack, count, users
        self.interval = duration_s / max(count, 1)
        self.jobs: dict[str, str] = {}
        self.errors: list[str] = []
        self.run_id = uuid.uuid4().hex[:8]

    def run(self) -> None:
        for i in range(self.count):
            user = f"user_chaos_{i % self.users}"
            key = f"chaos-{self.run_id}-{i}"  # a retry across the ingest kill: the same job
            for _attempt in range(40):  # retry transient 503s and the ingest restart
                try:
                    self.jobs[self.stack.submit(sample_profile(i), user, key)] = user
                    break
                except Exception as exc:
                    error = str(exc)
                    time.sleep(0.5)
            else:
                self.errors.append(error)
            time.sleep(self.interval)


def _poison(kafka: KafkaSettings) -> tuple[str, list[Poison]]:
    prefix = f"poison-{uuid.uuid4().hex[:8]}"
    records = poison_records(TOPICS.profile_submitted, ConsumerGroup.ORCHESTRATOR, prefix)
    produced = asyncio.run(inject(kafka, records))
    return prefix, produced


def _unserved(stack: LocalStack, jobs: dict[str, str], timeout_s: float = 30) -> list[str]:
    """Jobs the (restarted) ingest does not serve once it has caught up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = stack.http.get(stack.url("ingest", "/readyz"))
        if ready.status_code == 200:
            break
        time.sleep(0.5)
    return [job for job, user in jobs.items() if stack.job(job, user).status_code != 200]


async def _count_dead_letters(kafka: KafkaSettings) -> list[Any]:
    letters = []
    for group in DLQ_GROUPS:
        letters += await read_dead_letters(kafka, group)
    return letters


@dataclass(frozen=True)
class Tally:
    """What reached Convex for the submitted jobs."""

    submitted: int
    completed: int
    lost: int
    duplicated: int

    def __str__(self) -> str:
        return (
            f"submitted {self.submitted}, completed {self.completed}, lost {self.lost}, "
            f"duplicated {self.duplicated}"
        )


def wait_and_tally(stack: LocalStack, submitted: dict[str, str], timeout_s: float) -> Tally:
    """Wait for every job's documents *in the Convex stand-in*, then count them: a job
    or agent output missing is lost, a second document for one is a duplicate."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stack.landed(submitted):
        time.sleep(1)
    time.sleep(2)  # let any late duplicate write land before counting
    recommendations = [
        d for d in stack.convex.documents("careerRecommendations") if d["jobId"] in submitted
    ]
    outputs = [d for d in stack.convex.documents("agentOutputs") if d["jobId"] in submitted]
    if len(recommendations) < len(submitted):
        print(stack.logs(), file=sys.stderr)
    per_job = Counter(d["jobId"] for d in recommendations)
    per_output = Counter((d["jobId"], d["agent"]) for d in outputs)
    expected_outputs = {(j, a) for j in submitted for a in ("profile-analyzer", "career-matcher")}
    return Tally(
        submitted=len(submitted),
        completed=sum(1 for d in recommendations if d["status"] == "completed"),
        lost=len(set(submitted) - set(per_job)) + len(expected_outputs - set(per_output)),
        duplicated=sum(n - 1 for n in per_job.values()) + sum(n - 1 for n in per_output.values()),
    )


def step(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(profiles: int, users: int, timeout_s: float, workdir: Path, kafka: str = "tansu") -> int:
    env = {
        "SHUTDOWN_GRACE_S": str(SHUTDOWN_GRACE_S),
        "RETRY_BACKOFF_BASE_S": "0.5",
        "RETRY_BACKOFF_MAX_S": "5",
        "RETRY_MAX_ATTEMPTS": "6",
        "CONVEX_MAX_RETRY_S": "10",
        "ORCHESTRATOR_STEP_TIMEOUT_S": "30",
    }
    step(f"starting the stack in {workdir}")
    with LocalStack(workdir, env=env, kafka=kafka) as stack:
        # Spread the submissions over the whole fault sequence (each kill + restart takes
        # ~10 s), so every kill happens with jobs in flight.
        submitter = Submitter(stack, profiles, users, duration_s=10.0 * len(KILL_ORDER) + 5)
        submitter.start()
        overran: list[str] = []
        prefix, poisons = "", list[Poison]()
        accepted_before_kill: dict[str, str] = {}
        for name in KILL_ORDER:
            time.sleep(1.5)
            step(f"SIGKILL {name}")
            stack.kill(name)
            if name == "profile-analyzer":
                step("Convex stand-in: next 15 writes get 503, then 5 get 429 (Retry-After: 1)")
                stack.convex.inject_faults(503, count=15, retry_after=1)
                stack.convex.inject_faults(429, count=5, retry_after=1)
            if name == "career-matcher":
                prefix, poisons = _poison(stack.kafka_settings())
                shapes = ", ".join(p.name for p in poisons)
                step(f"{len(poisons)} poison records injected ({prefix}-*): {shapes}")
            if name == "ingest":
                accepted_before_kill = dict(submitter.jobs)
            stack.start(name)
            step(f"{name} restarted and ready")
        step("SIGTERM career-matcher under load")
        took = stack.terminate("career-matcher")
        if took > SHUTDOWN_GRACE_S + 5:
            overran.append(f"career-matcher took {took:.1f}s to exit (grace {SHUTDOWN_GRACE_S}s)")
        step(f"career-matcher exited in {took:.1f}s; restarting")
        stack.start("career-matcher")
        submitter.join()
        submitted = dict(submitter.jobs)
        unserved = _unserved(stack, accepted_before_kill)
        step(
            f"restarted ingest serves {len(accepted_before_kill) - len(unserved)} of the "
            f"{len(accepted_before_kill)} jobs accepted before its SIGKILL"
        )
        step(f"{len(submitted)} submitted; waiting for Convex documents")

        tally = wait_and_tally(stack, submitted, timeout_s)
        letters = asyncio.run(_count_dead_letters(stack.kafka_settings()))

    completed, lost, duplicated = tally.completed, tally.lost, tally.duplicated
    print(f"{tally}, dead-lettered {len(letters)}", flush=True)
    problems = list(overran) + submitter.errors
    if len(submitted) != profiles:
        problems.append(f"only {len(submitted)} of {profiles} submissions were accepted")
    problems += [f"job {job} accepted before the ingest kill is not served" for job in unserved]
    poison_letters = [
        s
        for s in letters
        if s.group == ConsumerGroup.ORCHESTRATOR
        and (s.letter.original_key is None or s.letter.original_key.startswith(prefix))
    ]
    if len(poison_letters) != len(poisons) or len(letters) != len(poisons):
        problems.append(
            f"{len(poison_letters)} of {len(poisons)} poison records dead-lettered, "
            f"{len(letters)} dead letters in all"
        )
        problems += [
            f"dead letter: {s.group} {s.letter.original_key} {s.letter.error_class} "
            f"{s.letter.error_message[:200]}"
            for s in letters
        ]
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if lost or duplicated or problems or completed != len(submitted) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--kafka", choices=("tansu", "apache"), default="tansu")
    args = parser.parse_args(argv)
    workdir = args.workdir or default_workdir(f"chaos-{uuid.uuid4().hex[:6]}")
    return run(args.profiles, args.users, args.timeout, workdir, kafka=args.kafka)


if __name__ == "__main__":
    sys.exit(main())
