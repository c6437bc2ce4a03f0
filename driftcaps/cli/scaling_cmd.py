"""``driftcaps scaling laws|fit|predict`` (``docs/scaling.md``)."""

from __future__ import annotations

from pathlib import Path

import typer

from driftcaps.errors import DriftCapsError

app = typer.Typer(help="Forgetting scaling laws: fit them to training runs, forecast new settings.",
                  no_args_is_help=True)


def _pairs(text: str | None, flag: str, example: str) -> dict[str, str]:
    """``"A=b,C=d"`` -> ``{"A": "b", "C": "d"}``; a malformed or repeated name is an error."""
    if text is None:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = (t.strip() for t in part.partition("="))
        if not sep or not key or not value:
            raise DriftCapsError(f"{flag} {text!r}: give NAME=VALUE pairs separated by commas, e.g. {example}.")
        if key in out:
            raise DriftCapsError(f"{flag} {text!r}: {key} is given twice.")
        out[key] = value
    return out


def _read_points(points: Path | None, runs: Path | None):
    import pandas as pd

    if (points is None) == (runs is None):
        raise DriftCapsError("give exactly one of --points FILE.csv and --runs DIR.")
    if runs is not None:
        if (runs / "sweep.json").is_file() and (runs / "points.csv").is_file():  # a finished sweep
            return pd.read_csv(runs / "points.csv"), str(runs / "points.csv")
        from driftcaps.forgetting import points_from_runs

        return points_from_runs(runs), str(runs)
    if not points.is_file():
        raise DriftCapsError(f"--points {points}: {'a folder' if points.is_dir() else 'no such file'}; give a CSV "
                             "with columns run, forgetting and the law's variables (or --runs for a folder of runs).")
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
    law: str = typer.Option(None, "--law", help="A built-in law (`driftcaps scaling laws`) (default: power)."),
    formula: str = typer.Option(None, "--formula", help="Your own law, e.g. 'A * S**beta + E' (variables from --x)."),
    x: str = typer.Option(None, "--x", help="Law variable = column pairs, e.g. x=S or P=P,S=S (default: same names)."),
    y: str = typer.Option("forgetting", "--y", help="The forgetting column (> 0)."),
    by: str = typer.Option(None, "--by", help="Fit one law per value of this column, e.g. method."),
    holdout: str = typer.Option(None, "--holdout", help="Held-out rule: top:COLUMN[:K] or COLUMN=VALUE."),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap resamples of runs (0: no CIs)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --output folder."),
) -> None:
    """Fit a forgetting law per group of runs; write fit.json, fit.png and the points."""
    from driftcaps.console import print_scaling
    from driftcaps.forgetting import write_fit
    from driftcaps.scaling import formula_law, get_law
    from driftcaps.scaling.report import fit_groups

    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not overwrite)):
        raise DriftCapsError(f"--output {output}: {'is a file' if not output.is_dir() else 'exists and is not empty'}; "
                             "choose a new folder" + ("." if not output.is_dir() else " or pass --overwrite."))
    if overwrite and output.is_dir() and any(output.iterdir()) and not (output / "fit.json").is_file():
        raise DriftCapsError(f"--output {output}: holds other files and no fit.json; --overwrite only replaces the "
                             "folder of an earlier fit: choose a new folder.")
    for flag, value in (("--law", law), ("--y", y), ("--formula", formula), ("--holdout", holdout), ("--by", by)):
        if value is not None and not value.strip():
            raise DriftCapsError(f"{flag} is empty; give a value or leave the flag out.")
    if law and formula:
        raise DriftCapsError("give --law or --formula, not both.")
    data, source = _read_points(points, runs)
    mapping = _pairs(x, "--x", "S=steps,P=P")
    if formula and not mapping:
        raise DriftCapsError("--formula: name its variables and their columns with --x, e.g. --x S=S.")
    the_law = formula_law("formula", formula, list(mapping) or ["x"]) if formula else get_law(law or "power")
    report = fit_groups(the_law, data, source, mapping or None, y, by, holdout, n_boot, seed, custom=bool(formula))
    write_fit(output, report, data)
    print_scaling(report)
    print(f"written: {output}/fit.json, {output}/fit.png, {output}/points.csv")


