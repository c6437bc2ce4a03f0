"""``driftcaps judge train``: fit the trained judges on all labelled data and write their files."""

from __future__ import annotations

from pathlib import Path

from driftcaps.judges.error_rates import measure_error_rates, write_error_rates
from driftcaps.judges.labelled import _registry, harmbench_dev, xstest_completions
from driftcaps.judges.trained import TRAINED_VERSION, fit, save


def train_judges(out: str | Path, sources: str | Path | None = None) -> list[Path]:
    """Fit the refusal judge on every XSTest completion and the harm judge on every HarmBench dev
    record; write ``refusal-v<version>.json`` and ``harm-v<version>.json`` into ``out``, and the
    judges' validation counts, ``error-rates.json`` (:mod:`driftcaps.judges.error_rates`).

    Deterministic: the same files give byte-identical judge files on the same library versions.

    Raises:
        DriftCapsError: missing or modified labelled files (see ``data/labelled.yaml``).
    """
    out = Path(out)
    registry = _registry()
    x = xstest_completions(sources)
    refusal = fit("refusal", x.prompt.tolist(), x.response.tolist(), x.label.tolist())
    h = harmbench_dev(sources)
    harm = fit("harm", h.behavior.fillna(h.test_case).tolist(), h.response.tolist(), h.label.tolist())
    paths = [out / f"refusal-v{TRAINED_VERSION}.json", out / f"harm-v{TRAINED_VERSION}.json"]
    save(paths[0], "refusal", refusal, {"xstest_completions": registry["xstest_completions"]["files"],
                                        "rows": len(x)})
    save(paths[1], "harm", harm, {"harmbench_classifier_dev": registry["harmbench_classifier_dev"]["files"],
                                  "rows": len(h)})
    paths.append(write_error_rates(out / "error-rates.json", measure_error_rates(sources)))
    return paths
