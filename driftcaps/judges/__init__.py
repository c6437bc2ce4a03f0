"""Judges: map (prompt, response) to a refusal or harm verdict (``docs/judges.md``).

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
from driftcaps.judges.trained import TrainedHarmJudge, TrainedRefusalJudge

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
    "TrainedRefusalJudge",
    "TrainedHarmJudge",
    "DEFAULT_REFUSAL_JUDGE",
    "DEFAULT_HARM_JUDGE",
    "get_refusal_judge",
    "get_harm_judge",
]

_REFUSAL_FACTORIES: dict[str, Callable[[], RefusalJudge]] = {
    TrainedRefusalJudge.name: TrainedRefusalJudge,
    PatternRefusalJudge.name: PatternRefusalJudge,
}
_HARM_FACTORIES: dict[str, Callable[[], HarmJudge]] = {
    TrainedHarmJudge.name: TrainedHarmJudge,
    PatternHarmJudge.name: PatternHarmJudge,
}
DEFAULT_REFUSAL_JUDGE = "trained"
DEFAULT_HARM_JUDGE = "trained"

REFUSAL_JUDGES: tuple[str, ...] = tuple(_REFUSAL_FACTORIES)
"""Names accepted by :func:`get_refusal_judge`."""
HARM_JUDGES: tuple[str, ...] = tuple(_HARM_FACTORIES)
"""Names accepted by :func:`get_harm_judge`."""


LLM_HARM_JUDGES = ("harmbench-cls", "llama-guard")
"""Harm judges backed by an LLM (GPU users; ``NAME`` or ``NAME:MODEL``)."""


def _lookup(name: str, factories: dict, kind: str):
    key = str(name).strip()
    base, _, model = key.partition(":")
    if kind == "harm" and base in LLM_HARM_JUDGES:
        from driftcaps.judges.llm import HarmBenchClassifierJudge, LlamaGuardJudge

        cls = HarmBenchClassifierJudge if base == "harmbench-cls" else LlamaGuardJudge
        return cls(model) if model else cls()
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
        choices = ", ".join([*factories, *(LLM_HARM_JUDGES if kind == "harm" else ())])
        raise DriftCapsError(f"unknown {kind} judge {name!r}; choose one of: {choices}.")
    return factory()


def get_refusal_judge(name: str = DEFAULT_REFUSAL_JUDGE) -> RefusalJudge:
    """Return a new refusal judge by name (see :data:`REFUSAL_JUDGES`).

    Raises:
        DriftCapsError: unknown name (the message lists the choices).
    """
    return _lookup(name, _REFUSAL_FACTORIES, "refusal")


def get_harm_judge(name: str = DEFAULT_HARM_JUDGE) -> HarmJudge:
    """Return a new harm judge by name (see :data:`HARM_JUDGES`).

    Raises:
        DriftCapsError: unknown name (the message lists the choices).
    """
    return _lookup(name, _HARM_FACTORIES, "harm")
