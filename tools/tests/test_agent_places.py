"""An agent added in one obvious place: what follows the service list follows it, and every
place that has to be written for it is named until it is (docs/architecture.md, "To add an
agent", lists the same steps)."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from careers_contracts.base import ContractModel
from careers_contracts.topics import Topic, TopicRegistry
from careers_tools import agent_places, chaos, images
from careers_tools.agent_places import AGENTS, missing_places
from careers_tools.services import SERVICES, Service
from careers_tools.testing import stack
from careers_tools.testing.stack import OUTPUT_AGENTS, LocalStack

THROWAWAY = Service("resume-critic", "resume_critic", 8085)


@dataclass(frozen=True)
class GrownRegistry(TopicRegistry):
    critique_requested: Topic = Topic(  # noqa: RUF009 (frozen, as the registry's own fields)
        name="careers.critique.requested.v1",
        payload=ContractModel,
        description="a throwaway agent's requests",
        producers=("orchestrator",),
        consumers=("resume-critic",),
    )


def test_every_service_and_agent_is_named_everywhere_it_must_be() -> None:
    """The repository as it is: nothing missing (else this names each place)."""
    assert missing_places() == []


def test_a_throwaway_agent_is_named_in_every_place_still_to_write() -> None:
    missing = missing_places(
        services=(*SERVICES, THROWAWAY),
        agents=(*AGENTS, THROWAWAY.name),
        registry=GrownRegistry(),
    )
    assert missing == [
        "Dockerfile: targets build-resume-critic and resume-critic",
        "deploy/compose/compose.yaml: service resume-critic",
        "deploy/k8s/base/resume-critic.yaml: its Deployment (and PDB)",
        "deploy/k8s/base/kustomization.yaml: resource resume-critic.yaml",
        "deploy/k8s/overlays/production/kafka-user-resume-critic.yaml: its Kafka principal "
        "(make acls prints it) and its Secret in the overlay",
        "deploy/k8s/base/scaledobjects.yaml: ScaledObject resume-critic",
        "deploy/convex/convex/validators.ts: agent v.literal('resume-critic')",
    ]


def test_what_follows_the_service_list_takes_the_throwaway_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The test stack starts it, chaos kills it, the images include it, its outputs are
    awaited, KEDA scales its group: no list of names to edit for any of them."""
    grown = (*SERVICES, THROWAWAY)
    monkeypatch.setattr(stack, "SERVICES", grown)
    assert THROWAWAY in LocalStack(tmp_path).specs  # built, not started
    assert chaos.kill_order(grown)[-1] == "resume-critic"
    assert "resume-critic" in images.image_targets(grown)
    assert "resume-critic" in agent_places.consumer_groups(GrownRegistry())
    assert OUTPUT_AGENTS == AGENTS  # agentOutputs awaited per agent of the contract
