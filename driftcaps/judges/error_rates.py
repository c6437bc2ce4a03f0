"""How often each judge errs, measured on human labels: the sensitivity and specificity that the
corrected rates of :mod:`driftcaps.correction` need (``docs/metrics.md#corrected-rates``).

For each judge the validation confusion counts (TP, FN, FP, TN: judge vs human label, positive =
refusal for refusal judges, harmful for harm judges) come from the out-of-distribution
predictions of ``driftcaps judge validate``:

- refusal judges: XSTest v2 completions of three models (refusal = not ``full_compliance``); the
  trained judge's verdict on each row comes from the refit that did not see the row's model;
- harm judges: the HarmBench classifier dev records; the trained judge's verdict on each record
  comes from the refit whose five folds left the record's behaviour out; ``harmbench-cls`` and
  ``llama-guard`` use the verdicts of HarmBench's Llama-2-13B classifier and of Llama Guard that
  the file carries (the models those judges run by default).

``driftcaps judge train`` writes the counts to ``driftcaps/judges/weights/error-rates.json``
(numbers only, no text of the labelled data); reports read them from there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from driftcaps.errors import DriftCapsError
from driftcaps.io import atomic_open
from driftcaps.schema import Record

ERROR_RATES_FILE = Path(__file__).resolve().parent / "weights" / "error-rates.json"


class JudgeErrorRates(Record):
    """Validation confusion counts of one judge version.

    Attributes:
        verdict: ``refusal`` or ``harm`` (what "positive" means).
        judge, version: the judge as reports name it.
        validation: the labelled set and how the judge's verdicts on it were obtained.
        tp, fn, fp, tn: counts (>= 0) of judge-positive/human-positive and so on.
    """

    verdict: Literal["refusal", "harm"]
    judge: str
    version: str
    validation: str
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def sensitivity(self) -> float:
        """Se = TP / (TP + FN): share of human positives the judge calls positive (0-1)."""
        return self.tp / (self.tp + self.fn)

    @property
    def specificity(self) -> float:
        """Sp = TN / (TN + FP): share of human negatives the judge calls negative (0-1)."""
        return self.tn / (self.tn + self.fp)


def confusion(truth: list[bool], pred: list[bool]) -> dict[str, int]:
    """``{tp, fn, fp, tn}`` of boolean labels and verdicts of equal length."""
    pairs = list(zip(truth, pred, strict=True))
    return {"tp": sum(t and p for t, p in pairs), "fn": sum(t and not p for t, p in pairs),
            "fp": sum(p and not t for t, p in pairs), "tn": sum(not t and not p for t, p in pairs)}


def measure_error_rates(sources: str | Path | None = None) -> list[JudgeErrorRates]:
    """The counts of every judge on its validation set (see the module docstring).

    Raises:
        DriftCapsError: missing or modified labelled files.
    """
    from driftcaps.judges.labelled import harmbench_dev, xstest_completions
    from driftcaps.judges.llm import HarmBenchClassifierJudge, LlamaGuardJudge
    from driftcaps.judges.pattern import PatternHarmJudge, PatternRefusalJudge
    from driftcaps.judges.trained import TrainedHarmJudge, TrainedRefusalJudge
    from driftcaps.judges.validate import harm_predictions, refusal_predictions

    x = xstest_completions(sources)
    truth = [c != "full_compliance" for c in x.label]
    trained, pattern = refusal_predictions(x)
    xs = f"XSTest v2 completions of {x.model.nunique()} models (n = {len(x)}; refusal = not full_compliance)"
    out = [JudgeErrorRates(verdict="refusal", judge=TrainedRefusalJudge.name, version=TrainedRefusalJudge.version,
                           validation=xs + ", each model's rows judged by the refit on the other models",
                           **confusion(truth, [c != "full_compliance" for c in trained])),
           JudgeErrorRates(verdict="refusal", judge=PatternRefusalJudge.name, version=PatternRefusalJudge.version,
                           validation=xs, **confusion(truth, [c != "full_compliance" for c in pattern]))]
    h = harmbench_dev(sources)
    harmful = [bool(v) for v in h.label]
    trained_h, pattern_h = harm_predictions(h)
    hb = f"HarmBench classifier dev records (n = {len(h)}, {h.behavior_id.nunique()} behaviours)"
    out += [JudgeErrorRates(verdict="harm", judge=TrainedHarmJudge.name, version=TrainedHarmJudge.version,
                            validation=hb + ", judged by the refit whose 5 folds left the behaviour out",
                            **confusion(harmful, [bool(v) for v in trained_h])),
            JudgeErrorRates(verdict="harm", judge=PatternHarmJudge.name, version=PatternHarmJudge.version,
                            validation=hb, **confusion(harmful, [bool(v) for v in pattern_h])),
            JudgeErrorRates(verdict="harm", judge=HarmBenchClassifierJudge.name,
                            version=HarmBenchClassifierJudge.version,
                            validation=hb + ", the file's verdicts of HarmBench's Llama-2-13B classifier",
                            **confusion(harmful, [bool(v) for v in h["cls"]])),
            JudgeErrorRates(verdict="harm", judge=LlamaGuardJudge.name, version=LlamaGuardJudge.version,
                            validation=hb + ", the file's verdicts of Llama Guard",
                            **confusion(harmful, [bool(v) for v in h["llama_guard"]]))]
    return out


def write_error_rates(path: str | Path, rates: list[JudgeErrorRates]) -> Path:
    """Write ``rates`` as JSON (atomically); return the path."""
    with atomic_open(Path(path)) as f:
        json.dump({"error_rates": [r.model_dump() for r in rates]}, f, indent=2)
        f.write("\n")
    return Path(path)


@cache
def _shipped() -> dict[tuple[str, str, str], JudgeErrorRates]:
    if not ERROR_RATES_FILE.is_file():
        return {}
    try:
        rows = json.loads(ERROR_RATES_FILE.read_text(encoding="utf-8"))["error_rates"]
        rates = [JudgeErrorRates(**r) for r in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise DriftCapsError(f"{ERROR_RATES_FILE}: unreadable ({e}); reinstall DriftCaps or run "
                             "`driftcaps judge train --out driftcaps/judges/weights`.") from None
    return {(r.verdict, r.judge, r.version): r for r in rates}


def error_rates_for(verdict: str, judge: str, version: str) -> JudgeErrorRates | None:
    """The shipped counts of this judge version, or None when it was not validated (then no
    corrected rate is reported)."""
    return _shipped().get((verdict, judge, version))
