"""``driftcaps drift``: paired drift of one or more tuned results folders against a base folder.

Reads the logged responses of each folder (``driftcaps eval`` output, or plain ``lm_eval
--log_samples`` output), judges them all with the same judges, pairs them by DriftCaps item id
and computes :class:`~driftcaps.drift.DriftReport`; writes it as JSON and a PNG bar chart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from driftcaps import __version__
from driftcaps.comparable import FIELDS, mismatches, response_settings
from driftcaps.correction import corrected_drift
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
from driftcaps.judges.error_rates import error_rates_for
from driftcaps.plots import plot_drift
from driftcaps.provenance import now_iso
from driftcaps.report import REPORT_FILE, EvalReport, read_eval_report
from driftcaps.responses import find_results, lm_eval_model_args, load_responses
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


def _settings(folder: str | Path, report: EvalReport | None) -> dict | None:
    """The response-changing settings of a folder (:func:`driftcaps.comparable.response_settings`),
    or None when it has no lm-eval results file to read them from."""
    if find_results(folder) is None:
        return None
    return response_settings(folder, report.provenance.generation.get("backend") if report else None)


def load_judged(folder: str | Path, refusal: RefusalJudge, harm: HarmJudge) -> list[JudgedResponse]:
    """Judge the responses logged in a results folder (see :func:`driftcaps.responses.load_responses`)."""
    return judge_responses(load_responses(folder), refusal, harm)


def run_drift(base: str | Path, tuned: list[str | Path], output: str | Path | None = None,
              refusal_judge: str | None = None, harm_judge: str | None = None,
              n_boot: int = N_BOOT, seed: int = 0, names: list[str] | None = None,
              reference: str | None = None, allow_mismatch: list[str] | None = None) -> tuple[DriftReport, list[str]]:
    """Compute drift of each ``tuned`` folder against ``base``; write JSON and PNG when ``output``
    is given (``output`` and ``output`` with suffix ``.png``).

    With ``reference`` (the name of one tuned entry, normally plain LoRA trained on the same task
    and budget), every other entry also gets its drift mitigation DM = 1 − AD / AD_reference
    with a paired bootstrap CI (``docs/metrics.md#drift-mitigation``).

    Base and tuned runs must have been generated alike (:mod:`driftcaps.comparable`: chat
    template, system instruction, new tokens, stop strings, sampling, dtype, batch size, backend,
    no lm-eval response cache); ``allow_mismatch`` names the fields to accept anyway, and the
    report records them.

    Returns:
        (report, warnings): warnings name prompts present on one side only and folders whose
        settings could not be read (no lm-eval results file).

    Raises:
        DriftCapsError: a folder without samples, a tuned folder made on another base model (or
            the base folder itself) or generated with other settings (naming the fields), no
            shared prompts, a ``reference`` that names no tuned entry, an unknown
            ``allow_mismatch`` field, or a bad output path.
    """
    if not tuned:
        raise DriftCapsError("no --tuned folder given; pass at least one results folder of a tuned model.")
    base_report = _report(base)
    rj, hj = _judge_names(base_report, refusal_judge, harm_judge)
    refusal, harm = get_refusal_judge(rj), get_harm_judge(hj)
    base_records = load_judged(base, refusal, harm)
    refusal_rates = error_rates_for("refusal", refusal.name, refusal.version)
    harm_rates = error_rates_for("harm", harm.name, harm.version)
    warnings, entries = [], []
    labels = names or [Path(t).name or str(t) for t in tuned]
    if len(labels) != len(tuned):
        raise DriftCapsError(f"{len(labels)} --name values for {len(tuned)} --tuned folders; give one each.")
    if reference is not None and reference not in labels:
        raise DriftCapsError(f"--reference {reference!r} names no tuned entry; choose one of {', '.join(labels)}.")
    base_id = _base_identity(base, base_report)
    unknown = sorted(set(allow_mismatch or ()) - set(FIELDS))
    if unknown:
        raise DriftCapsError(f"--allow-mismatch {unknown[0]}: not a setting; choose from {', '.join(FIELDS)}.")
    allow = set(allow_mismatch or ())
    base_settings = _settings(base, base_report)
    judged = {}
    for label, folder in zip(labels, tuned, strict=True):
        if Path(folder).resolve() == Path(base).resolve():
            raise DriftCapsError(f"--tuned {folder} is the --base folder; pass the results of the tuned model.")
        report = _report(folder)
        tuned_id = _base_identity(folder, report)
        if base_id and tuned_id and base_id != tuned_id:
            raise DriftCapsError(f"{folder}: its responses come from another base model than {base} "
                                 f"({tuned_id[:60]} vs {base_id[:60]}); drift compares a model with its own fine-tune.")
        tuned_settings = _settings(folder, report)
        if base_settings is None or tuned_settings is None:
            warnings.append(f"{folder}: no lm-eval results file beside the samples of {folder if tuned_settings is None else base}; "
                            "the generation settings of the two runs could not be compared.")
        else:
            bad = mismatches(base_settings, tuned_settings, allow)
            if bad:
                fields = sorted({b.split(" ", 1)[0] for b in bad})
                raise DriftCapsError(f"--tuned {folder}: generated with other settings than the base ({'; '.join(bad)}); "
                                     "the drift would mix them with the fine-tune: evaluate both alike, or pass "
                                     + " ".join(f"--allow-mismatch {f}" for f in fields) + " to accept it.")
        recs = judged[label] = load_judged(folder, refusal, harm)
        only_b, only_t = unpaired_ids(base_records, recs)
        if only_b or only_t:
            warnings.append(f"{folder}: {len(only_b)} base and {len(only_t)} tuned prompts have no partner "
                            "and were left out (evaluate both with the same tasks and --limit).")
        entry = compute_drift(base_records, recs, name=label, results_dir=str(Path(folder)), n_boot=n_boot,
                              seed=seed, adapter=report.provenance.adapter if report else None)
        entry.corrected = corrected_drift(base_records, recs, refusal_rates, harm_rates, n_boot, seed)
        entries.append(entry)
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
        allowed_mismatches=sorted(allow), judge_error_rates=[r for r in (refusal_rates, harm_rates) if r],
    )
    if output is not None:
        out = Path(output)
        if out.suffix.lower() != ".json":
            raise DriftCapsError(f"--output {out}: give a .json file name (the plot goes beside it as .png).")
        write_record(out, report)
        plot_drift(report, out.with_suffix(".png"))
    return report, warnings
