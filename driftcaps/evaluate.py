"""``driftcaps eval``: run DriftCaps through lm-eval, judge the responses, write a report.

The output folder gets lm-eval's own ``results_<date>.json`` and ``samples_<task>_<date>.jsonl``,
plus ``judged.jsonl`` (one :class:`~driftcaps.report.JudgedResponse` per prompt) and
``report.json`` (:class:`~driftcaps.report.EvalReport`). Everything is written into a staging
folder that replaces the output folder only when the run succeeded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from driftcaps import __version__, backends
from driftcaps.adapters import AdapterInfo, check_adapter
from driftcaps.correction import correct_for_judges
from driftcaps.data import DATA_VERSION, ensure_built, manifest_sha256
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, sha256_file, sha256_text, staged_dir, write_jsonl
from driftcaps.judges import (
    DEFAULT_HARM_JUDGE,
    DEFAULT_REFUSAL_JUDGE,
    get_harm_judge,
    get_refusal_judge,
)
from driftcaps.judges.apply import judge_responses
from driftcaps.metrics import compute_metrics
from driftcaps.models import ModelInfo, resolve_model
from driftcaps.paths import tasks_dir
from driftcaps.progress import note
from driftcaps.provenance import command_line, now_iso, package_versions
from driftcaps.report import REPORT_FILE, EvalReport, Provenance
from driftcaps.response_cache import ResponseCache, default_path, scope_for
from driftcaps.responses import find_results, find_samples, load_responses
from driftcaps.schema import Settings, write_record
from driftcaps.stats import N_BOOT
from driftcaps.tasks import known_tasks

log = logging.getLogger(__name__)

DTYPES = ("bfloat16", "float16", "float32", "auto")


class EvalSettings(Settings):
    """Settings of one evaluation: the options of ``driftcaps eval`` (each declared once, here)."""

    WHAT = "eval settings"
    model: str = Field(description="Base model: a name from `driftcaps models list`, a model folder or a Hub id.")
    output: Path = Field(description="Results folder (new or empty; replaced at the end).")
    adapter: str | None = Field(None, description="PEFT adapter folder to apply to --model.")
    tasks: list[str] = Field(default_factory=lambda: ["driftcaps_mini"], min_length=1,
                             description="Comma-separated DriftCaps tasks.")
    limit: int | None = Field(None, ge=1, description="Only the first N prompts of each task (smoke tests).")
    backend: Literal["hf", "vllm"] = Field("hf", description="lm-eval backend.")
    device: str | None = Field(None, description="cpu, cuda, cuda:0 ... (default: cuda if available, else cpu).")
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = Field("bfloat16", description="Generation dtype.")
    max_gen_toks: int | None = Field(None, ge=1, description="New tokens per response (default: the "
                                     "task's, 128). Base and tuned runs compared for drift need the same.")
    batch_size: int | Literal["auto"] | None = Field(
        None, description="Generation batch: an integer >= 1 or auto (default: 32 on CPU, auto on GPU).")
    apply_chat_template: bool = Field(True, description="Wrap each prompt in the model's chat template "
                                      "(recommended).", json_schema_extra={"flag": "--chat-template/--no-chat-template"})
    system_instruction: str | None = Field(None, description="A system prompt, passed to lm-eval's system "
                                           "instruction inside the chat template (needs --chat-template).")
    refusal_judge: str = Field(DEFAULT_REFUSAL_JUDGE, description="Refusal judge (see `driftcaps judge --help`).")
    harm_judge: str = Field(DEFAULT_HARM_JUDGE, description="Harm judge (see `driftcaps judge --help`).")
    tensor_parallel_size: int | None = Field(None, ge=1, description="vLLM: GPUs per model replica (tensor parallelism).")
    data_parallel_size: int | None = Field(None, ge=1, description="vLLM: model replicas, one per GPU group (data parallelism).")
    gpu_memory_utilization: float | None = Field(None, gt=0.0, le=1.0, description="vLLM: share of each GPU's memory to use.")
    max_model_len: int | None = Field(None, ge=1, description="vLLM: longest prompt + response in tokens.")
    seed: int = Field(0, description="lm-eval's seeds and the bootstrap seed.")
    n_boot: int = Field(N_BOOT, ge=1, description="Bootstrap resamples for the 95% CIs.")
    data_dir: str | None = Field(None, description="A built DriftCaps folder (default: the cache, built on first use).")
    overwrite: bool = Field(False, description="Replace a non-empty --output at the end.")
    response_cache: str = Field("auto", description="Response cache that lets a killed run resume "
                                "(docs/design.md#interrupted-runs): auto ($DRIFTCAPS_HOME/responses.sqlite), a file, or off.")

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if v is None or v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError("give an integer >= 1 or auto")

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in known_tasks()]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; choose from {', '.join(known_tasks())}")
        return v

    @field_validator("system_instruction")
    @classmethod
    def _system_needs_template(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not info.data.get("apply_chat_template", True):
            raise ValueError("needs the chat template (without it lm-eval glues the text to the prompt with no "
                             "separator); drop --no-chat-template")
        return v

    def check_machine(self) -> EvalSettings:
        """Checks that depend on this machine; raise :class:`DriftCapsError` naming the flag."""
        import importlib.util

        if self.backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise DriftCapsError("--backend vllm: vllm is not installed; pip install 'driftcaps[vllm]' (GPU).")
        if self.device and self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise DriftCapsError(f"--device {self.device}: no CUDA device here (torch {torch.__version__}); use --device cpu.")
        if self.output.exists() and not self.output.is_dir():
            raise DriftCapsError(f"--output {self.output}: is a file; give a folder.")
        return self


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_eval(s: EvalSettings, model: ModelInfo | None = None) -> EvalReport:
    """Evaluate a model (optionally with an adapter) on DriftCaps tasks; see the module docstring.

    Args:
        s: the settings.
        model: ``s.model`` already resolved (:func:`driftcaps.models.resolve_model`), or None to
            resolve it here.

    Raises:
        DriftCapsError: bad model or adapter (e.g. trained on another base), an unknown judge, or
            an existing non-empty output folder without ``overwrite``.
    """
    s.check_machine()
    out = Path(s.output)
    if out.exists() and any(out.iterdir()) and not s.overwrite:
        raise DriftCapsError(f"{out}: output folder exists and is not empty; choose another --output or pass --overwrite.")
    refusal, harm = get_refusal_judge(s.refusal_judge), get_harm_judge(s.harm_judge)
    model = model or resolve_model(s.model)
    adapter = check_adapter(s.adapter, model) if s.adapter else None
    data = ensure_built(s.data_dir)
    device = _device(s.device)
    batch = s.batch_size if s.batch_size is not None else (32 if device == "cpu" else "auto")
    model_args = backends.model_args(s.backend, model.path, s.dtype, s.adapter,
                                     {k: getattr(s, k) for k in backends.VLLM_ONLY})
    return _run(s, out, model, adapter, data, device, batch, model_args, refusal, harm)


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


def _run(s: EvalSettings, out: Path, model: ModelInfo, adapter: AdapterInfo | None, data: Path, device: str,
         batch: int | str, model_args: dict, refusal, harm) -> EvalReport:
    """Generate (lm-eval, ``predict_only``: no metric is computed inside lm-eval), judge every
    response once, compute the metrics and write the report, all in a staging folder."""
    import lm_eval
    from lm_eval.api.registry import get_model
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    preload = s.backend == "hf" and device == "cpu"
    loader = "driftcaps preload (requires_grad kept)" if preload else "lm-eval"
    with staged_dir(out, overwrite=s.overwrite) as stage:
        tracker = EvaluationTracker(output_path=str(stage / "results.json"))
        try:
            lm = preload_cpu_model(model_args, batch) if preload else get_model(s.backend).create_from_arg_obj(
                model_args, {"batch_size": batch, "max_batch_size": None, "device": device})
        except OSError as e:
            raise DriftCapsError(f"--model {s.model}: cannot load it ({str(e).splitlines()[0][:160]}); "
                                 "check the name, the folder or your Hub access.") from None
        cache = _response_cache(s, lm, model, adapter, {
            "backend": s.backend, "dtype": s.dtype, "batch_size": batch, "device": device.split(":")[0],
            "system_instruction": s.system_instruction, "loader": loader,
            "engine": {k: getattr(s, k) for k in backends.VLLM_ONLY}})
        results = lm_eval.simple_evaluate(
            model=lm, tasks=list(s.tasks),
            task_manager=TaskManager(include_path=str(tasks_dir()), include_defaults=False,
                                     metadata={"data_dir": str(data)}),
            apply_chat_template=s.apply_chat_template, system_instruction=s.system_instruction,
            log_samples=True, predict_only=True, limit=s.limit,
            device=device, batch_size=batch, random_seed=s.seed, numpy_random_seed=s.seed,
            torch_random_seed=s.seed, fewshot_random_seed=s.seed, evaluation_tracker=tracker,
            gen_kwargs={"max_gen_toks": s.max_gen_toks} if s.max_gen_toks else None,
        )
        samples = results.pop("samples")
        if cache:
            note(f"response cache {cache.path}: {cache.reused} responses reused, {cache.generated} generated.")
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        results_file = find_results(stage)
        if results_file is None:
            raise DriftCapsError(f"{out}: lm-eval did not write its results file; see the log above.")
        sample_files = find_samples(stage)
        records = judge_responses(load_responses(stage), refusal, harm)
        write_jsonl(stage / "judged.jsonl", (r.model_dump() for r in records))
        overall, by_cat, by_subset = compute_metrics(records, n_boot=s.n_boot, seed=s.seed)
        corrected, error_rates = correct_for_judges(records, refusal, harm, n_boot=s.n_boot, seed=s.seed)
        lm_results = read_json(results_file, "lm-eval results")
        template = lm_results.get("chat_template")
        gen = {t: c.get("generation_kwargs") for t, c in lm_results.get("configs", {}).items()}
        report = EvalReport(
            tasks=list(s.tasks), n_prompts=len(records),
            judges=[refusal.info(), harm.info()],
            metrics=overall, by_category=by_cat, by_subset=by_subset,
            corrected=corrected, judge_error_rates=error_rates,
            provenance=Provenance(
                created_at=now_iso(), driftcaps_version=__version__, packages=package_versions(),
                data_version=DATA_VERSION, manifest_sha256=manifest_sha256(data),
                model=model,
                adapter=adapter,
                generation={"backend": s.backend, "model_args": model_args, "dtype": s.dtype, "device": device,
                            "batch_size": batch, "limit": s.limit, "gen_kwargs": gen,
                            "system_instruction": s.system_instruction,
                            "loader": loader},
                apply_chat_template=s.apply_chat_template,
                chat_template_sha256=lm_results.get("chat_template_sha") or (sha256_text(template) if template else None),
                seed=s.seed, n_bootstrap=s.n_boot, command=command_line(),
                lm_eval_results=results_file.name,
                lm_eval_samples=[p.name for p in sample_files],
                samples_sha256={p.name: sha256_file(p) for p in sample_files},
            ),
        )
        write_record(stage / REPORT_FILE, report)
    if cache:
        cache.close()
    return report


def _response_cache(s: EvalSettings, lm, model: ModelInfo, adapter: AdapterInfo | None,
                    settings: dict) -> ResponseCache | None:
    """Attach the response cache of ``s.response_cache`` to ``lm`` (None: off, or a model whose
    weights cannot be identified)."""
    if s.response_cache == "off":
        return None
    scope = scope_for(model, adapter, settings, lm.chat_template(True) if s.apply_chat_template else None)
    if scope is None:
        note(f"response cache off: the weights of {s.model} cannot be identified (not in the local Hugging Face "
             "cache), so an interrupted run would start again.")
        return None
    cache = ResponseCache(default_path() if s.response_cache == "auto" else Path(s.response_cache), scope)
    cache.attach(lm)
    return cache
