"""Issue 10's targets for the scaling-law fitter, measured (not timed tests).

1. Recovery: synthetic runs from each built-in form (log-normal noise, sd 0.05), refitted; share
   of replicates whose 95% bootstrap CI holds each true parameter (target >= 0.90).
2. Speed: one fit with 1,000 bootstrap resamples over 200 points, on one core (target < 5 s).

    python benchmarks/scaling.py [--replicates 100] [--runs 4] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from driftcaps.scaling import fit_law, get_law

FORMS = {
    "kalajdzievski": ({"A": 0.02, "alpha": 0.3, "beta": 0.5, "E": 0.05}, {"P": [1e5, 1e6, 4e6, 1.6e7, 6.4e7, 2.5e8]}, "S"),
    "bethune": ({"A": 0.01, "alpha": 0.2, "beta": 0.4, "E": 0.05}, {"N": [1e6, 4e6, 1.6e7, 6.4e7, 2.5e8, 1e9]}, "D"),
    "zhang": ({"A": 5.0, "alpha": 0.2, "beta": -0.3, "E": 0.05}, {"X": [1e6, 4e6, 1.6e7, 6.4e7, 2.5e8, 1e9]}, "D"),
    "power": ({"A": 0.1, "beta": 0.4, "E": 0.02}, {}, "x"),
}


def synthetic(form: str, runs: int, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    params, per_run, along = FORMS[form]
    law = get_law(form)
    rows = []
    for r in range(runs):
        fixed = {k: v[r % len(v)] * (1 + r // len(v)) for k, v in per_run.items()}
        for s in [5, 10, 20, 40, 80]:
            point = {**fixed, along: float(s * 1000 if along == "D" else s)}
            f = law({k: np.array([v]) for k, v in point.items()}, params)[0] * np.exp(rng.normal(0, noise))
            rows.append({"run": f"r{r}", **point, "forgetting": f})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    for form, (params, _, _) in FORMS.items():
        rng = np.random.default_rng(0)
        hits = dict.fromkeys(params, 0)
        failed = 0
        for rep in range(args.replicates):
            fit = fit_law(get_law(form), synthetic(form, args.runs, 0.05, rng), n_boot=args.n_boot, seed=rep)
            if not fit.converged or fit.param_ci is None:
                failed += 1
                continue
            for k, v in params.items():
                lo, hi = fit.param_ci[k]
                hits[k] += lo <= v <= hi
        cover = ", ".join(f"{k} {h / args.replicates:.2f}" for k, h in hits.items())
        print(f"{form:14s} CI coverage over {args.replicates} replicates ({args.runs} runs x 5 points): {cover}; "
              f"not converged {failed}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(1)
    data = pd.DataFrame([{"run": f"r{r}", "x": float(s), "forgetting": 0.1 * s ** 0.4 + 0.02 + abs(rng.normal(0, 0.01))}
                         for r in range(20) for s in range(5, 55, 5)])
    t = time.perf_counter()
    fit_law(get_law("power"), data, n_boot=1000)
    print(f"fit of 'power' on {len(data)} points with 1,000 bootstrap resamples: {time.perf_counter() - t:.2f} s (target < 5 s)")


if __name__ == "__main__":
    main()
