"""docs/configuration.md names every setting a service reads, so an operator finds each one
in one place: a setting added without a line there fails here."""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.common.settings import ServiceSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
CLASSES = {"intake": "IntakeSettings", "digitization": "DigitizationSettings",
           "processing": "ProcessingSettings", "notification": "NotificationSettings",
           "reporting": "ReportingSettings", "web": "WebSettings"}


def variables(cls: type[BaseSettings]) -> set[str]:
    """The environment variable each field is read from."""
    prefix = cls.model_config.get("env_prefix") or ""
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.add(str(alias.choices[0]))
        elif isinstance(alias, str):
            names.add(alias)
        elif name in ServiceSettings.model_fields and cls is not ServiceSettings:
            names.add(f"*_{name.upper()}")  # documented once for every service
        else:
            names.add(prefix + name.upper())
    return names


def test_every_setting_is_documented() -> None:
    text = DOC.read_text("utf-8")
    missing = set()
    for service, class_name in CLASSES.items():
        cls = getattr(importlib.import_module(f"services.{service}.settings"), class_name)
        for variable in variables(cls):
            if service != "web" and variable.endswith("_HTTP_PORT"):
                variable = "*_HTTP_PORT"  # each service overrides its default port only
            if f"`{variable}`" not in text:
                missing.add(f"{service}: {variable}")
    assert not missing, "settings missing from docs/configuration.md:\n" + "\n".join(
        sorted(missing))
