"""The training recipe: one loop, top to bottom (torchtune style).

``train(cfg)`` fine-tunes a LoRA adapter on task data (plain LoRA, or AlignGuard-LoRA with
``cfg.method == "agl"``: the same loop plus the terms of :mod:`agl.model`) and writes, into
``cfg.output``:

- ``adapter_config.json`` + ``adapter_model.safetensors``: a standard PEFT adapter that lm-eval
  loads with ``--model_args pretrained=BASE,peft=DIR``;
- ``checkpoint-STEP/`` for every step of ``cfg.save_steps``: a PEFT adapter of the weights at
  that step (the held-out losses are logged there too);
- ``heldout_answers.jsonl`` (tasks with gold answers): the tuned model's held-out explanations
  and the letters parsed from them and from the base model's (:mod:`agl.quality`);
- ``training_log.jsonl``: one line per step (``loss`` = the total, ``task_loss``, every AGL term
  unweighted and the weighted ``reg_loss``, ``lr``, ``tokens``, ``seconds``) and, every
  ``eval_every`` steps and at the end, ``eval_task_loss`` on held-out task examples and
  ``eval_alignment_loss`` on held-out alignment examples (the base model's own responses);
- ``run.json``: config, seed, base model fingerprint, task data hash, package versions, timings.

The folder is staged and renamed at the end, so an interrupted run leaves nothing half-written.
Under ``torchrun`` (``WORLD_SIZE`` > 1) the global batch is split over the processes with
PyTorch DDP (gloo on CPU, NCCL on GPUs); rank 0 logs and writes.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from pathlib import Path

from agl.alignment import alignment_data
from agl.config import TrainConfig
from agl.contrast import contrast_examples
from agl.data import EXPLAIN_TOKENS, accuracy_rows, load_task, tokenize_example
from agl.fisher import AlignmentFisher, estimate
from agl.loss import collate, heldout_loss, response_loss
from agl.model import AGLObjective, L2Objective, Objectives
from agl.quality import heldout_accuracy
from agl.replay import replay_count, replay_indices, replay_order
from agl.resume import (
    latest_state,
    load_checkpoints,
    load_state,
    resume_dir,
    save_checkpoint,
    save_state,
)
from agl.run import TrainingRun, finished_with_same_config, read_run
from driftcaps import __version__
from driftcaps.errors import DriftCapsError
from driftcaps.io import sha256_text, staged_dir, write_jsonl
from driftcaps.models import ModelInfo, TrainedBase, model_arch, resolve_model
from driftcaps.paths import cache_home
from driftcaps.progress import note
from driftcaps.progress import progress as progress_bar
from driftcaps.provenance import now_iso, package_versions
from driftcaps.schema import write_record

__all__ = ["train", "train_step", "check_targets", "collate", "read_run"]


def check_targets(model, target_modules: list[str], rank: int) -> None:
    """Refuse target modules the model lacks, and a rank larger than an adapted layer.

    Raises:
        DriftCapsError: naming the missing module or the offending layer and its shape.
    """
    import torch

    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    sides = []
    for t in target_modules:
        hits = [n for n in linears if n == t or n.endswith("." + t)]
        if not hits:
            sample = sorted({n.rsplit(".", 1)[-1] for n in linears})[:12]
            raise DriftCapsError(f"target module {t!r} not found in the base model; its linear layers "
                                 f"include {sample}: pass --target-modules with those names.")
        sides += [(min(linears[n].in_features, linears[n].out_features), n) for n in hits]
    smallest, name = min(sides)
    if rank > smallest:
        lin = linears[name]
        raise DriftCapsError(f"rank {rank} is larger than layer {name} ({lin.out_features}x{lin.in_features}); "
                             f"choose --rank <= {smallest}.")


def _task_examples(cfg: TrainConfig, tok, base: ModelInfo) -> tuple[list[dict], list[dict], list[dict], dict, int]:
    """Task data: (held-out rows, held-out examples, train examples, description, number dropped
    as too long); examples are tokenised."""
    rows, info = load_task(cfg.task_data, base=base)
    pairs = [(r, tokenize_example(tok, r["prompt"], r["response"], cfg.max_length)) for r in rows]
    kept = [(r, e) for r, e in pairs if any(x != -100 for x in e["labels"][1:])]
    if len(kept) <= cfg.heldout:
        raise DriftCapsError(f"{cfg.task_data}: only {len(kept)} usable examples (max_length={cfg.max_length}, "
                             f"{len(rows) - len(kept)} too long) for heldout={cfg.heldout}; give more data, "
                             "a larger --max-length or a smaller --heldout.")
    held, train = kept[:cfg.heldout], kept[cfg.heldout:]
    if cfg.train_examples is not None:
        if cfg.train_examples > len(train):
            raise DriftCapsError(f"{cfg.task_data}: train_examples={cfg.train_examples} but only {len(train)} usable "
                                 "examples remain after the held-out ones; give a smaller --train-examples.")
        train = train[:cfg.train_examples]
    return ([r for r, _ in held], [e for _, e in held], [e for _, e in train], info, len(rows) - len(kept))


def _alignment_examples(cfg: TrainConfig, base, tok) -> tuple[list[dict], list[dict], list[dict]]:
    """Tokenised alignment data (the base model's own responses to align prompts): (Fisher set,
    held-out set, replay set). The held-out rows come first, the same for every method; the
    Fisher and replay sets both start after them. A contrast Fisher (:mod:`agl.contrast`) needs
    no responses."""
    n_fisher = cfg.fisher_samples if cfg.method == "agl" and cfg.fisher_source == "responses" else 0
    n_replay = cfg.replay_examples if cfg.replay_share > 0 else 0
    ex: list[dict] = []
    if cfg.align_heldout + max(n_fisher, n_replay):
        rows = alignment_data(base, cfg.align_heldout + max(n_fisher, n_replay))
        ex = [tokenize_example(tok, r["prompt"], r["response"], cfg.max_length) for r in rows]
    rest = ex[cfg.align_heldout:]
    fisher = rest[:n_fisher]
    if cfg.method == "agl" and cfg.fisher_source == "contrast":
        fisher = contrast_examples(tok, cfg.fisher_samples, cfg.max_length)
    return fisher, ex[:cfg.align_heldout], rest[:n_replay]


def _fisher(cfg: TrainConfig, base, model, examples: list[dict]):
    """The alignment Fisher of the base model, cached in ``$DRIFTCAPS_HOME/fisher`` by everything
    it depends on (weights, tokenised alignment examples, layers, m, p, mode, seed, dtype). The
    weight hash stands for the model where known, so copies of one model share entries; else
    the model's path or Hub id; a contrast Fisher adds its compliance openings."""
    parts = [base.weights_sha256 or base.path, [e["input_ids"] for e in examples], sorted(cfg.target_modules),
             cfg.subspace_m, cfg.oversample, cfg.fisher_mode, cfg.seed, cfg.dtype]
    if any("contrast" in e for e in examples):  # (the key of a responses Fisher is as it always was)
        parts.append([e["contrast"]["input_ids"] for e in examples])
    key = sha256_text(json.dumps(parts))[:20]
    path = cache_home() / "fisher" / f"{key}.safetensors"
    if path.is_file() and path.with_suffix(".safetensors.json").is_file():
        cached = AlignmentFisher.load(path)
        cached.meta["from_cache"] = str(path)
        return cached
    passes = 2 if cfg.fisher_mode == "subspace" else 1
    bar = progress_bar(total=passes * len(examples), desc="Fisher estimate (alignment data)", unit="example")
    fisher = estimate(model, examples, cfg.target_modules, cfg.subspace_m, cfg.oversample, cfg.fisher_mode,
                      cfg.seed, progress=lambda stage, done: bar.update(1))
    bar.close()
    fisher.save(path)
    return fisher


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        import torch

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _test_kill(step: int) -> None:
    """Test hook: ``DRIFTCAPS_TEST_KILL_AFTER_STEP=N`` SIGKILLs this process after step N (the
    kill-and-resume tests set it; nothing else does)."""
    import os

    if os.environ.get("DRIFTCAPS_TEST_KILL_AFTER_STEP") == str(step):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def train_step(forward, batch: dict, objective, params: list, opt, sched,
               max_grad_norm: float) -> dict[str, float]:
    """One optimizer step: task loss (:func:`response_loss`, + the regularisers of ``objective``:
    :class:`~agl.model.AGLObjective`, :class:`~agl.model.L2Objective`, :class:`~agl.model.Objectives`
    or None), backward, clip, step; returns the logged values (``loss``, ``task_loss``,
    ``reg_loss`` and each term, unweighted).

    Raises:
        DriftCapsError: the loss is not finite (diverged).
    """
    import torch

    task_loss = response_loss(forward, batch)
    terms = objective.terms() if objective else {}
    reg = objective.loss(terms) if objective else torch.zeros(())
    loss = task_loss + reg
    if not math.isfinite(loss.item()):
        raise DriftCapsError(f"training diverged (loss {loss.item()}); lower --lr.")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt.step()
    if sched is not None:
        sched.step()
    opt.zero_grad(set_to_none=True)
    return {"loss": loss.item(), "task_loss": task_loss.item(), "reg_loss": reg.item(),
            **{k: v.item() for k, v in terms.items()}}


