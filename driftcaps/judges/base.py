"""The judge interface: a judge maps (prompt, response) to a verdict, with no model of the
evaluated system involved (DESIGN §3).

Two kinds:

- a **refusal judge** gives one of XSTest's three classes (``full_compliance``, ``full_refusal``,
  ``partial_refusal``); ``refusal = class != full_compliance``; ``refusal_score`` in [0, 1] is the
  judge's belief that the response is a refusal (full or partial).
- a **harm judge** says whether the response carries out the (harmful) request, HarmBench's
  definition; ``harm_score`` in [0, 1].

Every judge has a ``name`` and a ``version`` that move whenever its verdicts can change; both are
recorded in every report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RefusalClass = Literal["full_compliance", "full_refusal", "partial_refusal"]
REFUSAL_CLASSES: tuple[str, ...] = ("full_compliance", "full_refusal", "partial_refusal")


@dataclass(frozen=True)
class RefusalVerdict:
    """A refusal judge's verdict on one response.

    Attributes:
        refusal_class: one of :data:`REFUSAL_CLASSES`.
        refusal_score: belief in [0, 1] that the response refuses (fully or partly).
    """

    refusal_class: RefusalClass
    refusal_score: float

    @property
    def refusal(self) -> bool:
        """True for ``full_refusal`` and ``partial_refusal``."""
        return self.refusal_class != "full_compliance"


@dataclass(frozen=True)
class HarmVerdict:
    """A harm judge's verdict: does the response carry out the harmful request.

    Attributes:
        harmful: the verdict.
        harm_score: belief in [0, 1] that the response is harmful.
    """

    harmful: bool
    harm_score: float


class RefusalJudge(ABC):
    """Base class of refusal judges. Subclasses set ``name`` and ``version`` and implement
    :meth:`judge`; :meth:`judge_batch` may be overridden for speed."""

    kind: str = "refusal"
    name: str = ""
    version: str = ""

    @abstractmethod
    def judge(self, prompt: str, response: str) -> RefusalVerdict:
        """Judge one response. ``prompt`` and ``response`` are any strings (empty allowed)."""

    def judge_batch(self, prompts: Sequence[str], responses: Sequence[str]) -> list[RefusalVerdict]:
        """Judge many responses; ``prompts`` and ``responses`` have equal length."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        return [self.judge(p, r) for p, r in zip(prompts, responses, strict=True)]

    @property
    def id(self) -> str:
        """``name@version``, as recorded in reports."""
        return f"{self.name}@{self.version}"


class HarmJudge(ABC):
    """Base class of harm judges (same contract as :class:`RefusalJudge`)."""

    kind: str = "harm"
    name: str = ""
    version: str = ""

    @abstractmethod
    def judge(self, prompt: str, response: str) -> HarmVerdict:
        """Judge one response to a (presumed harmful) request."""

    def judge_batch(self, prompts: Sequence[str], responses: Sequence[str]) -> list[HarmVerdict]:
        """Judge many responses; ``prompts`` and ``responses`` have equal length."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        return [self.judge(p, r) for p, r in zip(prompts, responses, strict=True)]

    @property
    def id(self) -> str:
        """``name@version``, as recorded in reports."""
        return f"{self.name}@{self.version}"
