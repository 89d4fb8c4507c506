"""Configuration errors: one log line naming the setting, exit code 78, no traceback.

A service that cannot start because of its configuration must say which setting is wrong
and stop with a code a supervisor can tell apart from a crash (78, ``EX_CONFIG`` from
sysexits.h), instead of printing a traceback and being restarted into the same error::

    settings = load_settings(IngestSettings, "ingest")     # exits 78 on invalid settings
    with config_errors("ingest"):                          # exits 78 on a ConfigError
        app = create_app(settings)
"""

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from careers_runtime.logging import configure_logging
from careers_runtime.settings import PRODUCTION_REFUSES

EX_CONFIG = 78

log = logging.getLogger("careers.config")


class ConfigError(ValueError):
    """A setting is missing or unusable; ``setting`` is its environment variable name."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


def _env_name(settings_cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    name = str(loc[0])
    field = settings_cls.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str):
        name = field.validation_alias
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return (prefix + name).upper()


def describe(settings_cls: type[BaseSettings], exc: ValidationError) -> list[ConfigError]:
    """One ``ConfigError`` per failing setting (no input values: they may be secrets);
    the production check list (``ServiceSettings.production_problems``) is one per
    unsafe setting, each named by the variable its problem starts with."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith(PRODUCTION_REFUSES):
            for problem in message.removeprefix(PRODUCTION_REFUSES).split("; "):
                setting = re.split(r"[ =]", problem, maxsplit=1)[0]
                problems.append(ConfigError(setting, f"unsafe in production: {problem}"))
            continue
        problems.append(ConfigError(_env_name(settings_cls, error["loc"]), message))
    return problems


def exit_config_error(service: str, problems: list[ConfigError]) -> NoReturn:
    """Log the problems on one line and exit with ``EX_CONFIG``."""
    fmt = os.environ.get("LOG_FORMAT", "json").lower()
    configure_logging(service, "INFO", "text" if fmt == "text" else "json")
    settings = [p.setting for p in problems]
    log.critical(
        "invalid configuration: %s",
        "; ".join(str(p) for p in problems),
        extra={"settings": settings, "exitCode": EX_CONFIG},
    )
    logging.shutdown()
    raise SystemExit(EX_CONFIG)


def load_settings[S: BaseSettings](settings_cls: type[S], service: str) -> S:
    """``settings_cls()`` from the environment, or exit 78 naming every invalid setting."""
    try:
        return settings_cls()
    except ValidationError as exc:
        exit_config_error(service, describe(settings_cls, exc))


@contextmanager
def config_errors(service: str) -> Iterator[None]:
    """Turn a ``ConfigError`` raised while building the app into exit 78."""
    try:
        yield
    except ConfigError as exc:
        exit_config_error(service, [exc])
