"""Typed records: the base classes of every JSON file DriftCaps writes, and reading them back.

Every top-level JSON file (``report.json``, ``drift.json``, ``manifest.json``, ``run.json``,
``demo.json``, the judge weight files, ...) is a :class:`VersionedRecord`: a pydantic model with
a ``kind`` (what the file is) and a ``schema_version`` (its layout). :func:`read_record` checks
both before it validates the rest, so a file from a newer DriftCaps, a file of another kind or a
malformed field ends in one :class:`~driftcaps.errors.DriftCapsError` line naming the file, the
field and the fix. The schemas themselves live with the stage that writes them (see
``docs/architecture.md``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, write_json

R = TypeVar("R", bound="VersionedRecord")
SettingsT = TypeVar("SettingsT", bound="Settings")


class Record(BaseModel):
    """A strict record: unknown fields are refused (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class VersionedRecord(Record):
    """A record stored as a JSON file of its own.

    Subclasses set ``KIND`` (e.g. ``"driftcaps.eval"``) and ``SCHEMA_VERSION`` (moved whenever
    the layout changes in a way older readers cannot read); the fields ``kind`` and
    ``schema_version`` default to them (a file written before the fields existed reads as
    version 1 of its kind).
    """

    KIND: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1
    kind: str = ""

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.KIND:
            data = {"kind": cls.KIND, "schema_version": cls.SCHEMA_VERSION, **data}
            if data["kind"] != cls.KIND:
                raise ValueError(f"kind {data['kind']!r} is not {cls.KIND!r}")
        return data


class MetricCI(Record):
    """A rate or difference with its 95% bootstrap confidence interval.

    ``value`` is the point estimate on all ``n`` prompts; ``ci_low``/``ci_high`` are percentile
    bootstrap bounds (``docs/metrics.md#confidence-intervals``). All three are None when ``n``
    is 0 (nothing to measure).
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int = Field(ge=0)


def _where(err: dict) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(top level)"


def validate_record(model: type[R], data: Any, source: str | os.PathLike, fix: str) -> R:
    """Validate ``data`` (parsed JSON) as ``model``; see :func:`read_record`."""
    if not isinstance(data, dict):
        raise DriftCapsError(f"{source}: expected a JSON object ({model.KIND or model.__name__}); {fix}.")
    kind = data.get("kind", model.KIND)
    if model.KIND and kind != model.KIND:
        raise DriftCapsError(f"{source}: is a {kind!r} file, not {model.KIND!r}; {fix}.")
    version = data.get("schema_version", model.SCHEMA_VERSION)
    if not isinstance(version, int) or version > model.SCHEMA_VERSION or version < 1:
        raise DriftCapsError(
            f"{source}: schema_version {version!r} is unknown to this DriftCaps (it reads "
            f"{model.KIND or model.__name__} versions 1 to {model.SCHEMA_VERSION}); upgrade driftcaps "
            f"or {fix}.")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise DriftCapsError(f"{source}: field {_where(first)}: {first['msg']}; {fix}.") from None


def read_record(path: str | os.PathLike, model: type[R], fix: str = "re-create the file") -> R:
    """Read a JSON file as the record ``model``.

    Args:
        path: the file.
        model: the :class:`VersionedRecord` subclass the file must hold.
        fix: what the user should do when the file is unusable (ends each error message).

    Raises:
        DriftCapsError: missing file, invalid JSON, another ``kind``, an unknown
            ``schema_version`` (newer than this DriftCaps reads), or a field that does not
            validate (the message names the first such field).
    """
    data = read_json(path, f"{model.KIND or model.__name__} file")
    return validate_record(model, data, path, fix)


def write_record(path: str | os.PathLike, record: BaseModel) -> None:
    """Write a record as indented UTF-8 JSON, atomically (``driftcaps.io.write_json``)."""
    write_json(Path(path), record.model_dump(mode="json"))


class SettingsError(DriftCapsError):
    """A settings field with a bad value; ``field`` names it (the CLI turns it into its flag)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Settings(Record):
    """Base of the configs (evaluation settings, training config): one declaration per option,
    from which the CLI flags, their help and defaults, YAML loading and the range checks all
    come (:mod:`driftcaps.cli.options`). Building one with a bad value raises
    :class:`SettingsError` naming the field, never a pydantic traceback."""

    WHAT: ClassVar[str] = "settings"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise settings_error(self.WHAT, e, data, sorted(type(self).model_fields)) from None


def settings_error(what: str, e: ValidationError, data: dict, names: list[str]) -> SettingsError:
    """One :class:`SettingsError` line for the first problem of a validation error."""
    err = e.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    field = loc[0] if loc else None
    if err["type"] == "missing":
        return SettingsError(f"{what}: {field} is required.", field)
    if err["type"] == "extra_forbidden":
        return SettingsError(f"{what}: unknown field {field!r}; valid fields: {', '.join(names)}.", field)
    msg = err["msg"].removeprefix("Value error, ")
    shown = f"={data[field]!r}" if field in data else ""
    return SettingsError(f"{what} field {'.'.join(loc) or '?'}{shown}: {msg}.", field)
