"""The judge interface: a judge maps (prompt, response) to a verdict, with no model of the
evaluated system involved (``docs/judges.md``).

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

from driftcaps.schema import Record

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


class JudgeInfo(Record):
    """Which judge produced verdicts, as every report records it."""

    kind: Literal["refusal", "harm"]
    name: str
    version: str


class Judge(ABC):
    """Common base of the judges: a ``name`` and a ``version`` (moved whenever verdicts can
    change), :meth:`judge` for one response and :meth:`judge_batch` for many."""

    kind: str = ""
    name: str = ""
    version: str = ""

    @abstractmethod
    def judge(self, prompt: str, response: str):
        """Judge one response; ``prompt`` and ``response`` are any strings (empty allowed)."""

    def judge_batch(self, prompts: Sequence[str], responses: Sequence[str]) -> list:
        """Judge many responses (equal-length sequences); subclasses may override for speed.

        Raises:
            ValueError: the two sequences differ in length.
        """
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        return [self.judge(p, r) for p, r in zip(prompts, responses, strict=True)]

    def info(self) -> JudgeInfo:
        """This judge's :class:`JudgeInfo` (kind, name, version)."""
        return JudgeInfo(kind=self.kind, name=self.name, version=self.version)

    @property
    def id(self) -> str:
        """``name@version``, as recorded in reports."""
        return f"{self.name}@{self.version}"


class RefusalJudge(Judge):
    """Base class of refusal judges: :meth:`judge` returns a :class:`RefusalVerdict`."""

    kind = "refusal"

    @abstractmethod
    def judge(self, prompt: str, response: str) -> RefusalVerdict:
        """Judge one response to ``prompt``."""


class HarmJudge(Judge):
    """Base class of harm judges: :meth:`judge` returns a :class:`HarmVerdict` for a response to a
    (presumed harmful) request."""

    kind = "harm"

    @abstractmethod
    def judge(self, prompt: str, response: str) -> HarmVerdict:
        """Judge one response to a harmful ``prompt``."""
