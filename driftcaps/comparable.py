"""Are two results folders comparable? The generation settings that can change a response, read
from what lm-eval itself recorded (its ``results_*.json``, present in ``driftcaps eval`` folders
and in plain ``lm_eval --output_path`` folders alike), and the comparison ``driftcaps drift``
makes before pairing a base run with a tuned run (``docs/metrics.md#comparable-runs``).

Fields (:data:`FIELDS`): chat template (sha256; None when none was applied), system instruction
(sha256), max new tokens, stop sequences, sampling (do_sample, temperature), dtype, batch size
(padding changes the numerics of a batch, so greedy text can differ), backend, and lm-eval's
response cache (``--use_cache``: its database keys only the request, so a second model can
receive the first one's answers; a cached run is never comparable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json
from driftcaps.responses import find_results

FIELDS = ("chat_template", "system_instruction", "max_gen_toks", "until", "do_sample", "temperature", "dtype",
          "batch_size", "backend", "use_cache")
"""The settings compared, in the order they are reported."""


def response_settings(folder: str | Path, backend: str | None = None) -> dict[str, Any]:
    """The settings of :data:`FIELDS` of one results folder, from lm-eval's newest results file.

    Args:
        folder: a results folder.
        backend: the backend when known otherwise (``driftcaps eval`` records it in its report; a
            plain lm-eval folder's is its ``--model``).

    Raises:
        DriftCapsError: the folder has no lm-eval results file.
    """
    path = find_results(folder)
    if path is None:
        raise DriftCapsError(f"{folder}: no lm-eval results file (results_*.json) to read the generation settings "
                             "from; pass a folder written by `driftcaps eval` or `lm_eval --output_path`.")
    res = read_json(path, "lm-eval results")
    cfg = res.get("config") or {}
    gen: dict[str, Any] = {}
    for task_cfg in (res.get("configs") or {}).values():
        gen.update(task_cfg.get("generation_kwargs") or {})
    model = cfg.get("model")
    return {
        "chat_template": res.get("chat_template_sha"), "system_instruction": res.get("system_instruction_sha"),
        "max_gen_toks": gen.get("max_gen_toks"), "until": gen.get("until"), "do_sample": gen.get("do_sample"),
        "temperature": gen.get("temperature"), "dtype": str(cfg.get("model_dtype") or "").removeprefix("torch.") or None,
        "batch_size": cfg.get("batch_size"),
        "backend": backend or (model if isinstance(model, str) and "/" not in model else None),
        "use_cache": cfg.get("use_cache"),
    }


def mismatches(base: dict[str, Any], tuned: dict[str, Any], allow: set[str] = frozenset()) -> list[str]:
    """The fields of :data:`FIELDS` that make two runs incomparable: those that differ, and
    ``use_cache`` whenever either run used lm-eval's response cache; ``allow`` lists fields the
    user accepts. Each item reads ``field tuned-value vs base-value``."""
    out = []
    for f in FIELDS:
        if f in allow:
            continue
        if f == "use_cache":
            if base.get(f) or tuned.get(f):
                out.append(f"use_cache {tuned.get(f)!r} vs {base.get(f)!r} (lm-eval's cache keys only the request: "
                           "one model can receive another's answers)")
        elif base.get(f) != tuned.get(f):
            out.append(f"{f} {_short(tuned.get(f))} vs {_short(base.get(f))}")
    return out


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, str) else v
    return text[:12] + "..." if isinstance(v, str) and len(v) == 64 else text[:40]