@app.command("sweep")
def sweep(
    output: Path = typer.Option(..., "--output", help="Sweep folder (new, or a sweep to resume)."),
    config: Path = typer.Option(None, "--config", help="YAML of sweep settings (docs/scaling.md#sweep); "
                                "default: the CPU grid of docs/results.md."),
    executor: str = typer.Option("local", "--executor", help="local (one run after another) or ray (each "
                                 "training run a Ray task; RAY_ADDRESS names the cluster, else a local one)."),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", min=0.0, help="GPUs each Ray task asks for (0 on CPU)."),
) -> None:
    """Train a grid of adapters with checkpoints and measure forgetting along each run (resumable)."""
    from driftcaps.console import print_links
    from driftcaps.scaling.link import LinkReport
    from driftcaps.schema import read_record
    from driftcaps.settings import build_settings
    from driftcaps.sweep import SweepConfig, run_sweep

    cfg = build_settings(SweepConfig, {}, config)
    run_sweep(cfg, output, executor=executor, gpus_per_run=gpus_per_run)
    print_links(read_record(output / "link.json", LinkReport).links)  # as run_sweep wrote them
    print(f"written: {output}/points.csv, {output}/link.json, {output}/drift.json; fit with "
          f"`driftcaps scaling fit --runs {output} --law hill --x x=S --y early_compliance --by method --output DIR` "
          "(docs/scaling.md)")


def _rank_to_p(fit: Path, rank: int, law_variables: dict[str, str]) -> str:
    """``"P=<value>"``: trainable parameters at ``rank``, from P / rank of the points beside ``fit``
    (LoRA's parameters grow linearly with the rank)."""
    import pandas as pd

    points = fit.parent / "points.csv"
    if "P" not in law_variables:
        raise DriftCapsError(f"--rank: the fitted law has no P (variables: {', '.join(law_variables)}); fit one "
                             "in P, such as kalajdzievski, or leave --rank out.")
    if not points.is_file():
        raise DriftCapsError(f"--rank: no points.csv beside {fit} to read P per rank from; give --at P=VALUE.")
    data = pd.read_csv(points)
    column = law_variables["P"]
    if not {column, "rank"} <= set(data.columns):
        raise DriftCapsError(f"--rank: {points} has no {column} and rank columns; give --at P=VALUE.")
    per_rank = (data[column] / data["rank"]).dropna().unique()
    if len(per_rank) == 0:
        raise DriftCapsError(f"--rank: {points} has no row with both P and rank; give --at P=VALUE.")
    if len(per_rank) != 1:
        raise DriftCapsError(f"--rank: P / rank differs between the runs of {points} (other target modules?); "
                             "give --at P=VALUE.")
    return f"P={int(round(per_rank[0] * rank))}"


def _ad_reader(link_file: Path, fit: Path, y: str):
    """A function forecast -> AD through the sweep's link for the fitted column ``y``; its
    docstring describes the link for people."""
    import pandas as pd

    from driftcaps.scaling.link import MEASURE_OF, LinkReport, ad_of
    from driftcaps.schema import read_record

    if y not in MEASURE_OF:
        raise DriftCapsError(f"--link: the fit is of {y!r}; a link to AD exists for {', '.join(MEASURE_OF)}.")
    measure, level_of = MEASURE_OF[y]
    report = read_record(link_file, LinkReport, "run `driftcaps scaling sweep` again")
    links = report.links
    if measure not in links:
        raise DriftCapsError(f"--link {link_file}: no link for {measure} (it has {', '.join(links) or 'none'}).")
    points = fit.parent / "points.csv"
    data = pd.read_csv(points) if points.is_file() else None
    if data is None and (level_of is not None or report.base_model):
        raise DriftCapsError(f"--link: no points.csv beside {fit} (written there by `driftcaps scaling fit`); "
                             "refit into that folder.")
    models = set(data["base_model"].dropna().astype(str)) if data is not None and "base_model" in data else set()
    if report.base_model and models and models != {report.base_model}:
        raise DriftCapsError(f"--link {link_file}: the link was measured on base model {report.base_model[:16]}, the "
                             f"fit's points on {', '.join(m[:16] for m in models)}; use the link of the same model's sweep.")
    offset = 0.0
    if level_of is not None:
        cols = {level_of, measure}
        if not cols <= set(data.columns):
            raise DriftCapsError(f"--link: {points} must hold {' and '.join(sorted(cols))} to turn {y} into {measure} "
                                 "(points of `driftcaps scaling sweep`).")
        offset = float((data[level_of] - data[measure]).median())  # the base model's level
    k = links[measure]
    if k.r is None or k.r < 0.5 or (k.slope_ci is not None and k.slope_ci[0] <= 0):
        print(f"warning: {measure} tracks AD poorly in this sweep (r = {k.r if k.r is None else round(k.r, 2)}, "
              f"slope {k.slope:+.3g}); the AD reading below is not a forecast of refusals lost.")

    def to_ad(value: float) -> float:
        return ad_of(k, value - offset)

    ci = f" [{k.slope_ci[0]:+.3g}, {k.slope_ci[1]:+.3g}]" if k.slope_ci else ""
    to_ad.__doc__ = (f"AD read through the link AD = {k.intercept:+.3f} {'+' if k.slope >= 0 else '-'} "
                     f"{abs(k.slope):.3g}{ci} x {measure} "
                     f"(r = {k.r:+.2f}, {k.n_points} checkpoints of {k.n_runs} runs)"
                     + (f", {measure} = {y} - {offset:.4g} (the base's level)" if level_of else "")
                     + "; the link's own uncertainty is not in the interval.")
    return to_ad


