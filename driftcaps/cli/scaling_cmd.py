"""``driftcaps scaling laws|fit|predict`` (``docs/scaling.md``)."""

from __future__ import annotations

from pathlib import Path

import typer

from driftcaps.errors import DriftCapsError

app = typer.Typer(help="Forgetting scaling laws: fit them to training runs, forecast new settings.",
                  no_args_is_help=True)


def _pairs(text: str | None, flag: str) -> dict[str, str]:
    """``"A=b,C=d"`` -> ``{"A": "b", "C": "d"}``."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise DriftCapsError(f"{flag} {text!r}: give NAME=VALUE pairs separated by commas, e.g. S=steps,P=P.")
        out[key.strip()] = value.strip()
    return out


def _read_points(points: Path | None, runs: Path | None):
    import pandas as pd

    if (points is None) == (runs is None):
        raise DriftCapsError("give exactly one of --points FILE.csv and --runs DIR.")
    if runs is not None:
        from driftcaps.forgetting import points_from_runs

        return points_from_runs(runs), str(runs)
    if not points.is_file():
        raise DriftCapsError(f"--points {points}: no such file; give a CSV with columns run, forgetting and the law's variables.")
    try:
        return pd.read_csv(points), str(points)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DriftCapsError(f"--points {points}: not a readable CSV ({str(e).splitlines()[0][:120]}).") from None


@app.command("laws")
def laws() -> None:
    """List the built-in laws: form, variables, parameters, source."""
    from driftcaps.scaling import LAWS, describe

    for law in LAWS.values():
        print(describe(law))


@app.command("fit")
def fit(
    output: Path = typer.Option(..., "--output", help="Folder for fit.json, fit.png and points.csv."),
    points: Path = typer.Option(None, "--points", help="CSV of points: run, forgetting, the law's variables "
                                "(extra columns kept)."),
    runs: Path = typer.Option(None, "--runs", help="A folder of `driftcaps agl train` runs (logged with --eval-every)."),
    law: str = typer.Option("power", "--law", help="A built-in law (`driftcaps scaling laws`)."),
    formula: str = typer.Option(None, "--formula", help="Your own law, e.g. 'A * S**beta + E' (variables from --x)."),
    x: str = typer.Option(None, "--x", help="Law variable = column pairs, e.g. x=S or P=P,S=S (default: same names)."),
    y: str = typer.Option("forgetting", "--y", help="The forgetting column (> 0)."),
    by: str = typer.Option(None, "--by", help="Fit one law per value of this column, e.g. method."),
    holdout: str = typer.Option(None, "--holdout", help="Held-out rule: top:COLUMN[:K] or COLUMN=VALUE."),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap resamples of runs (0: no CIs)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Fit a forgetting law per group of runs; write fit.json, fit.png and the points."""
    from driftcaps.console import print_scaling
    from driftcaps.io import staged_dir
    from driftcaps.plots import plot_scaling
    from driftcaps.scaling import formula_law, get_law
    from driftcaps.scaling.report import fit_groups
    from driftcaps.schema import write_record

    data, source = _read_points(points, runs)
    mapping = _pairs(x, "--x")
    the_law = formula_law("formula", formula, list(mapping) or ["x"]) if formula else get_law(law)
    report = fit_groups(the_law, data, source, mapping or None, y, by, holdout, n_boot, seed, custom=bool(formula))
    with staged_dir(output, overwrite=True) as stage:
        data.to_csv(stage / "points.csv", index=False)
        write_record(stage / "fit.json", report)
        plot_scaling(report, data, stage / "fit.png")
    print_scaling(report)
    print(f"written: {output}/fit.json, {output}/fit.png, {output}/points.csv")


@app.command("predict")
def predict(
    fit: Path = typer.Option(..., "--fit", help="A fit.json written by `driftcaps scaling fit`."),
    at: str = typer.Option(..., "--at", help="The new setting: variable=value pairs, e.g. S=160,P=2162688."),
    group: str = typer.Option(None, "--group", help="The group to forecast (default: every group)."),
) -> None:
    """Forecast forgetting at a new setting, with its 95% prediction interval."""
    from driftcaps.scaling import predict as forecast
    from driftcaps.scaling.report import ScalingReport
    from driftcaps.schema import read_record

    report = read_record(fit, ScalingReport, "fit it again with `driftcaps scaling fit`")
    law = report.law_object()
    values = _pairs(at, "--at")
    missing = [v for v in law.variables if v not in values]
    if missing:
        raise DriftCapsError(f"--at {at!r}: law {law.name!r} needs {', '.join(missing)} too.")
    try:
        setting = {k: float(v) for k, v in values.items()}
    except ValueError:
        raise DriftCapsError(f"--at {at!r}: every value must be a number.") from None
    if group is not None and group not in report.fits:
        raise DriftCapsError(f"--group {group!r}: the fit has groups {', '.join(report.fits)}.")
    for name, f in report.fits.items():
        if group is None or name == group:
            if not f.converged:
                print(f"{name}: the fit did not converge; no forecast")
                continue
            point, low, high = forecast(law, f, setting)
            print(f"{name}: {report.y} = {point[0]:.4g} (95% prediction interval [{low[0]:.4g}, {high[0]:.4g}])")
