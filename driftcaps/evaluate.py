"""``driftcaps eval``: run DriftCaps through lm-eval, judge the responses, write a report.

The output folder gets lm-eval's own ``results_<date>.json`` and ``samples_<task>_<date>.jsonl``,
plus ``judged.jsonl`` (one :class:`~driftcaps.report.JudgedResponse` per prompt) and
``report.json`` (:class:`~driftcaps.report.EvalReport`). Everything is written into a staging
folder that replaces the output folder only when the run succeeded.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from driftcaps import __version__
from driftcaps.adapters import check_adapter
from driftcaps.data import DATA_VERSION, ensure_built, manifest_sha256
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, sha256_text, staged_dir, write_json, write_jsonl
from driftcaps.judges import get_harm_judge, get_refusal_judge
from driftcaps.metrics import compute_metrics
from driftcaps.models import resolve_model
from driftcaps.paths import tasks_dir
from driftcaps.provenance import command_line, now_iso, package_versions
from driftcaps.report import EvalReport, JudgeInfo, ModelInfo, Provenance
from driftcaps.samples import find_results, find_samples, judge_rows, load_sample_rows

log = logging.getLogger(__name__)


@dataclass
class EvalSettings:
    """Settings of one evaluation (the flags of ``driftcaps eval``).

    Attributes:
        model: a registry name, a model folder or a Hub id.
        output: the results folder (replaced at the end; refused if non-empty unless ``overwrite``).
        adapter: a PEFT adapter folder, or None for the base model alone.
        tasks: DriftCaps task names (``tasks/driftcaps/*.yaml``).
        limit: evaluate only the first N prompts of each task (smoke tests), or None for all.
        backend: ``hf`` (transformers) or ``vllm``.
        device: ``cpu``, ``cuda``, ... (None: cuda if available, else cpu).
        dtype: weights dtype for generation (``bfloat16``, ``float32``, ``auto``).
        batch_size: generation batch size (int or ``auto``; None: 32 on CPU, ``auto`` on GPU).
        apply_chat_template: wrap each prompt in the model's chat template (recommended).
        refusal_judge, harm_judge: judge names (see ``driftcaps.judges``).
        seed: lm-eval's seeds and the bootstrap seed.
        n_boot: bootstrap resamples for the 95% CIs.
        data_dir: a built DriftCaps folder (default: the cached build, made on first use).
    """

    model: str
    output: Path
    adapter: str | None = None
    tasks: list[str] = field(default_factory=lambda: ["driftcaps_mini"])
    limit: int | None = None
    backend: str = "hf"
    device: str | None = None
    dtype: str = "bfloat16"
    batch_size: int | str | None = None
    apply_chat_template: bool = True
    refusal_judge: str = "trained"
    harm_judge: str = "trained"
    seed: int = 0
    n_boot: int = 2000
    data_dir: str | None = None
    overwrite: bool = False

    def validate(self) -> EvalSettings:
        """Check the settings before anything runs; raise :class:`DriftCapsError` naming the flag."""
        import importlib.util

        if not self.tasks:
            raise DriftCapsError(f"--tasks is empty; choose from {', '.join(known_tasks())}.")
        unknown = [t for t in self.tasks if t not in known_tasks()]
        if unknown:
            raise DriftCapsError(f"unknown task(s) {unknown}; choose from {', '.join(known_tasks())}.")
        if self.limit is not None and self.limit < 1:
            raise DriftCapsError(f"--limit {self.limit}: give a number of prompts >= 1, or leave it out for all.")
        if self.n_boot < 1:
            raise DriftCapsError(f"--n-boot {self.n_boot}: give a number of bootstrap resamples >= 1.")
        if self.dtype not in DTYPES:
            raise DriftCapsError(f"--dtype {self.dtype}: choose one of {', '.join(DTYPES)}.")
        if self.backend not in ("hf", "vllm"):
            raise DriftCapsError(f"--backend {self.backend}: choose hf or vllm.")
        if self.backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise DriftCapsError("--backend vllm: vllm is not installed; pip install 'driftcaps[vllm]' (GPU).")
        bs = self.batch_size
        if bs is not None and bs != "auto" and not (isinstance(bs, int) and bs >= 1):
            raise DriftCapsError(f"--batch-size {bs}: give an integer >= 1 or auto.")
        if self.device and self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise DriftCapsError(f"--device {self.device}: no CUDA device here (torch {torch.__version__}); use --device cpu.")
        if Path(self.output).exists() and not Path(self.output).is_dir():
            raise DriftCapsError(f"--output {self.output}: is a file; give a folder.")
        return self


DTYPES = ("bfloat16", "float16", "float32", "auto")


def known_tasks() -> list[str]:
    """Task names defined in the bundled ``tasks/driftcaps/*.yaml``."""
    names = []
    for y in sorted((tasks_dir() / "driftcaps").glob("*.yaml")):
        m = re.search(r"^task:\s*(\S+)", y.read_text(encoding="utf-8"), re.MULTILINE)
        if m:
            names.append(m.group(1))
    return names


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _model_args(s: EvalSettings, model_path: str, adapter_rank: int | None) -> dict:
    if s.backend == "hf":
        args = {"pretrained": model_path, "dtype": s.dtype}
        if s.adapter:
            args["peft"] = str(Path(s.adapter).resolve())
    elif s.backend == "vllm":
        args = {"pretrained": model_path, "dtype": s.dtype}
        if s.adapter:
            args.update(enable_lora=True, lora_local_path=str(Path(s.adapter).resolve()),
                        max_lora_rank=max(16, adapter_rank or 16))
    else:
        raise DriftCapsError(f"unknown --backend {s.backend!r}; choose hf or vllm.")
    return args


def run_eval(s: EvalSettings) -> EvalReport:
    """Evaluate a model (optionally with an adapter) on DriftCaps tasks; see the module docstring.

    Raises:
        DriftCapsError: unknown task, bad model or adapter (e.g. trained on another base), or an
            existing non-empty output folder without ``overwrite``.
    """
    s.validate()
    out = Path(s.output)
    if out.exists() and any(out.iterdir()) and not s.overwrite:
        raise DriftCapsError(f"{out}: output folder exists and is not empty; choose another --output or pass --overwrite.")
    refusal, harm = get_refusal_judge(s.refusal_judge), get_harm_judge(s.harm_judge)
    model = resolve_model(s.model)
    adapter = check_adapter(s.adapter, model) if s.adapter else None
    data = ensure_built(s.data_dir)
    device = _device(s.device)
    batch = s.batch_size if s.batch_size is not None else (32 if device == "cpu" else "auto")
    model_args = _model_args(s, model.path, adapter.rank if adapter else None)
    previous = os.environ.get("DRIFTCAPS_REFUSAL_JUDGE")
    os.environ["DRIFTCAPS_REFUSAL_JUDGE"] = s.refusal_judge  # the judge of lm-eval's own metrics
    try:
        return _run(s, out, model, adapter, data, device, batch, model_args, refusal, harm)
    finally:
        if previous is None:
            os.environ.pop("DRIFTCAPS_REFUSAL_JUDGE", None)
        else:
            os.environ["DRIFTCAPS_REFUSAL_JUDGE"] = previous


def preload_cpu_model(model_args: dict, batch: int | str):
    """lm-eval's ``HFLM`` over a model we load ourselves, for CPU runs of the ``hf`` backend.

    It computes exactly what ``--model hf --model_args pretrained=...,peft=...`` computes (the
    adapter stays unmerged), with one difference: every parameter keeps ``requires_grad=True``.
    With torch 2.13's CPU build, bf16 linear layers whose weights have ``requires_grad=False``
    (what PEFT sets on the frozen base) ran 2.7x slower under ``no_grad`` here (measured on
    Qwen2.5-0.5B, batch 32, 2026-11-29); under ``no_grad`` the flag builds no graph.
    """
    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = model_args["dtype"]
    model = AutoModelForCausalLM.from_pretrained(
        model_args["pretrained"], dtype=dtype if dtype == "auto" else getattr(torch, dtype))
    if "peft" in model_args:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, model_args["peft"])
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    tok = AutoTokenizer.from_pretrained(model_args["pretrained"])
    return HFLM(pretrained=model, tokenizer=tok, batch_size=batch, device="cpu")


def _run(s, out, model, adapter, data, device, batch, model_args, refusal, harm) -> EvalReport:
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    preload = s.backend == "hf" and device == "cpu"
    with staged_dir(out, overwrite=s.overwrite) as stage:
        tracker = EvaluationTracker(output_path=str(stage / "results.json"))
        try:
            lm = preload_cpu_model(model_args, batch) if preload else s.backend
        except OSError as e:
            raise DriftCapsError(f"--model {s.model}: cannot load it ({str(e).splitlines()[0][:160]}); "
                                 "check the name, the folder or your Hub access.") from None
        results = lm_eval.simple_evaluate(
            model=lm,
            model_args=None if preload else model_args, tasks=list(s.tasks),
            task_manager=TaskManager(include_path=str(tasks_dir()), include_defaults=False,
                                     metadata={"data_dir": str(data)}),
            apply_chat_template=s.apply_chat_template, log_samples=True, limit=s.limit,
            device=device, batch_size=batch, random_seed=s.seed, numpy_random_seed=s.seed,
            torch_random_seed=s.seed, fewshot_random_seed=s.seed, evaluation_tracker=tracker,
        )
        samples = results.pop("samples")
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        results_file = find_results(stage)
        if results_file is None:
            raise DriftCapsError(f"{out}: lm-eval did not write its results file; see the log above.")
        sample_files = find_samples(stage)
        records = judge_rows(load_sample_rows(stage), refusal, harm)
        write_jsonl(stage / "judged.jsonl", (r.model_dump() for r in records))
        overall, by_cat, by_subset = compute_metrics(records, n_boot=s.n_boot, seed=s.seed)
        lm_results = read_json(results_file, "lm-eval results")
        template = lm_results.get("chat_template")
        gen = {t: c.get("generation_kwargs") for t, c in lm_results.get("configs", {}).items()}
        report = EvalReport(
            tasks=list(s.tasks), n_prompts=len(records),
            judges=[JudgeInfo(kind="refusal", name=refusal.name, version=refusal.version),
                    JudgeInfo(kind="harm", name=harm.name, version=harm.version)],
            metrics=overall, by_category=by_cat, by_subset=by_subset,
            provenance=Provenance(
                created_at=now_iso(), driftcaps_version=__version__, packages=package_versions(),
                data_version=DATA_VERSION, manifest_sha256=manifest_sha256(data),
                model=ModelInfo(name=model.name, path=model.path, weights_sha256=model.weights_sha256,
                                source=model.source),
                adapter=adapter,
                generation={"backend": s.backend, "model_args": model_args, "dtype": s.dtype, "device": device,
                            "batch_size": batch, "limit": s.limit, "gen_kwargs": gen,
                            "loader": "driftcaps preload (requires_grad kept)" if preload else "lm-eval"},
                apply_chat_template=s.apply_chat_template,
                chat_template_sha256=lm_results.get("chat_template_sha") or (sha256_text(template) if template else None),
                seed=s.seed, n_bootstrap=s.n_boot, command=command_line(),
                lm_eval_results=results_file.name,
                lm_eval_samples=[p.name for p in sample_files],
            ),
        )
        write_json(stage / "report.json", report.model_dump(mode="json"))
    return report
