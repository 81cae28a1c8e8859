"""Every setting, as one model built from the sections each layer owns, read once from the environment.

    graph     graphrec.graph.settings.GraphSettings         backend, connection, candidate caps
    ingest    graphrec.ingest.settings.IngestSettings       where named datasets are
    training  graphrec.training.settings.TrainingSettings   holdout, refresh tolerance, versions kept
    serving   graphrec.serving.settings.ServingSettings     request path, Redis, API, process
    keys      graphrec.serving.access.keys.KeySettings             client keys, rate limit, slate secret

Each field is read from GRAPHREC_<FIELD> (a few also from their common names: NEO4J_URI, REDIS_URL, ...), from the
environment or else a .env file in the working directory; docs/settings.md lists them all (`graphrec settings
--markdown` writes it). Importing this module loads no model code and no torch."""

from __future__ import annotations

import json
import os
import types
import typing
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from graphrec.ingest.settings import IngestSettings
from graphrec.serving.settings import ServiceSettings, sections

PREFIX = "GRAPHREC_"
# Fields also read from the name other tools give them; the GRAPHREC_ name wins when both are set.
COMMON_NAMES = {"neo4j_uri": "NEO4J_URI", "neo4j_user": "NEO4J_USER", "neo4j_password": "NEO4J_PASSWORD",
                "neo4j_database": "NEO4J_DATABASE", "redis_url": "REDIS_URL"}
# Variables renamed in a release, still read for one more with a warning naming the new one: old -> new.
RENAMED = {"GRAPHREC_REDIS_RETRY_S": "GRAPHREC_DEPENDENCY_RETRY_S"}


class Settings(ServiceSettings):
    """Every setting: the data folder and one section per layer (the service reads ServiceSettings, its part)."""

    ingest: IngestSettings = Field(default_factory=IngestSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env"),
                 **overrides: Any) -> Settings:
        """The settings the variables name, the environment's over the .env file's, defaults for the rest;
        ``overrides`` (fields by name, flat or by section) over all of them."""
        values = {**(_dotenv(env_file) if env_file else {}), **(os.environ if environ is None else environ)}
        return cls(**{**_fields_from(values), **overrides})


def fields() -> dict[str, tuple[str, FieldInfo]]:
    """Every settable field by name, with the section that owns it ("" for the top level)."""
    found = {name: ("", field) for name, field in Settings.model_fields.items() if name not in sections(Settings)}
    for section, model in sections(Settings).items():
        for name, field in model.model_fields.items():
            assert name not in found, f"{name} is a field of two sections"
            found[name] = (section, field)
    return found


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _fields_from(values: Mapping[str, str]) -> dict[str, Any]:
    known = fields()
    for old, new in RENAMED.items():
        if old in values:
            warnings.warn(f"{old} is renamed {new}; the old name is read until the next release", FutureWarning,
                          stacklevel=3)
            values = {new: values[old], **values}
    unknown = sorted(name for name in values if name.startswith(PREFIX) and name not in RENAMED
                     and name.removeprefix(PREFIX).lower() not in known)
    if unknown:
        warnings.warn(f"unknown settings, ignored: {', '.join(unknown)} (docs/settings.md lists them)", stacklevel=3)
    found: dict[str, Any] = {}
    for name, (_, field) in known.items():
        for variable in (env_name(name), COMMON_NAMES.get(name)):
            if variable and variable in values:
                found[name] = _decode(values[variable], field, variable)
                break
    return found


def _decode(text: str, field: FieldInfo, variable: str) -> Any:
    """A variable's text as the field takes it: JSON for lists, tuples and key lists, the text itself otherwise."""
    if not _takes_json(field.annotation):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{variable} must be JSON ({error}); got {text!r}") from None


def _takes_json(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_json(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin in (list, tuple, dict) or (isinstance(annotation, type) and issubclass(annotation, BaseModel))


def _dotenv(path: Path) -> dict[str, str]:
    return {key: value for key, value in dotenv_values(path).items() if value is not None} if path.is_file() else {}


def reference_markdown() -> str:
    """docs/settings.md: every variable with its section, default and meaning."""
    lines = ["# Settings", "",
             "Every setting of graphrec, read from the environment or a `.env` file in the working directory "
             "(the environment wins). Generated from the settings model (graphrec/settings.py) by "
             "`graphrec settings --markdown > docs/settings.md`; a test fails when it is stale.", "",
             "| variable | section | default | meaning |", "|---|---|---|---|"]
    for name, (section, field) in fields().items():
        names = " or ".join(f"`{variable}`" for variable in (env_name(name), COMMON_NAMES.get(name)) if variable)
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {names} | {section or 'top'} | {_default(field)} | {meaning} |")
    renamed = ", ".join(f"`{old}` (now `{new}`)" for old, new in RENAMED.items())
    return "\n".join([*lines, "", f"Renamed, still read for one release with a warning: {renamed}.", ""])


def env_example() -> str:
    """.env.example: every variable, commented out at its default."""
    lines = ["# graphrec settings (docs/settings.md says what each means). Copy to .env and uncomment what you set.",
             "# Generated by `graphrec settings --env > .env.example`."]
    section = None
    for name, (owner, field) in fields().items():
        if owner != section:
            section = owner
            lines += ["", f"# {owner or 'top'}"]
        default = _default(field).strip("`")
        shown = "" if default in ("unset", "(secret)") or default.startswith("<") else default
        lines.append(f"# {env_name(name)}={shown}")
    return "\n".join(lines) + "\n"


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return f"`{extra['shown_default']}`"
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value == []:
        return "unset" if value is None else "`[]`"
    value = getattr(value, "value", value)
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings.from_env()

