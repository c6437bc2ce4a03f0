"""``driftcaps drift``: paired drift of one or more tuned results folders against a base folder.

Reads the logged responses of each folder (``driftcaps eval`` output, or plain ``lm_eval
--log_samples`` output), judges them all with the same judges, pairs them by DriftCaps item id
and computes :class:`~driftcaps.drift.DriftReport`; writes it as JSON and a PNG bar chart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from driftcaps import __version__
from driftcaps.drift import DriftReport, compute_drift, drift_mitigation, unpaired_ids
from driftcaps.errors import DriftCapsError
from driftcaps.judges import (
    DEFAULT_HARM_JUDGE,
    DEFAULT_REFUSAL_JUDGE,
    get_harm_judge,
    get_refusal_judge,
)
from driftcaps.judges.apply import JudgedResponse, judge_responses
from driftcaps.judges.base import HarmJudge, RefusalJudge
from driftcaps.plots import plot_drift
from driftcaps.provenance import now_iso
from driftcaps.report import REPORT_FILE, EvalReport, read_eval_report
from driftcaps.responses import lm_eval_model_args, load_responses
from driftcaps.schema import write_record
from driftcaps.stats import N_BOOT

log = logging.getLogger(__name__)


def _report(folder: str | Path) -> EvalReport | None:
    """The folder's ``report.json`` (``driftcaps eval`` output), or None for plain lm-eval output."""
    return read_eval_report(folder) if (Path(folder) / REPORT_FILE).is_file() else None


def _judge_names(report: EvalReport | None, refusal: str | None, harm: str | None) -> tuple[str, str]:
    """Judges to use: explicit names, else those named in the base report, else the defaults."""
    named = {j.kind: j.name for j in report.judges} if report else {}
    return refusal or named.get("refusal", DEFAULT_REFUSAL_JUDGE), harm or named.get("harm", DEFAULT_HARM_JUDGE)


def _base_identity(folder: str | Path, report: EvalReport | None) -> str | None:
    """Which base model produced a results folder: its weight hash or path from its
    ``report.json`` (``report``), else ``pretrained`` from lm-eval's results file; None when unknown."""
    if report is not None:
        return report.provenance.model.weights_sha256 or report.provenance.model.path
    return lm_eval_model_args(folder).get("pretrained")


def _generation(report: EvalReport | None) -> dict | None:
    """The generation settings a report's responses were made with (per-task kwargs merged,
    plus dtype); None for folders without a report."""
    if report is None:
        return None
    gen = report.provenance.generation
    merged = {k: v for kwargs in (gen.get("gen_kwargs") or {}).values() for k, v in (kwargs or {}).items()}
    return {**merged, "dtype": gen.get("dtype")}


def load_judged(folder: str | Path, refusal: RefusalJudge, harm: HarmJudge) -> list[JudgedResponse]:
    """Judge the responses logged in a results folder (see :func:`driftcaps.responses.load_responses`)."""
    return judge_responses(load_responses(folder), refusal, harm)


def run_drift(base: str | Path, tuned: list[str | Path], output: str | Path | None = None,
              refusal_judge: str | None = None, harm_judge: str | None = None,
              n_boot: int = N_BOOT, seed: int = 0, names: list[str] | None = None,
              reference: str | None = None) -> tuple[DriftReport, list[str]]:
    """Compute drift of each ``tuned`` folder against ``base``; write JSON and PNG when ``output``
    is given (``output`` and ``output`` with suffix ``.png``).

    With ``reference`` (the name of one tuned entry, normally plain LoRA trained on the same task
    and budget), every other entry also gets its drift mitigation DM = 1 − AD / AD_reference
    with a paired bootstrap CI (``docs/metrics.md#drift-mitigation``).

    Returns:
        (report, warnings): warnings name prompts present on one side only and tuned runs
        generated with other settings (new tokens, sampling, dtype) than the base.

    Raises:
        DriftCapsError: a folder without samples, a tuned folder made on another base model (or
            the base folder itself), no shared prompts, a ``reference`` that names no tuned
            entry, or a bad output path.
    """
    if not tuned:
        raise DriftCapsError("no --tuned folder given; pass at least one results folder of a tuned model.")
    base_report = _report(base)
    rj, hj = _judge_names(base_report, refusal_judge, harm_judge)
    refusal, harm = get_refusal_judge(rj), get_harm_judge(hj)
    base_records = load_judged(base, refusal, harm)
    warnings, entries = [], []
    labels = names or [Path(t).name or str(t) for t in tuned]
    if len(labels) != len(tuned):
        raise DriftCapsError(f"{len(labels)} --name values for {len(tuned)} --tuned folders; give one each.")
    if reference is not None and reference not in labels:
        raise DriftCapsError(f"--reference {reference!r} names no tuned entry; choose one of {', '.join(labels)}.")
    base_id = _base_identity(base, base_report)
    judged = {}
    for label, folder in zip(labels, tuned, strict=True):
        if Path(folder).resolve() == Path(base).resolve():
            raise DriftCapsError(f"--tuned {folder} is the --base folder; pass the results of the tuned model.")
        report = _report(folder)
        tuned_id = _base_identity(folder, report)
        if base_id and tuned_id and base_id != tuned_id:
            raise DriftCapsError(f"{folder}: its responses come from another base model than {base} "
                                 f"({tuned_id[:60]} vs {base_id[:60]}); drift compares a model with its own fine-tune.")
        base_gen, tuned_gen = _generation(base_report), _generation(report)
        if base_gen and tuned_gen and base_gen != tuned_gen:
            diff = sorted(k for k in base_gen.keys() | tuned_gen.keys() if base_gen.get(k) != tuned_gen.get(k))
            warnings.append(f"{folder}: generated with other settings than the base ("
                            + ", ".join(f"{k} {tuned_gen.get(k)} vs {base_gen.get(k)}" for k in diff)
                            + "); the drift mixes them with the fine-tune: evaluate both alike.")
        recs = judged[label] = load_judged(folder, refusal, harm)
        only_b, only_t = unpaired_ids(base_records, recs)
        if only_b or only_t:
            warnings.append(f"{folder}: {len(only_b)} base and {len(only_t)} tuned prompts have no partner "
                            "and were left out (evaluate both with the same tasks and --limit).")
        entries.append(compute_drift(base_records, recs, name=label, results_dir=str(Path(folder)),
                                     n_boot=n_boot, seed=seed,
                                     adapter=report.provenance.adapter if report else None))
    if reference is not None:
        for entry in entries:
            entry.reference = reference
            if entry.name != reference:
                entry.drift_mitigation = drift_mitigation(base_records, judged[reference], judged[entry.name],
                                                          n_boot=n_boot, seed=seed)
    report = DriftReport(
        base_dir=str(Path(base)), base_model=base_report.provenance.model if base_report else None,
        judges=[refusal.info(), harm.info()],
        n_bootstrap=n_boot, seed=seed, created_at=now_iso(), driftcaps_version=__version__, tuned=entries,
    )
    if output is not None:
        out = Path(output)
        if out.suffix.lower() != ".json":
            raise DriftCapsError(f"--output {out}: give a .json file name (the plot goes beside it as .png).")
        write_record(out, report)
        plot_drift(report, out.with_suffix(".png"))
    return report, warnings
