"""DriftCaps: does fine-tuning break a chat model's safety?

Public API (each stage is also a CLI sub-command of ``driftcaps``):

- data: :func:`driftcaps.data.build`, :func:`driftcaps.data.load_items`
- judges: :func:`driftcaps.judges.get_refusal_judge`, :func:`driftcaps.judges.get_harm_judge`
- metrics and drift: :func:`driftcaps.metrics.compute_metrics`, :func:`driftcaps.drift.compute_drift`
- evaluation: :func:`driftcaps.evaluate.run_eval`
- models: :func:`driftcaps.models.resolve_model`
"""

__version__ = "0.1.0"
