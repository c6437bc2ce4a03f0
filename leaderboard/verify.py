"""Verify a submission before it reaches the board (``docs/leaderboard.md#verification``).

A submission is a results folder of ``driftcaps eval`` (lm-eval's results JSON and samples JSONL,
``judged.jsonl`` and ``report.json``) or a drift folder (``drift.json`` with the results folders
it pairs, as ``make demo`` writes). Nothing in it is taken on faith:

1. the folder itself: no symlink leading out of it, no file over :data:`MAX_FILE_BYTES`, no
   pickled or ``.bin`` weights (:data:`REFUSED_SUFFIXES`), file names in reports are plain names;
2. the DriftCaps manifest hash is the one of this installation's build (a known DriftCaps);
3. provenance is complete: base model weight hash, adapter weight hash, judge versions,
   generation settings, chat template hash, lm-eval version;
4. the samples files are the ones the report names (same sha256) and cover exactly the items
   of the report's tasks (same ids, same prompts, ``--limit`` respected);
5. the judges named in the report (same versions) re-run on the logged responses and must give
   the verdicts of ``judged.jsonl``; the metrics recomputed from them (same bootstrap seed and
   size) must equal ``report.json``'s; for a drift folder the paired drift and drift mitigation
   recomputed must equal ``drift.json``'s; a scaling fit is refitted from its ``points.csv``.

Any failure raises :class:`Rejected` with one line naming the file, the field and what differs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from driftcaps.data import manifest_sha256
from driftcaps.drift import read_drift_report
from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, sha256_file
from driftcaps.judges.apply import JudgedResponse
from driftcaps.provenance import now_iso
from driftcaps.report import REPORT_FILE, EvalReport, read_eval_report
from driftcaps.responses import responses_from_files
from driftcaps.scaling.report import ScalingReport
from leaderboard.adapters import adapter_dir, find_adapters, task_quality
from leaderboard.checks import Rejected, check_samples, lm_eval_results
from leaderboard.recompute import recompute_drift, rejudge_and_score
from leaderboard.schema import Entry, entry_key

MAX_FILE_BYTES = 64 << 20
"""Largest file accepted in a submission (64 MiB: a full DriftCaps samples file is ~10 MiB)."""
MAX_FILES = 2000
"""Most files accepted in a submission folder."""
REFUSED_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
"""Files refused anywhere in a submission: pickled (or pickle-capable) weights and arrays.
Adapters are accepted as safetensors only."""
DRIFT_FILE = "drift.json"
TOLERANCE = 1e-9
"""Largest difference allowed between a submitted and a recomputed rate (rounding only)."""
MIN_BOOTSTRAP = 1000
"""Fewest bootstrap resamples the board accepts behind a CI (CIs decide rank ranges; ``driftcaps
eval`` uses 2000)."""


def check_folder(folder: Path) -> list[Path]:
    """Every regular file of a submission folder, after the safety checks of step 1.

    Raises:
        Rejected: a symlink that leaves the folder, a file over :data:`MAX_FILE_BYTES`, more
            than :data:`MAX_FILES` files, or a file with a suffix of :data:`REFUSED_SUFFIXES`.
    """
    if not folder.is_dir():
        raise Rejected(f"{folder}: not a folder; submit the output folder of `driftcaps eval` or `driftcaps drift`.")
    root = folder.resolve()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if target != root and root not in target.parents:
                    raise Rejected(f"{p}: a symlink to {target}, outside the submitted folder; copy the file in instead.")
        for name in filenames:
            p = Path(dirpath) / name
            bad = next((x for x in p.suffixes if x.lower() in REFUSED_SUFFIXES), None)
            if bad is not None:
                raise Rejected(f"{p}: {bad} files are refused (pickled weights can run code); "
                               "save adapters as safetensors (PEFT's default) and leave other binaries out.")
            if p.is_file():
                if p.stat().st_size > MAX_FILE_BYTES:
                    raise Rejected(f"{p}: {p.stat().st_size >> 20} MiB, over the {MAX_FILE_BYTES >> 20} MiB limit "
                                   "for a submitted file; submit results folders, not models.")
                files.append(p)
        if len(files) > MAX_FILES:
            raise Rejected(f"{folder}: more than {MAX_FILES} files; submit only the results folders.")
    return files


def _plain(folder: Path, name: str, field: str) -> Path:
    """``folder / name`` for a file name taken from a submitted report (no path parts)."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise Rejected(f"{folder / REPORT_FILE}: {field} {name!r} is not a plain file name; "
                       "re-create the report with `driftcaps eval`.")
    return folder / name