def train(cfg: TrainConfig, progress: bool = True, base: ModelInfo | None = None) -> Path:
    """Fine-tune an adapter (plain LoRA or AGL) on ``cfg.task_data``; return the adapter folder.

    Args:
        cfg: the training config.
        progress: show a progress bar (rank 0 only).
        base: ``cfg.base`` already resolved (:func:`driftcaps.models.resolve_model`), or None.

    Raises:
        DriftCapsError: a bad config value, missing target modules, rank too large, bad or empty
            task or alignment data, or a non-empty output folder.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(cfg.output)
    if out.exists() and not out.is_dir():
        raise DriftCapsError(f"{out}: exists and is a file; give a folder as --output.")
    if out.exists() and any(out.iterdir()):
        if finished_with_same_config(out, cfg):
            note(f"{out}: already holds this run (same config); reusing it.")
            return out
        raise DriftCapsError(f"{out}: output folder exists and is not empty; choose another --output.")
    rank, world = _distributed()
    if cfg.batch_size % world:
        raise DriftCapsError(f"batch_size={cfg.batch_size} does not split over {world} processes; use a multiple.")
    t0 = time.time()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # 1. data: task examples (held-out first, fixed by the task's order) and alignment examples
    base = base or resolve_model(cfg.base)
    try:
        tok = AutoTokenizer.from_pretrained(base.path)
    except OSError as e:
        raise DriftCapsError(f"--base {cfg.base}: cannot load it ({str(e).splitlines()[0][:160]}); "
                             "check the name, the folder or your Hub access.") from None
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    held_rows, held, train_ex, task_info, too_long = _task_examples(cfg, tok, base)
    fisher_ex, align_held, replay_ex = _alignment_examples(cfg, base, tok)
    if cfg.accuracy_questions and not all("answer" in r for r in held_rows):
        raise DriftCapsError(f"--accuracy-questions needs an mmlu-explain task, not {cfg.task_data}.")
    accuracy_extra = accuracy_rows(base, cfg.accuracy_questions) if cfg.accuracy_questions else []

    # 2. model: frozen base (+ its alignment Fisher for AGL) + LoRA on the target modules
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, cfg.dtype))
    check_targets(model, cfg.target_modules, cfg.rank)
    fisher = _fisher(cfg, base, model, fisher_ex) if cfg.method == "agl" else None
    model = get_peft_model(model, LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules), task_type="CAUSAL_LM"))
    parts = ([AGLObjective(model, fisher, cfg)] if fisher is not None else []) + (
        [L2Objective(model, cfg.l2_weight)] if cfg.l2_weight > 0 else [])
    objective = (parts[0] if len(parts) == 1 else Objectives(parts)) if parts else None
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    forward = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    resume = resume_dir(out)  # agl/resume.py: state at every checkpoint, so a killed run continues
    run_key = json.loads(json.dumps({"config": cfg.model_dump(mode="json"), "world_size": world,
                                     "base": base.weights_sha256 or base.path}))

    def evaluate(entry: dict, task: bool = True) -> dict:  # forward only: twice the training batch fits
        if task:
            entry["eval_task_loss"] = heldout_loss(model, held, pad_id, 2 * cfg.batch_size)
        if align_held:
            entry["eval_alignment_loss"] = heldout_loss(model, align_held, pad_id, 2 * cfg.batch_size)
        return entry

    # 3. the loop: the same global batches whatever the number of processes
    order = random.Random(cfg.seed).sample(range(len(train_ex)), len(train_ex))
    checkpoints: dict[int, dict] = {}  # step -> LoRA weights, written with the run at the end
    start, cursor, spent, log = 1, 0, 0.0, []
    state = latest_state(resume, run_key)
    if state is not None:
        info = load_state(state, model, opt, sched)
        start, cursor, log, spent = info["step"] + 1, info["cursor"], info["log"], info["seconds"]
        checkpoints = load_checkpoints(resume, info["step"]) if rank == 0 else {}
        note(f"{out}: resuming after step {info['step']} from {state}.")
    else:
        if rank == 0 and resume.exists():  # the state of another config or base: start afresh
            shutil.rmtree(resume, ignore_errors=True)
        log.append(evaluate({"step": 0}))
    bar = progress_bar(range(start, cfg.steps + 1), desc=f"{cfg.method} fine-tune", disable=not progress or rank > 0,
                       unit="step", initial=start - 1, total=cfg.steps)
    replayed = replay_order(len(replay_ex), cfg.seed)  # agl/replay.py: a share of each batch
    for step in bar:
        n_task = cfg.batch_size - replay_count(step, cfg.batch_size, cfg.replay_share)
        ids = [order[(cursor + i) % len(order)] for i in range(n_task)]
        cursor += n_task
        examples = [train_ex[i] for i in ids] + [
            replay_ex[j] for j in replay_indices(step, cfg.batch_size, cfg.replay_share, replayed)]
        batch = collate(examples[rank::world], pad_id)
        ts = time.time()
        values = train_step(forward, batch, objective, params, opt, sched, cfg.max_grad_norm)
        entry = {"step": step, **values, "lr": sched.get_last_lr()[0],
                 "tokens": int((batch["labels"] != -100).sum()), "seconds": round(time.time() - ts, 4)}
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            evaluate(entry)
        elif step in cfg.save_steps:
            evaluate(entry, task=cfg.checkpoint_task_loss)
        log.append(entry)
        if step in cfg.save_steps and rank == 0:
            checkpoints[step] = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}
            save_checkpoint(resume, step, checkpoints[step])
            save_state(resume, step, cursor, model, opt, sched, log, run_key, spent + time.time() - t0)
        _test_kill(step)
        bar.set_postfix(loss=f"{entry['loss']:.3f}")

    # 4. task quality where the task has gold answers (mmlu-explain: agl/quality.py), rank 0
    quality, answers = {}, []
    if rank == 0 and held_rows and all("answer" in r for r in held_rows):
        quality, answers = heldout_accuracy(model, tok, held_rows + accuracy_extra, EXPLAIN_TOKENS)

    # 5. outputs, staged (rank 0)
    if rank == 0:
        with staged_dir(out) as stage:
            model.save_pretrained(stage)
            for at, weights in sorted(checkpoints.items()):
                model.save_pretrained(stage / f"checkpoint-{at}", state_dict=weights)
            write_jsonl(stage / "training_log.jsonl", log)
            if answers:
                write_jsonl(stage / "heldout_answers.jsonl", answers)
            write_record(stage / "run.json", TrainingRun(
                method=cfg.method, config=cfg, seed=cfg.seed, world_size=world,
                base_model=TrainedBase(**base.model_dump(), arch=model_arch(base.path)),
                task_data=task_info, n_train=len(train_ex), n_heldout=len(held),
                n_skipped_too_long=too_long, n_fisher=len(fisher_ex), n_align_heldout=len(align_held),
                checkpoints=sorted(checkpoints),
                fisher=fisher.meta if fisher else None,
                trainable_parameters=sum(p.numel() for p in params),
                final={k: log[-1].get(k) for k in ("loss", "task_loss", "eval_task_loss", "eval_alignment_loss")}
                | {"eval_task_loss_before": log[0]["eval_task_loss"],
                   "eval_alignment_loss_before": log[0].get("eval_alignment_loss")} | quality,
                wall_seconds=round(spent + time.time() - t0, 1), created_at=now_iso(),
                driftcaps_version=__version__, packages=package_versions()))
        shutil.rmtree(resume, ignore_errors=True)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return out
