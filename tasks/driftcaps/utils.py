"""lm-eval hooks of the DriftCaps tasks; the logic lives in ``driftcaps.lmeval_tasks``."""

from driftcaps.lmeval_tasks import balanced_safety, load, process_results, process_results_single

__all__ = ["balanced_safety", "load", "process_results", "process_results_single"]
