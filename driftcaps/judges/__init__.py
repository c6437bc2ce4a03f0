"""Judges: map (prompt, response) to a refusal or harm verdict (DESIGN §3).

Get one by name::

    from driftcaps.judges import get_refusal_judge, get_harm_judge

    judge = get_refusal_judge("pattern")
    verdict = judge.judge(prompt, response)  # RefusalVerdict(refusal_class, refusal_score)

Registered judges are listed in :data:`REFUSAL_JUDGES` and :data:`HARM_JUDGES`; an unknown name
raises :class:`~driftcaps.errors.DriftCapsError` naming the choices.
"""

from __future__ import annotations

from collections.abc import Callable

from driftcaps.errors import DriftCapsError
from driftcaps.judges.base import (
    REFUSAL_CLASSES,
    HarmJudge,
    HarmVerdict,
    RefusalClass,
    RefusalJudge,
    RefusalVerdict,
)
from driftcaps.judges.pattern import PatternHarmJudge, PatternRefusalJudge

__all__ = [
    "REFUSAL_CLASSES",
    "REFUSAL_JUDGES",
    "HARM_JUDGES",
    "RefusalClass",
    "RefusalJudge",
    "RefusalVerdict",
    "HarmJudge",
    "HarmVerdict",
    "PatternRefusalJudge",
    "PatternHarmJudge",
    "get_refusal_judge",
    "get_harm_judge",
]

_REFUSAL_FACTORIES: dict[str, Callable[[], RefusalJudge]] = {
    PatternRefusalJudge.name: PatternRefusalJudge,
}
_HARM_FACTORIES: dict[str, Callable[[], HarmJudge]] = {
    PatternHarmJudge.name: PatternHarmJudge,
}

REFUSAL_JUDGES: tuple[str, ...] = tuple(_REFUSAL_FACTORIES)
"""Names accepted by :func:`get_refusal_judge`."""
HARM_JUDGES: tuple[str, ...] = tuple(_HARM_FACTORIES)
"""Names accepted by :func:`get_harm_judge`."""


def _lookup(name: str, factories: dict, kind: str):
    key = str(name).strip()
    if "@" in key:  # accept the recorded id "name@version" when the version matches
        key, _, version = key.partition("@")
        factory = factories.get(key)
        if factory is not None and factory.version != version:
            raise DriftCapsError(
                f"{kind} judge {name!r}: this DriftCaps has {key}@{factory.version}, "
                f"not version {version}; use {key!r}."
            )
    factory = factories.get(key)
    if factory is None:
        choices = ", ".join(factories)
        raise DriftCapsError(f"unknown {kind} judge {name!r}; choose one of: {choices}.")
    return factory()


def get_refusal_judge(name: str = "pattern") -> RefusalJudge:
    """Return a new refusal judge by name (see :data:`REFUSAL_JUDGES`).

    Raises:
        DriftCapsError: unknown name (the message lists the choices).
    """
    return _lookup(name, _REFUSAL_FACTORIES, "refusal")


def get_harm_judge(name: str = "pattern-asr") -> HarmJudge:
    """Return a new harm judge by name (see :data:`HARM_JUDGES`).

    Raises:
        DriftCapsError: unknown name (the message lists the choices).
    """
    return _lookup(name, _HARM_FACTORIES, "harm")
