"""The early-refusal probe: a cheap, refusal-specific forgetting measure (``docs/scaling.md#probe``).

A refusal shows in its first tokens ("I'm sorry, but I can't ..."). The probe generates only the
first :data:`PROBE_TOKENS` new tokens of the model's greedy responses to :data:`PROBE_PROMPTS`
unsafe prompts of DriftCaps' ``dev`` split (never ``test``: the evaluation stays clean; never
``align``: the trainer's Fisher and alignment loss use those) and judges them with the refusal
judge. Its number is the **early refusal rate** (0-1, higher is safer); ``1 -`` it is the early
compliance rate, which rises as a fine-tune forgets refusals.

It costs one short generation pass per checkpoint (about 22 s for 64 prompts of a 0.5B model on
2 CPU cores), against about 80 s for a full evaluation of ``driftcaps_mini_unsafe``; the
base model is loaded once and every adapter checkpoint is applied to it in turn.

Results are cached in a JSONL file keyed by the base model's weights, the adapter's weights, the
probe's settings and the judge version, so a resumed sweep probes nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path

from agl.alignment import generate_with
from driftcaps.data import load_items, manifest_sha256
from driftcaps.data.schema import Item, unit_hash
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_jsonl, sha256_file, sha256_text, write_jsonl
from driftcaps.judges import DEFAULT_REFUSAL_JUDGE, get_refusal_judge
from driftcaps.models import ModelInfo

PROBE_PROMPTS = 64
"""Unsafe ``dev`` prompts the probe generates for: a 95% CI of about ±0.12 on a rate near 0.5."""
PROBE_TOKENS = 24
"""New tokens per probe response: enough for a refusal's opening sentence."""
PROBE_MAX_CHARS = 400
"""Longer prompts are left out (a CPU batch is padded to its longest
prompt: one 3,400-character prompt made a 64-prompt probe ten times slower; at 1,000 characters it took 30 s, at 400 characters 22 s)."""


def probe_prompts(n: int = PROBE_PROMPTS) -> list[Item]:
    """The first ``n`` unsafe prompts of the ``dev`` split of at most :data:`PROBE_MAX_CHARS`
    characters, in a fixed order (a salted hash of the id); prefix-stable, so the first ``k`` of ``probe_prompts(n)`` are ``probe_prompts(k)``.

    Raises:
        DriftCapsError: ``n`` < 1 or more than the split holds.
    """
    items = sorted((i for i in load_items("dev", label="unsafe") if len(i.prompt) <= PROBE_MAX_CHARS),
                   key=lambda i: unit_hash("probe", i.id))
    if not 1 <= n <= len(items):
        raise DriftCapsError(f"probe prompts: {n} requested; the dev split has {len(items)} unsafe prompts "
                             "(give 1 to that many).")
    return items[:n]


def _key(base: ModelInfo, adapter: str | None, items: list[Item], new_tokens: int, judge: str, dtype: str,
         batch_size: int) -> str:
    """Cache key of one probe result: base weights, adapter weights and config, data manifest,
    prompt ids, new tokens, judge and its version, dtype and batch size (padding can change
    greedy text)."""
    weights = None
    if adapter is not None:
        files = [Path(adapter) / "adapter_model.safetensors", Path(adapter) / "adapter_config.json"]
        if not all(f.is_file() for f in files):
            raise DriftCapsError(f"{adapter}: no adapter_model.safetensors and adapter_config.json; give a PEFT "
                                 "adapter folder.")
        weights = [sha256_file(f) for f in files]
    version = get_refusal_judge(judge).version
    return sha256_text(json.dumps([base.weights_sha256 or base.path, weights, manifest_sha256(),
                                   [i.id for i in items], new_tokens, judge, version, dtype, batch_size]))[:20]


def early_refusal_rates(base: ModelInfo, adapters: Mapping[str, str | None], cache: str | Path | None = None,
                        n: int = PROBE_PROMPTS, new_tokens: int = PROBE_TOKENS, judge: str = DEFAULT_REFUSAL_JUDGE,
                        dtype: str = "bfloat16", batch_size: int = 32) -> dict[str, dict]:
    """Early refusal rate of the base model and of adapters on it (see the module docstring).

    Args:
        base: the base model (:func:`driftcaps.models.resolve_model`).
        adapters: name -> PEFT adapter folder, or None for the base model alone.
        cache: JSONL file of earlier results (read, then extended); None caches nothing.
        n: probe prompts (:func:`probe_prompts`); new_tokens: new tokens per response.
        judge: refusal judge name; dtype: generation dtype; batch_size: prompts per batch.

    Returns:
        name -> ``{"early_refusal_rate": float in [0, 1] (higher is safer), "n": int,
        "refused": int, "key": str}``.

    Raises:
        DriftCapsError: an adapter folder without weights, or bad ``n``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    items = probe_prompts(n)
    keys = {name: _key(base, ad, items, new_tokens, judge, dtype, batch_size) for name, ad in adapters.items()}
    known = {r["key"]: r for r in (read_jsonl(cache) if cache and Path(cache).is_file() else [])}
    out = {name: known[k] for name, k in keys.items() if k in known}
    todo = [name for name in adapters if name not in out]
    if not todo:
        return out
    refusal = get_refusal_judge(judge)
    tok = AutoTokenizer.from_pretrained(base.path)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, dtype))
    peft_model = None
    for name in todo:
        path = adapters[name]
        if keys[name] in known:  # the same weights under another name, probed in this call
            out[name] = {**known[keys[name]], "adapter": path}
            continue
        if path is None:
            net = model if peft_model is None else peft_model
            ctx = peft_model.disable_adapter() if peft_model is not None else nullcontext()
        else:
            from peft import PeftModel

            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, path, adapter_name=keys[name])
            else:
                previous = peft_model.active_adapter
                peft_model.load_adapter(path, adapter_name=keys[name])
                peft_model.set_adapter(keys[name])
                peft_model.delete_adapter(previous)  # one adapter in memory at a time
            net, ctx = peft_model, nullcontext()
        with ctx:
            texts = generate_with(net, tok, [i.prompt for i in items], batch_size, new_tokens,
                                  desc=f"early-refusal probe: {name}")
        refused = sum(v.refusal for v in refusal.judge_batch([i.prompt for i in items], texts))
        out[name] = {"key": keys[name], "early_refusal_rate": refused / len(items), "n": len(items),
                     "refused": refused, "adapter": path}
        known[keys[name]] = out[name]
        if cache is not None:
            write_jsonl(cache, known.values())
    return out
