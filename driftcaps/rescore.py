"""``driftcaps judge results``: judge saved generations again, with any judges, without the model.

Input: one results folder (``driftcaps eval`` output or plain ``lm_eval --output_path ...
--log_samples`` output) or lm-eval ``samples_<task>_<date>.jsonl`` files of one run. Output, a
new folder (staged, renamed when complete)::

    OUT/judged.jsonl     one JudgedResponse per prompt (the verdicts of the chosen judges)
    OUT/judgement.json   Judgement: metrics with 95% bootstrap CIs, the judges, the inputs' sha256

The responses are read exactly as ``driftcaps eval`` and ``driftcaps drift`` read them
(:mod:`driftcaps.responses`), judged by :func:`driftcaps.judges.apply.judge_responses` and
scored by :func:`driftcaps.metrics.compute_metrics`, so the numbers equal what ``driftcaps eval``
would have reported with these judges.
"""

from __future__ import annotations

from pathlib import Path

from driftcaps import __version__
from driftcaps.adapters import AdapterInfo
from driftcaps.correction import correct_for_judges
from driftcaps.errors import DriftCapsError
from driftcaps.io import sha256_file, staged_dir, write_jsonl
from driftcaps.judges import get_harm_judge, get_refusal_judge
from driftcaps.judges.apply import judge_responses
from driftcaps.judges.base import JudgeInfo
from driftcaps.judges.error_rates import JudgeErrorRates
from driftcaps.metrics import compute_metrics
from driftcaps.models import ModelInfo
from driftcaps.progress import note
from driftcaps.provenance import command_line, now_iso, package_versions
from driftcaps.report import REPORT_FILE, read_eval_report
from driftcaps.responses import find_samples, lm_eval_model_args, responses_from_files
from driftcaps.schema import MetricCI, VersionedRecord, write_record
from driftcaps.stats import N_BOOT

JUDGEMENT_FILE = "judgement.json"


class Judgement(VersionedRecord):
    """``judgement.json``: saved responses judged again.

    Attributes:
        inputs: the samples files read, ``{path: sha256}``.
        model, adapter: from the input folder's ``report.json`` (``driftcaps eval`` output); for
            plain lm-eval output the model is lm-eval's ``pretrained`` argument (no weight hash)
            and the adapter None; None when only samples files were given.
        manifest_sha256: the DriftCaps build the responses were generated on, where recorded.
        judges, n_prompts, metrics, by_category, by_subset, corrected, judge_error_rates,
            n_bootstrap, seed: as in
            :class:`~driftcaps.report.EvalReport` (``docs/metrics.md#per-model-metrics``).
    """

    KIND = "driftcaps.judgement"
    inputs: dict[str, str]
    model: ModelInfo | None = None
    adapter: AdapterInfo | None = None
    manifest_sha256: str | None = None
    judges: list[JudgeInfo]
    n_prompts: int
    metrics: dict[str, MetricCI]
    by_category: dict[str, dict[str, MetricCI]]
    by_subset: dict[str, dict[str, MetricCI]]
    corrected: dict[str, MetricCI] = {}
    judge_error_rates: list[JudgeErrorRates] = []
    n_bootstrap: int
    seed: int
    created_at: str
    driftcaps_version: str
    packages: dict[str, str]
    command: str | None = None