@app.command("predict")
def predict(
    fit: Path = typer.Option(..., "--fit", help="A fit.json written by `driftcaps scaling fit`."),
    at: str = typer.Option(None, "--at", help="The new setting: variable=value pairs, e.g. S=160,P=2162688."),
    steps: int = typer.Option(None, "--steps", min=1, help="Shorthand for --at S=STEPS (points from training runs)."),
    rank: int = typer.Option(None, "--rank", min=1, help="Shorthand for --at P=<trainable parameters at this rank>, "
                             "from the P/rank of the points.csv beside --fit."),
    group: str = typer.Option(None, "--group", help="The group to forecast (default: every group)."),
    link: Path = typer.Option(None, "--link", help="A sweep's link.json: also read the forecast as alignment "
                              "drift AD (fits of early_compliance, early_refusal_drop, forgetting or forgetting_rise)."),
) -> None:
    """Forecast forgetting at a new setting, with its 95% prediction interval."""
    from driftcaps.scaling import predict as forecast
    from driftcaps.scaling.report import ScalingReport
    from driftcaps.schema import read_record

    report = read_record(fit, ScalingReport, "fit it again with `driftcaps scaling fit`")
    law = report.law_object()
    extra = [p for p in (f"S={steps}" if steps else None, _rank_to_p(fit, rank, report.variables) if rank else None) if p]
    at = ",".join(([at] if at is not None else []) + extra) if (at is not None or extra) else None
    if at is None:
        raise DriftCapsError("give the new setting: --at NAME=VALUE,... or --steps/--rank.")
    column_to_var = {c: v for v, c in report.variables.items()}
    setting: dict[str, float] = {}
    for key, value in _pairs(at, "--at", ", ".join(f"{v}=100" for v in law.variables)).items():
        var = key if key in law.variables else column_to_var.get(key)
        if var is None:
            raise DriftCapsError(f"--at: {key!r} is not a variable of law {law.name!r} "
                                 f"({', '.join(f'{v} (column {c})' for v, c in report.variables.items())}).")
        if var in setting:
            raise DriftCapsError(f"--at: {var} is given twice.")
        try:
            setting[var] = float(value)
        except ValueError:
            raise DriftCapsError(f"--at: {key}={value!r} is not a number.") from None
    missing = [v for v in law.variables if v not in setting]
    if missing:
        raise DriftCapsError(f"--at {at!r}: law {law.name!r} needs {', '.join(missing)} too.")
    if group is not None and group not in report.fits:
        raise DriftCapsError(f"--group {group!r}: the fit has groups {', '.join(report.fits) or 'none'}.")
    chosen = {n: f for n, f in report.fits.items() if (group is None or n == group) and f.converged}
    if not chosen:
        raise DriftCapsError(f"{fit}: no converged fit{' for ' + group if group else ''} to forecast from; refit.")
    to_ad = _ad_reader(link, fit, report.y) if link is not None else None
    highest = 0.0
    for name, f in chosen.items():
        point, low, high = forecast(law, f, setting)
        highest = max(highest, float(high[0]))
        line = f"{name}: {report.y} = {point[0]:.4g} (95% prediction interval [{low[0]:.4g}, {high[0]:.4g}])"
        if to_ad is not None:
            ad = sorted(to_ad(v[0]) for v in (low, high))
            line += f" -> AD {to_ad(point[0]):+.3f} [{ad[0]:+.3f}, {ad[1]:+.3f}]"
        print(line)
    if to_ad is not None:
        print(to_ad.__doc__)
    if report.y in ("early_compliance", "early_refusal_rate") and law.upper is None and highest > 1:
        print(f"note: forecasts above 1 are past what a rate can be: law {law.name!r} extrapolates beyond its range "
              "here; the bounded law `hill` is made for rates.")