def _check_provenance(folder: Path, report: EvalReport) -> None:
    prov, where = report.provenance, folder / REPORT_FILE
    if not prov.model.weights_sha256:
        raise Rejected(f"{where}: provenance.model.weights_sha256 is missing; evaluate a registry model or a "
                       "local model folder so that its weights are hashed.")
    if prov.adapter is not None and not prov.adapter.weights_sha256:
        raise Rejected(f"{where}: provenance.adapter.weights_sha256 is missing; evaluate again with `driftcaps eval --adapter`.")
    kinds = {j.kind for j in report.judges}
    if kinds != {"refusal", "harm"} or any(not j.version for j in report.judges):
        raise Rejected(f"{where}: judges must name one refusal and one harm judge with versions; evaluate again.")
    gen = prov.generation
    for key in ("gen_kwargs", "dtype", "backend"):
        if not gen.get(key):
            raise Rejected(f"{where}: provenance.generation.{key} is missing; evaluate again with `driftcaps eval`.")
    if prov.apply_chat_template and not prov.chat_template_sha256:
        raise Rejected(f"{where}: provenance.chat_template_sha256 is missing although the chat template was applied.")
    if "lm_eval" not in prov.packages:
        raise Rejected(f"{where}: provenance.packages lacks lm_eval's version; evaluate again with `driftcaps eval`.")
    if not prov.lm_eval_samples:
        raise Rejected(f"{where}: provenance.lm_eval_samples is empty; the folder has no logged responses to check.")
    if len(set(prov.lm_eval_samples)) != len(prov.lm_eval_samples) or len(set(report.tasks)) != len(report.tasks):
        raise Rejected(f"{where}: provenance.lm_eval_samples or tasks name something twice; evaluate again.")
    if prov.n_bootstrap < MIN_BOOTSTRAP:
        raise Rejected(f"{where}: provenance.n_bootstrap is {prov.n_bootstrap}; the board needs CIs from at least "
                       f"{MIN_BOOTSTRAP} resamples (evaluate with --n-boot {MIN_BOOTSTRAP} or more).")
    for task in report.tasks:
        if not isinstance((gen.get("gen_kwargs") or {}).get(task), dict):
            raise Rejected(f"{where}: provenance.generation.gen_kwargs has no settings for task {task}.")


def _check_samples(folder: Path, report: EvalReport) -> list[Path]:
    """The samples files the report names, present, unchanged and of the report's tasks."""
    prov, paths = report.provenance, []
    for name in prov.lm_eval_samples:
        path = _plain(folder, name, "provenance.lm_eval_samples")
        if not path.is_file():
            raise Rejected(f"{path}: no such samples file (named by report.json); submit the whole results folder.")
        task = name[len("samples_"):].rsplit("_", 1)[0] if name.startswith("samples_") else None
        if task not in report.tasks:
            raise Rejected(f"{path}: samples of task {task!r}, but the report evaluated {', '.join(report.tasks)}.")
        want = prov.samples_sha256.get(name)
        if want is not None and sha256_file(path) != want:
            raise Rejected(f"{path}: changed since report.json was written (sha256 differs); "
                           "submit the folder as `driftcaps eval` wrote it.")
        paths.append((path, task))
    results = lm_eval_results(folder, prov.lm_eval_results, prov.chat_template_sha256, prov.apply_chat_template)
    for path, task in paths:
        check_samples(path, task, prov.generation["gen_kwargs"][task], results, prov.apply_chat_template)
    return [p for p, _ in paths]


def _check_coverage(folder: Path, report: EvalReport, responses) -> None:
    from driftcaps.tasks import task_items

    limit = report.provenance.generation.get("limit")
    want = {}
    for task in report.tasks:
        try:
            items = task_items(task, limit=limit)
        except DriftCapsError as e:
            raise Rejected(f"{folder / REPORT_FILE}: {e}") from None
        for it in items:
            want.setdefault(it.id, it)
    got = {r.id: r for r in responses}
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    if extra:
        raise Rejected(f"{folder}: samples hold {len(extra)} prompt(s) that are not items of "
                       f"{', '.join(report.tasks)} (e.g. {extra[0]}); samples of another task or DriftCaps build.")
    if missing:
        raise Rejected(f"{folder}: samples cover {len(got)} of the {len(want)} items of {', '.join(report.tasks)} "
                       f"(missing e.g. {missing[0]}); evaluate the whole task.")
    for i, r in got.items():
        it = want[i]
        if (r.prompt, r.label, r.category, r.subset) != (it.prompt, it.label, it.category, it.subset):
            raise Rejected(f"{folder}: prompt {i} differs from DriftCaps item {i} (prompt, label or category "
                           "edited); submit the samples as lm-eval wrote them.")
    if report.n_prompts != len(got):
        raise Rejected(f"{folder / REPORT_FILE}: n_prompts {report.n_prompts} but the samples hold {len(got)}.")


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0.0, abs_tol=TOLERANCE) or (math.isnan(a) and math.isnan(b))