def _inputs(paths: list[Path]) -> tuple[list[Path], Path | None]:
    """(samples files, the results folder or None).

    Raises:
        DriftCapsError: nothing given, a missing path, several folders, a folder mixed with
            files, or a file that is not an lm-eval samples file.
    """
    if not paths:
        raise DriftCapsError("no input given; pass a results folder or lm-eval samples_*.jsonl files.")
    for p in paths:
        if not p.exists():
            raise DriftCapsError(f"{p}: not found; pass a results folder or lm-eval samples_*.jsonl files.")
    folders = [p for p in paths if p.is_dir()]
    if folders:
        if len(paths) > 1:
            raise DriftCapsError(f"{folders[0]}: give one results folder on its own (or only samples files of one "
                                 "run); judge each folder into its own --output.")
        used = find_samples(folders[0])
        ignored = sorted(set(folders[0].rglob("samples_*.jsonl")) - set(used))
        if ignored:
            note(f"{folders[0]}: holds samples of several runs; judging the newest per task "
                 f"({', '.join(p.name for p in used)}), not {', '.join(p.name for p in ignored)}.")
        return used, folders[0]
    for p in paths:
        if not (p.name.startswith("samples_") and p.suffix == ".jsonl"):
            raise DriftCapsError(f"{p}: not an lm-eval samples file (samples_<task>_<date>.jsonl); pass the "
                                 "files lm-eval wrote with --log_samples, or their folder.")
    runs = {(p.resolve().parent, p.stem.rsplit("_", 1)[-1]) for p in paths}
    tasks = [p.stem[len("samples_"):].rsplit("_", 1)[0] for p in paths]
    if len(runs) > 1 or len(set(tasks)) < len(tasks):
        raise DriftCapsError(f"{paths[0]}, {paths[1]}: samples files of different runs (other folders, times or the "
                             "same task twice); give the files of one run, and judge each run into its own --output.")
    return sorted(paths), None


def _coverage(responses: list, files: list[Path]) -> None:
    """Note when the responses cover only part of their tasks (a partial or ``--limit`` run)."""
    from driftcaps.tasks import known_tasks, task_items

    for f in files:
        task = f.stem[len("samples_"):].rsplit("_", 1)[0]
        if task not in known_tasks():
            continue
        expected = {i.id for i in task_items(task)}
        got = len(expected & {r.id for r in responses})
        if got < len(expected):
            note(f"{f.name}: {got} of the {len(expected)} prompts of {task}; the rates describe those prompts only.")


def _origin(folder: Path | None) -> tuple[ModelInfo | None, AdapterInfo | None, str | None]:
    """(model, adapter, manifest sha256) of a results folder, as far as it records them."""
    if folder is None:
        return None, None, None
    if (folder / REPORT_FILE).is_file():
        prov = read_eval_report(folder).provenance
        return prov.model, prov.adapter, prov.manifest_sha256
    pretrained = lm_eval_model_args(folder).get("pretrained")
    return (ModelInfo(name=str(pretrained), path=str(pretrained), source="lm-eval") if pretrained else None,
            None, None)


def judge_results(paths: list[Path], output: Path, refusal_judge: str, harm_judge: str, n_boot: int = N_BOOT,
                  seed: int = 0, overwrite: bool = False) -> Judgement:
    """Judge the responses of ``paths`` (one results folder, or samples files of one run) with
    the named judges and write ``output`` (see the module docstring).

    Raises:
        DriftCapsError: bad inputs (:func:`_inputs`), an unknown judge, samples of a task that
            is not a DriftCaps task, a malformed samples line, or an output folder that exists and
            is not empty (without ``overwrite``).
    """
    files, folder = _inputs(paths)
    refusal, harm = get_refusal_judge(refusal_judge), get_harm_judge(harm_judge)
    model, adapter, manifest = _origin(folder)
    responses = responses_from_files(files)
    _coverage(responses, files)
    records = judge_responses(responses, refusal, harm)
    overall, by_cat, by_subset = compute_metrics(records, n_boot=n_boot, seed=seed)
    corrected, error_rates = correct_for_judges(records, refusal, harm, n_boot=n_boot, seed=seed)
    judgement = Judgement(
        inputs={str(p): sha256_file(p) for p in files}, model=model, adapter=adapter, manifest_sha256=manifest,
        judges=[refusal.info(), harm.info()], n_prompts=len(records), metrics=overall, by_category=by_cat,
        by_subset=by_subset, corrected=corrected, judge_error_rates=error_rates, n_bootstrap=n_boot, seed=seed, created_at=now_iso(), driftcaps_version=__version__,
        packages=package_versions(), command=command_line())
    with staged_dir(output, overwrite=overwrite) as stage:
        write_jsonl(stage / "judged.jsonl", (r.model_dump() for r in records))
        write_record(stage / JUDGEMENT_FILE, judgement)
    return judgement
