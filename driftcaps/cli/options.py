"""CLI options made from a settings model: one declaration per option.

A :class:`~driftcaps.schema.Settings` model (``EvalSettings``, ``TrainConfig``) declares each
option once: name, type, default, range and help (``Field(description=...)``). :func:`settings_command`
turns its fields into typer options (``rank`` -> ``--rank``, a list -> a comma-separated value,
a bool -> ``--x/--no-x``); :func:`driftcaps.settings.build_settings` then builds the model from
a YAML file (optional) overlaid by the flags the user gave.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic.fields import FieldInfo

from driftcaps.schema import Settings
from driftcaps.settings import build_settings, flag

__all__ = ["build_settings", "model_parameters", "settings_command"]


def _kind(annotation: Any) -> tuple[type, Sequence[str] | None]:
    """(type typer parses, choices) for a field annotation; lists and unions parse as text."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return str, [str(a) for a in typing.get_args(annotation)]
    if origin in (typing.Union, types.UnionType):
        return _kind(args[0]) if len(args) == 1 else (str, None)
    if origin in (list, tuple):
        return str, None
    if annotation in (bool, int, float, Path):
        return annotation, None
    return str, None


def _help(name: str, field: FieldInfo, choices: Sequence[str] | None) -> str:
    text = field.description or name
    if choices:
        text += f" One of: {', '.join(choices)}."
    if field.is_required():
        return text + " (required)"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(map(str, default))
    return text + ("" if default in (None, "") else f" (default: {default})")


def model_parameters(model: type[Settings], exclude: Sequence[str] = ()) -> list[inspect.Parameter]:
    """One keyword parameter with a ``typer.Option`` per field of ``model`` (default None:
    "not given", so a YAML value or the model's default applies)."""
    params = []
    for name, field in model.model_fields.items():
        if name in exclude:
            continue
        kind, choices = _kind(field.annotation)
        decl = flag(name, field)
        if kind is bool and "/" not in decl:
            decl = f"{decl}/--no-{decl[2:]}"
        option = typer.Option(None, decl, help=_help(name, field, choices), show_default=False)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=kind | None))
    return params


def _from_flag(model: type[Settings], name: str, value: Any) -> Any:
    """A flag value as the field expects it (comma-separated text -> list)."""
    annotation = model.model_fields[name].annotation
    if typing.get_origin(annotation) in (list, tuple) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def settings_command(model: type[Settings], exclude: Sequence[str] = (),
                     extra: Sequence[inspect.Parameter] = ()) -> Callable:
    """Decorate ``handler(flags: dict, **extra)`` into a typer command whose options are the
    fields of ``model`` (minus ``exclude``) plus the ``extra`` parameters (e.g. ``--config``)."""
    generated = model_parameters(model, exclude)
    extra_names = [p.name for p in extra]

    def wrap(handler: Callable) -> Callable:
        def command(**kwargs: Any) -> Any:
            extras = {k: kwargs.pop(k) for k in extra_names}
            return handler(kwargs, **extras)

        params = [*extra, *generated]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = handler.__doc__
        command.__name__ = handler.__name__
        return command

    return wrap