def _check_judged(folder: Path, records: list[JudgedResponse]) -> None:
    """``judged.jsonl`` must hold the verdicts the judges give now, for the logged responses."""
    path = folder / "judged.jsonl"
    if not path.is_file():
        raise Rejected(f"{path}: missing; submit the whole results folder of `driftcaps eval`.")
    mine = {r.id: r for r in records}
    seen = 0
    for n, row in enumerate(iter_jsonl(path), 1):
        seen += 1
        r = mine.get(row.get("id"))
        if r is None:
            raise Rejected(f"{path}:{n}: prompt {row.get('id')!r} is not in the samples.")
        for field, value in r.model_dump().items():
            theirs = row.get(field)
            same = _close(value, theirs) if isinstance(value, float) else value == theirs
            if not same:
                raise Rejected(f"{path}:{n}: {field} of prompt {r.id} is {str(theirs)[:60]!r}, but the samples and "
                               f"the judges give {str(value)[:60]!r}; the file was edited or judged otherwise.")
    if seen != len(mine):
        raise Rejected(f"{path}: {seen} verdicts for {len(mine)} logged responses.")


def verify_results(folder: Path, adapters: dict[str, Path] | None = None, name: str | None = None,
                   root: Path | None = None) -> tuple[Entry, list[JudgedResponse]]:
    """Verify one results folder of ``driftcaps eval`` (steps 2-5 of the module docstring).

    Args:
        folder: the results folder (already checked by :func:`check_folder`).
        adapters: adapter folders found in the submission by weight hash; the matching one's
            ``run.json`` gives the entry's method, training-data hash and task quality.
        name: display name (default: the adapter folder's name, or the base model's name).
        root: the submitted folder (default ``folder``); paths in the entry are relative to it.

    Returns:
        (entry, judged responses recomputed by the board).

    Raises:
        Rejected: any check fails (one line).
    """
    if not (folder / REPORT_FILE).is_file():
        raise Rejected(f"{folder}: no report.json; submit a folder written by `driftcaps eval` "
                       "(or a drift folder with drift.json).")
    report = read_eval_report(folder)
    prov = report.provenance
    known = manifest_sha256()
    if prov.manifest_sha256 != known:
        raise Rejected(f"{folder / REPORT_FILE}: DriftCaps manifest {str(prov.manifest_sha256)[:12]}... is unknown to this "
                       f"board (it accepts {known[:12]}..., DriftCaps data {prov.data_version}); evaluate on this DriftCaps build.")
    _check_provenance(folder, report)
    responses = responses_from_files(_check_samples(folder, report))
    _check_coverage(folder, report, responses)
    records, (overall, by_cat, by_subset), corrected = rejudge_and_score(report, responses, folder)
    _check_judged(folder, records)
    for group, mine, theirs in (("metrics", {"": overall}, {"": report.metrics}),
                                ("by_category", by_cat, report.by_category), ("by_subset", by_subset, report.by_subset),
                                ("corrected", {"": corrected}, {"": report.corrected})):
        if mine.keys() != theirs.keys():
            raise Rejected(f"{folder / REPORT_FILE}: {group} has groups {sorted(theirs)} but the responses give {sorted(mine)}.")
        for g, metrics in mine.items():
            for m, value in metrics.items():
                sub = theirs[g].get(m)
                for f in ("value", "ci_low", "ci_high", "n"):
                    a, b = getattr(value, f), getattr(sub, f, None) if sub is not None else None
                    if (not _close(a, b)) if f != "n" else a != b:
                        where = ".".join(x for x in (group, g, m, f) if x)
                        raise Rejected(f"{folder / REPORT_FILE}: {where} is {b}, but the logged responses give {a}; "
                                       "the report does not match its samples.")
    ad_dir = adapter_dir(folder, prov.adapter, adapters or {})
    method, data_sha, quality, _ = task_quality(ad_dir, (root or folder).resolve())
    entry = Entry(
        key="", name=name or (Path(prov.adapter.path).name if prov.adapter else Path(prov.model.name).name or "base"),
        kind="adapter" if prov.adapter else "base", base_model=prov.model.name, base_sha256=prov.model.weights_sha256,
        adapter_sha256=prov.adapter.weights_sha256 if prov.adapter else None,
        adapter_rank=prov.adapter.rank if prov.adapter else None, method=method if prov.adapter else None,
        training_data_sha256=data_sha, manifest_sha256=prov.manifest_sha256, data_version=prov.data_version,
        tasks=list(report.tasks), n_prompts=report.n_prompts, judges=list(report.judges),
        generation=dict(prov.generation), apply_chat_template=prov.apply_chat_template,
        chat_template_sha256=prov.chat_template_sha256, lm_eval_version=prov.packages["lm_eval"],
        driftcaps_version=prov.driftcaps_version, metrics=overall, corrected=corrected, by_category=by_cat,
        task_quality=quality, provenance=prov.model_dump(mode="json"),
        report_sha256=sha256_file(folder / REPORT_FILE), submitted_at=now_iso())
    entry.key = entry_key(entry.base_sha256, entry.adapter_sha256, entry.eval_signature())
    return entry, records


