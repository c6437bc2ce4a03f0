"""lm-eval hooks of the DriftCaps tasks: the dataset (``driftcaps.tasks``) and the judged
metrics (``driftcaps.judges.lmeval``)."""

from driftcaps.judges.lmeval import DriftCapsTask, balanced_safety
from driftcaps.tasks import load

__all__ = ["DriftCapsTask", "balanced_safety", "load"]
