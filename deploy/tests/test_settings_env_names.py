"""Every environment variable deploy/ gives a service (Kubernetes, compose, the compose
.env example) is one its settings read: no dead configuration."""

import importlib
import importlib.util
import re
from functools import cache

from careers_runtime.settings import ServiceSettings

from .rendering import (
    ROOT,
    SERVICES,
    TARGETS,
    compose_document,
    k8s_env_names,
    render,
)

# Variables read by tools other than our services' settings.
NON_SETTINGS_ENV = {"COMPOSE_PROFILES"}


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
