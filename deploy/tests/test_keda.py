"""KEDA scales each consumer group on its own lag, and reaches Kafka as the services do.

One Kafka address for everything (careers-config), the same security mode and the same
Secret keys for the TriggerAuthentication as for the pods.
"""

from typing import Any

import pytest
import yaml
from careers_contracts import TOPICS

from .rendering import (
    KAFKA_TLS_DIR,
    TARGETS,
    WORKER_GROUPS,
    k8s_env_names,
    of_kind,
    render,
)


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
    its CA is the Secret key the pods read, and its principal is its own."""
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
        # KEDA logs in as its own principal (careers-kafka); each pod as its own
        # (careers-kafka-<workload>, test_k8s_security): never KEDA's credentials.
        assert secrets["username"] == ("careers-kafka", "username")
        assert secrets["password"] == ("careers-kafka", "password")
        for pod in pods:
            (container,) = pod["containers"]
            username = _secret_ref(container, "KAFKA_SASL_USERNAME")
            password = _secret_ref(container, "KAFKA_SASL_PASSWORD")
            assert username is not None and username[0].startswith("careers-kafka-")
            assert password == (username[0], "password")
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
