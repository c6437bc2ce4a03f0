"""Alignment data: the base model's own responses to DriftCaps' ``align`` split.

The Fisher estimate and the alignment loss must describe the base model's *aligned behaviour*:
its refusals to unsafe prompts and its answers to safe ones. So the prompts come from the
``align`` split (never ``test``: the evaluation stays clean) and the responses are the base
model's own greedy generations (chat template, as many new tokens as the tasks generate), generated once and cached in
``$DRIFTCAPS_HOME/alignment/<key>.jsonl``, keyed by model, DriftCaps manifest and settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from driftcaps.data import load_items, manifest_sha256
from driftcaps.data.schema import Item, unit_hash
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_jsonl, sha256_text, write_jsonl
from driftcaps.models import ModelInfo
from driftcaps.paths import cache_home
from driftcaps.progress import note, progress
from driftcaps.tasks import generation_settings


def max_new_tokens() -> int:
    """New tokens per response: the DriftCaps tasks' ``max_gen_toks`` (the alignment data are
    generated as the evaluation generates)."""
    return int(generation_settings()["max_gen_toks"])


def choose_prompts(n: int) -> list[Item]:
    """The first ``n`` prompts of :func:`alignment_order`. Prefix-stable: the first ``k`` of
    ``choose_prompts(n)`` are ``choose_prompts(k)``."""
    return alignment_order()[:n]


def alignment_order() -> list[Item]:
    """Every ``align`` prompt in a fixed order that alternates unsafe and safe prompts (each side
    ordered by a salted hash of the id). Only ``align`` items are ever returned."""
    items = load_items("align")
    unsafe = sorted((i for i in items if i.label == "unsafe"), key=lambda i: unit_hash("agl", i.id))
    safe = sorted((i for i in items if i.label == "safe"), key=lambda i: unit_hash("agl", i.id))
    order: list[Item] = []
    for k in range(max(len(unsafe), len(safe))):
        order += ([unsafe[k]] if k < len(unsafe) else []) + ([safe[k]] if k < len(safe) else [])
    assert all(i.split == "align" for i in order)
    return order


def generate(model_path: str, prompts: list[str], batch_size: int = 32, dtype: str = "bfloat16",
             new_tokens: int | None = None, desc: str = "base responses (alignment data)") -> list[str]:
    """Greedy responses (chat template; ``new_tokens`` new tokens, default :func:`max_new_tokens`)
    of the model in ``model_path``, one per prompt, in order (see :func:`generate_with`)."""
    model, tok = _load(model_path, dtype)
    return generate_with(model, tok, prompts, batch_size, new_tokens or max_new_tokens(), desc)


def _load(model_path: str, dtype: str = "bfloat16"):
    """(model, tokenizer) of a local model folder or Hub id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)), tok


def generate_with(model, tok, prompts: list[str], batch_size: int, new_tokens: int, desc: str) -> list[str]:
    """Greedy responses of a loaded model (a PEFT model too) to ``prompts``, in order: each prompt
    in the tokenizer's chat template, left-padded batches of similar length, ``new_tokens`` new
    tokens at most, special tokens dropped, whitespace stripped. The model is left as it was
    (training mode and ``requires_grad`` flags restored)."""
    import torch

    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             if tok.chat_template else p for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths batch together
    out = [""] * len(texts)
    was_training, flags = model.training, [p.requires_grad for p in model.parameters()]
    for p in model.parameters():  # frozen bf16 weights decode slower on CPU (driftcaps.evaluate.preload_cpu_model)
        p.requires_grad_(True)
    model.eval()
    try:
        for start in progress(range(0, len(order), batch_size), desc=desc, unit="batch"):
            idx = order[start:start + batch_size]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            for i, row in zip(idx, tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True),
                              strict=True):
                out[i] = row.strip()
    finally:
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.train(was_training)
    return out


CHUNK = 32
"""Prompts generated together, as one batch: the cache grows by whole chunks, so a response never
depends on how many rows were asked for before (left padding in a batch changes bf16 numerics)."""


def alignment_data(base: ModelInfo, n: int) -> list[dict]:
    """The first ``n`` alignment rows ``{id, label, prompt, response}`` for ``base`` (see
    :func:`choose_prompts`), from the cache or generated now.

    Responses are generated in fixed chunks of :data:`CHUNK` prompts of the prefix-stable order
    (chunk k: prompts ``k·CHUNK`` to ``(k+1)·CHUNK − 1``, one batch), so the rows, and the Fisher
    estimate made from them, are the same whatever the cache held before: a run in a fresh cache
    and a run in a cache grown by smaller requests get the same bytes (same machine and threads).

    Raises:
        DriftCapsError: ``n`` < 1 or the align split has too few prompts.
    """
    if n < 1:
        raise DriftCapsError("the alignment set is empty; give --fisher-samples >= 1.")
    everything = alignment_order()
    if len(everything) < n:
        raise DriftCapsError(f"the DriftCaps align split has only {len(everything)} prompts, fewer than {n} requested.")
    prompts = everything[:min(len(everything), -(-n // CHUNK) * CHUNK)]  # whole chunks
    key = sha256_text(json.dumps([base.path, base.weights_sha256, manifest_sha256(), max_new_tokens(),
                                  "chunks", CHUNK]))[:16]
    path = cache_home() / "alignment" / f"{Path(base.path).name}-{key}.jsonl"
    rows = read_jsonl(path) if path.is_file() else []
    if [r["id"] for r in rows] != [p.id for p in everything[:len(rows)]] or len(rows) % CHUNK and \
            len(rows) != len(everything):
        rows = []  # another order (older recipe) or not whole chunks: start again
    if len(rows) < len(prompts):
        todo = prompts[len(rows):]
        note(f"generating the base model's responses to {len(todo)} align-split prompts (cached in {path}) ...")
        model, tok = _load(base.path)
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            responses = generate_with(model, tok, [p.prompt for p in chunk], CHUNK, max_new_tokens(),
                                      f"base responses (alignment data, chunk {(len(rows) // CHUNK) + 1})")
            rows += [{"id": p.id, "label": p.label, "prompt": p.prompt, "response": r}
                     for p, r in zip(chunk, responses, strict=True)]
            write_jsonl(path, rows)
    return rows[:n]
