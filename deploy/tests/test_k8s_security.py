"""Kubernetes security: no Secret is applied, ingest is served over TLS only, network
policies deny by default and allow only what each service needs."""

from urllib.parse import urlsplit

import pytest
import yaml

from .rendering import (
    K8S,
    TARGETS,
    of_kind,
    render,
)

WORKLOADS = ("ingest", "orchestrator", "profile-analyzer", "career-matcher", "convex-sync")


def test_no_secret_is_applied_and_the_templates_hold_placeholders_only() -> None:
    """Applying the manifests must never overwrite a real Secret with placeholders: they
    reference careers-secrets (and, in production, careers-kafka) but never create them."""
    expected = {
        "base": {"careers-secrets"},
        # Each workload its own Kafka principal's Secret (least privilege, issue 25); the
        # shared careers-kafka holds the CA (a volume) and KEDA's own principal.
        "overlays/production": {
            "careers-secrets",
            *(f"careers-kafka-{w}" for w in WORKLOADS),
            "careers-kafka-admin",
        },
    }
    for target in TARGETS:
        docs = render(target)
        assert not of_kind(docs, "Secret"), target
        referenced = {
            ref["secretKeyRef"]["name"]
            for d in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]
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


@pytest.mark.parametrize("target", TARGETS)
def test_the_otlp_collector_the_config_names_is_reachable(target: str) -> None:
    """Issue 25: the production overlay configured an OTLP endpoint that the default-deny
    policies blocked (traces silently dropped). Every workload that is told to export
    must be allowed to reach that host's namespace and port."""
    docs = render(target)
    config = of_kind(docs, "ConfigMap")["careers-config"]["data"]
    endpoint = config.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    policies = of_kind(docs, "NetworkPolicy")
    if not endpoint:
        return  # nothing exports: nothing to allow
    url = urlsplit(endpoint)
    host_parts = (url.hostname or "").split(".")
    # <service>.<namespace>.svc[.cluster.local]: the collector's namespace.
    assert len(host_parts) >= 3 and host_parts[2] == "svc", endpoint
    namespace = host_parts[1]
    port = url.port or (443 if url.scheme == "https" else 80)
    allowed = [
        policy["metadata"]["name"]
        for policy in policies.values()
        if policy["spec"]["podSelector"] == {}  # every workload
        for rule in policy["spec"].get("egress", [])
        if any(p["port"] == port for p in rule.get("ports", []))
        and any(
            t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == namespace
            for t in rule.get("to", [])
        )
    ]
    assert allowed, f"no NetworkPolicy lets the pods reach {endpoint}"


def test_each_production_workload_has_its_own_kafka_principal() -> None:
    """Issue 25: one Kafka identity for every workload (the topic Job included) let the
    internet-facing ingest write every topic. Each now reads its own Secret, named after it;
    the ACLs for those principals come from the registry (careers_tools.acls)."""
    docs = render("overlays/production")
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]
    }

    def secret_of(container: dict, variable: str) -> str:
        (item,) = [e for e in container["env"] if e["name"] == variable]
        return str(item["valueFrom"]["secretKeyRef"]["name"])

    for name, container in pods.items():
        expected = f"careers-kafka-{name}" if name in WORKLOADS else "careers-kafka-admin"
        assert secret_of(container, "KAFKA_SASL_USERNAME") == expected, name
        assert secret_of(container, "KAFKA_SASL_PASSWORD") == expected, name
    assert len({secret_of(c, "KAFKA_SASL_PASSWORD") for c in pods.values()}) == len(pods)
