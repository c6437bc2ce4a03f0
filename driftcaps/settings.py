"""Settings from YAML files and command-line values: one path for every config model.

:func:`build_settings` builds a :class:`~driftcaps.schema.Settings` model (``EvalSettings``,
``TrainConfig``) from an optional YAML file overlaid by explicit values (the CLI flags the user
gave), so YAML and flags reach every field alike. A bad value ends in one
:class:`~driftcaps.errors.DriftCapsError` line naming the flag, or the YAML file and its field.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo

from driftcaps.errors import DriftCapsError
from driftcaps.schema import Settings, SettingsError, SettingsT


def flag(name: str, field: FieldInfo | None = None) -> str:
    """The flag of a field: ``--`` + the name with dashes, unless the field names its own."""
    extra = (field.json_schema_extra or {}) if field is not None else {}
    return extra.get("flag") or "--" + name.replace("_", "-")


def _from_flag(model: type[Settings], name: str, value: Any) -> Any:
    """A flag value as the field expects it (comma-separated text -> list)."""
    field = model.model_fields.get(name)
    if field is not None and typing.get_origin(field.annotation) in (list, tuple) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def read_yaml_config(path: Path) -> dict[str, Any]:
    """A YAML mapping of settings fields (``yaml.safe_load``).

    Raises:
        DriftCapsError: missing file, invalid YAML, or not a mapping.
    """
    if not path.is_file():
        raise DriftCapsError(f"{path}: config file not found.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise DriftCapsError(f"{path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    if not isinstance(data, dict):
        raise DriftCapsError(f"{path}: expected a mapping of config fields.")
    return data


def build_settings(model: type[SettingsT], flags: dict[str, Any], config: str | Path | None = None) -> SettingsT:
    """``model`` from the YAML ``config`` (if any) overlaid by the flags that were given.

    Raises:
        DriftCapsError: a bad YAML file, or a bad value (naming the flag, or the file and field).
    """
    config = Path(config) if config is not None else None
    data = read_yaml_config(config) if config is not None else {}
    given = {k: _from_flag(model, k, v) for k, v in flags.items() if v is not None}
    try:
        return model(**{**data, **given})
    except SettingsError as e:
        field = model.model_fields.get(e.field or "")
        if e.field in given or (field is not None and config is None):
            where = flag(e.field, field)
            raise DriftCapsError(str(e).replace(f"field {e.field}", where, 1)
                                 .replace(f": {e.field} is required", f": {where} is required")) from None
        raise DriftCapsError(f"{config}: {e}") from None


