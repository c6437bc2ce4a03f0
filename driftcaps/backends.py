"""lm-eval model arguments for ``driftcaps eval``'s backends (``hf``, ``vllm``).

vLLM serves a PEFT adapter through ``lora_local_path`` and needs ``max_lora_rank`` to be one of
the ranks it pre-allocates (:data:`VLLM_LORA_RANKS`; vLLM's ``LoRAConfig`` refuses any other
value) and at least the largest rank in the adapter, ``rank_pattern`` included. lm-eval's
default of 16 breaks rank-32 and rank-64 adapters, so the rank is chosen here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftcaps.adapters import vllm_problems
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values of ``max_lora_rank`` that vLLM accepts (its ``LoRAConfig``, vLLM 0.6-0.33)."""

VLLM_ONLY = ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "max_model_len")
"""``driftcaps eval`` options that only the ``vllm`` backend takes."""


def adapter_max_rank(folder: str | Path) -> int:
    """The largest LoRA rank in a PEFT adapter: ``r`` and every value of ``rank_pattern``.

    Raises:
        DriftCapsError: ``adapter_config.json`` is missing or has no integer ``r``.
    """
    cfg = read_json(Path(folder) / "adapter_config.json", "adapter config")
    ranks = [cfg.get("r"), *(cfg.get("rank_pattern") or {}).values()]
    if not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ranks):
        raise DriftCapsError(f"{folder}/adapter_config.json: r and rank_pattern must hold positive integers "
                             f"(found {ranks}); save the adapter with PEFT.")
    return max(ranks)


def vllm_max_lora_rank(rank: int) -> int:
    """The smallest value of :data:`VLLM_LORA_RANKS` that is at least ``rank``.

    Raises:
        DriftCapsError: ``rank`` is above 512, the largest rank vLLM serves.
    """
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise DriftCapsError(f"LoRA rank {rank} is above {VLLM_LORA_RANKS[-1]}, the largest rank vLLM serves; "
                         "evaluate with --backend hf.")


def model_args(backend: str, model_path: str, dtype: str, adapter: str | None = None,
               vllm: dict[str, Any] | None = None) -> dict[str, Any]:
    """lm-eval's ``model_args`` for one evaluation.

    Args:
        backend: ``hf`` or ``vllm``.
        model_path: the base model (folder or Hub id); dtype: ``bfloat16``, ``float16``, ``float32``, ``auto``.
        adapter: a PEFT adapter folder, or None.
        vllm: the vLLM-only options of :data:`VLLM_ONLY` (None values are left out: lm-eval's
            defaults apply).

    Returns:
        ``hf``: ``pretrained``, ``dtype`` and ``peft``. ``vllm``: ``pretrained``, ``dtype``,
        the given options and, with an adapter, ``enable_lora``, ``lora_local_path`` and
        ``max_lora_rank`` (:func:`vllm_max_lora_rank` of :func:`adapter_max_rank`).

    Raises:
        DriftCapsError: vLLM options with the ``hf`` backend, or an adapter vLLM cannot serve
            (DoRA, ``modules_to_save``, bias, a rank above 512; :func:`driftcaps.adapters.vllm_problems`).
    """
    given = {k: v for k, v in (vllm or {}).items() if v is not None}
    args: dict[str, Any] = {"pretrained": model_path, "dtype": dtype}
    if backend == "hf":
        if given:
            raise DriftCapsError(f"--{next(iter(given)).replace('_', '-')} is a vLLM option; add --backend vllm or drop it.")
        if adapter:
            args["peft"] = str(Path(adapter).resolve())
        return args
    args.update(given)
    if adapter:
        rank = vllm_max_lora_rank(adapter_max_rank(adapter))
        problems = vllm_problems(adapter, max_lora_rank=rank)
        if problems:
            raise DriftCapsError(f"--adapter {adapter}: vLLM cannot serve it ({'; '.join(problems)}); "
                                 "evaluate with --backend hf.")
        args.update(enable_lora=True, lora_local_path=str(Path(adapter).resolve()), max_lora_rank=rank)
    return args
