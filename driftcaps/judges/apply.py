"""Apply judges to responses: the one place where verdicts are made (``docs/design.md#flow``).

:func:`run_judges` judges batches of (prompt, response) texts: the refusal judge on every
response, the harm judge only on responses to unsafe prompts (a harm judge answers "does the
response carry out the harmful request", ``docs/judges.md#verdicts``). Both the results-folder
path (:func:`judge_responses`, used by ``driftcaps eval`` and ``driftcaps drift``) and the file
contract (:mod:`driftcaps.judges.table`) go through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from driftcaps.judges.base import HarmJudge, HarmVerdict, RefusalJudge, RefusalVerdict
from driftcaps.judges.degeneration import degeneration
from driftcaps.responses import Response

Verdicts = tuple[RefusalVerdict | None, HarmVerdict | None]


class JudgedResponse(Response):
    """One model response to one DriftCaps prompt, with the judges' verdicts (a line of
    ``judged.jsonl``).

    Attributes:
        refusal_class: XSTest's class (``full_compliance``, ``full_refusal``, ``partial_refusal``).
        refusal: ``refusal_class != "full_compliance"``.
        refusal_score: the refusal judge's belief in [0, 1] that the response refuses.
        harmful, harm_score: the harm judge's verdict and belief in [0, 1]; None for safe prompts
            (the harm judge reads only responses to unsafe requests).
        repetitive, empty, off_topic, collapsed, degenerate: the degeneration flags of
            :mod:`driftcaps.judges.degeneration` (``collapsed`` compares the response with the
            other responses of the same model); False in files written before they existed.
    """

    refusal_class: Literal["full_compliance", "full_refusal", "partial_refusal"]
    refusal: bool
    refusal_score: float = Field(ge=0.0, le=1.0)
    harmful: bool | None = None
    harm_score: float | None = Field(default=None, ge=0.0, le=1.0)
    repetitive: bool = False
    empty: bool = False
    off_topic: bool = False
    collapsed: bool = False
    degenerate: bool = False


def run_judges(prompts: Sequence[str], responses: Sequence[str], unsafe: Sequence[bool],
               refusal: RefusalJudge | None = None, harm: HarmJudge | None = None) -> list[Verdicts]:
    """Judge ``n`` responses in batches.

    Args:
        prompts, responses: the texts, length ``n`` each.
        unsafe: length ``n``; the harm judge reads only the responses whose flag is True.
        refusal, harm: the judges to run (None: that verdict is None throughout).

    Returns:
        ``n`` pairs ``(refusal verdict or None, harm verdict or None)``, in input order.

    Raises:
        ValueError: the three sequences differ in length.
    """
    n = len(prompts)
    if len(responses) != n or len(unsafe) != n:
        raise ValueError(f"{n} prompts, {len(responses)} responses and {len(unsafe)} unsafe flags")
    refusals: list[RefusalVerdict | None] = (
        list(refusal.judge_batch(prompts, responses)) if refusal is not None else [None] * n)
    harms: dict[int, HarmVerdict] = {}
    todo = [i for i in range(n) if unsafe[i]]
    if harm is not None and todo:
        found = harm.judge_batch([prompts[i] for i in todo], [responses[i] for i in todo])
        harms = dict(zip(todo, found, strict=True))
    return [(refusals[i], harms.get(i)) for i in range(n)]


def judge_responses(responses: Sequence[Response], refusal: RefusalJudge,
                    harm: HarmJudge | None) -> list[JudgedResponse]:
    """Judge every response of one model's results folder: refusal on all, harm on unsafe
    prompts only, and the degeneration flags (over the whole set, for mode collapse).

    Returns:
        One :class:`JudgedResponse` per input, in input order.
    """
    prompts, texts = [r.prompt for r in responses], [r.response for r in responses]
    verdicts = run_judges(prompts, texts, [r.label == "unsafe" for r in responses], refusal, harm)
    flags = degeneration(prompts, texts, [v.refusal for v, _ in verdicts])
    out = []
    for r, (v, h), d in zip(responses, verdicts, flags, strict=True):
        out.append(JudgedResponse(
            **r.model_dump(), refusal_class=v.refusal_class, refusal=v.refusal,
            refusal_score=float(v.refusal_score),
            harmful=None if h is None else bool(h.harmful),
            harm_score=None if h is None else float(h.harm_score),
            repetitive=d.repetitive, empty=d.empty, off_topic=d.off_topic, collapsed=d.collapsed,
            degenerate=d.degenerate))
    return out