def _inside(root: Path, recorded: str, what: str) -> Path:
    """The folder that ``drift.json`` names, found inside the submission: the longest trailing
    part of the recorded path that exists under ``root`` (``runs/sweep/evals/base`` is found as
    ``ROOT/evals/base`` in a sweep folder, ``runs/demo/base`` as ``ROOT/base``)."""
    parts = [p for p in Path(recorded).parts if p not in ("/", "")]
    if ".." not in parts:
        for k in range(len(parts)):
            cand = root.joinpath(*parts[k:])
            if cand.is_dir() and not cand.is_symlink() and root in cand.resolve().parents:
                return cand
    raise Rejected(f"{root / DRIFT_FILE}: {what} {recorded!r} is not a folder inside the submission; "
                   "submit the folder that holds drift.json and the results folders it names.")


def _fits(root: Path, files: list[Path]) -> list[tuple[ScalingReport, str]]:
    """Every ``fit.json`` with a ``points.csv`` beside it, refitted to check it (step 5)."""
    from driftcaps.schema import read_record
    from leaderboard.recompute import refit

    out = []
    for f in sorted(p for p in files if p.name == "fit.json"):
        points = f.with_name("points.csv")
        if not points.is_file():
            raise Rejected(f"{f}: no points.csv beside it; submit the whole folder of `driftcaps scaling fit`.")
        report = read_record(f, ScalingReport, "fit it again with `driftcaps scaling fit`")
        text = points.read_text(encoding="utf-8")
        problem = refit(report, text)
        if problem:
            raise Rejected(f"{f}: {problem}")
        out.append((report, text))
    return out


def verify_submission(folder: str | os.PathLike, name: str | None = None) -> tuple[list[tuple[Entry, list[JudgedResponse]]],
                                                                                 list[tuple[ScalingReport, str]]]:
    """Verify a submitted folder: a results folder or a drift folder (module docstring).

    Returns:
        (entries with their recomputed judged responses, scaling fits with their points CSV).

    Raises:
        Rejected: the first check that fails (one line).
    """
    root = Path(folder).resolve()
    files = check_folder(root)
    adapters = find_adapters(files)
    if not (root / DRIFT_FILE).is_file():
        return [verify_results(root, adapters, name, root)], _fits(root, files)
    drift = read_drift_report(root / DRIFT_FILE)
    base_dir = _inside(root, drift.base_dir, "base_dir")
    base_entry, base_records = verify_results(base_dir, adapters, root=root)
    base_judges = sorted((j.kind, j.name, j.version) for j in base_entry.judges)
    if sorted((j.kind, j.name, j.version) for j in drift.judges) != base_judges:
        raise Rejected(f"{root / DRIFT_FILE}: judged with other judges than {base_dir / REPORT_FILE}; run `driftcaps drift` again.")
    tuned = {}
    entries = [(base_entry, base_records)]
    for td in drift.tuned:
        entry, records = verify_results(_inside(root, td.results_dir, f"tuned[{td.name}].results_dir"), adapters,
                                        td.name, root)
        if entry.base_sha256 != base_entry.base_sha256:
            raise Rejected(f"{root / DRIFT_FILE}: {td.name} was evaluated on another base model than {base_dir.name}.")
        tuned[td.name] = records
        entries.append((entry, records))
    problem = recompute_drift(drift, base_records, tuned, {td.name: e.adapter_sha256 for td, (e, _) in
                                                          zip(drift.tuned, entries[1:], strict=True)})
    if problem:
        raise Rejected(f"{root / DRIFT_FILE}: {problem}")
    if base_entry.task_quality is None:  # the base's task quality, as its fine-tunes' runs measured it before training
        for entry, _ in entries[1:]:
            ad = adapters.get(entry.adapter_sha256 or "")
            before = task_quality(ad, root.resolve())[3] if ad is not None else None
            if before is not None and before.heldout_accuracy is not None:
                base_entry.task_quality = before
                break
    return entries, _fits(root, files)
