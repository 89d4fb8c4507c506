"""The service list is declared once (careers_tools.services) and matches what exists:
the packages under services/, the tools' dependencies and the import-linter contracts."""

import tomllib

from careers_tools.chaos import KILL_ORDER
from careers_tools.paths import REPO_ROOT
from careers_tools.services import SERVICES


def test_every_service_package_is_in_the_list_once() -> None:
    packages = {
        path.parent.name
        for path in (REPO_ROOT / "services").glob("*/pyproject.toml")
        if (path.parent / "src").is_dir()
    }
    assert sorted(s.name for s in SERVICES) == sorted(packages)
    for service in SERVICES:
        main = REPO_ROOT / "services" / service.name / "src" / service.module / "__main__.py"
        assert main.is_file(), f"python -m {service.module} would not run"
    ports = [s.dev_port for s in SERVICES]
    assert len(set(ports)) == len(ports)


def test_the_tools_depend_on_every_service_they_start() -> None:
    tools = tomllib.loads((REPO_ROOT / "tools" / "pyproject.toml").read_text())
    assert {s.name for s in SERVICES} <= set(tools["project"]["dependencies"])


def test_the_import_contracts_name_every_service() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    modules = {s.module for s in SERVICES}
    assert modules <= set(config["root_packages"])
    services_layer = {m.strip() for m in contracts["layers"]["layers"][1].split(":")}
    assert services_layer == modules
    assert set(contracts["services-independent"]["modules"]) == modules
    assert set(contracts["pure-domains"]["source_modules"]) == {f"{m}.domain" for m in modules}


def test_make_chaos_kills_every_service() -> None:
    assert sorted(KILL_ORDER) == sorted(s.name for s in SERVICES)
