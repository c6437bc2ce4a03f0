"""Forgetting scaling laws: named forms, fits with bootstrap CIs over runs, forecasts with
prediction intervals, held-out extrapolation error (``docs/scaling.md``). Pure functions of
tables of points; no model code."""

from driftcaps.scaling.fit import LawFit, fit_law, predict
from driftcaps.scaling.holdout import HoldoutResult, compare_param, evaluate_holdout, holdout_mask
from driftcaps.scaling.laws import LAWS, Law, describe, formula_law, get_law, register_law

__all__ = ["LAWS", "HoldoutResult", "Law", "LawFit", "compare_param", "describe", "evaluate_holdout", "fit_law",
           "formula_law", "get_law", "holdout_mask", "predict", "register_law"]
