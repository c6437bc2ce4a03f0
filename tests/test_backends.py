"""lm-eval model arguments per backend: vLLM's max_lora_rank from the adapter's ranks
(rank_pattern included), vLLM-only options, adapters vLLM cannot serve. No GPU, no vLLM needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from driftcaps.backends import VLLM_LORA_RANKS, adapter_max_rank, model_args, vllm_max_lora_rank
from driftcaps.errors import DriftCapsError


def make_adapter(folder: Path, r: int = 16, **cfg) -> Path:
    """A minimal PEFT LoRA adapter folder (config + safetensors with PEFT's tensor names)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": r, "lora_alpha": 2 * r, "target_modules": ["q_proj"], "bias": "none", **cfg}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(r, 8),
               "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": torch.zeros(8, r)},
              str(folder / "adapter_model.safetensors"))
    return folder


@pytest.mark.parametrize("rank,expected", [(1, 1), (4, 8), (8, 8), (16, 16), (24, 32), (33, 64), (64, 64),
                                           (300, 320), (512, 512)])
def test_vllm_max_lora_rank_is_the_smallest_accepted_value_covering_the_rank(rank: int, expected: int):
    assert vllm_max_lora_rank(rank) == expected and expected in VLLM_LORA_RANKS


def test_ranks_above_512_are_refused():
    with pytest.raises(DriftCapsError, match="LoRA rank 513 is above 512"):
        vllm_max_lora_rank(513)


@pytest.mark.parametrize("r,pattern,expected", [(4, {}, 8), (16, {}, 16), (24, {}, 32), (32, {}, 32), (64, {}, 64),
                                                (16, {"q_proj": 64}, 64), (64, {"v_proj": 8}, 64)])
def test_vllm_args_for_adapters_of_several_ranks(tmp_path: Path, r: int, pattern: dict, expected: int):
    ad = make_adapter(tmp_path / "ad", r=r, rank_pattern=pattern)
    assert adapter_max_rank(ad) == max([r, *pattern.values()])
    args = model_args("vllm", "/models/base", "bfloat16", str(ad),
                      {"tensor_parallel_size": 2, "data_parallel_size": None, "gpu_memory_utilization": 0.8,
                       "max_model_len": 4096})
    assert args == {"pretrained": "/models/base", "dtype": "bfloat16", "tensor_parallel_size": 2,
                    "gpu_memory_utilization": 0.8, "max_model_len": 4096, "enable_lora": True,
                    "lora_local_path": str(ad.resolve()), "max_lora_rank": expected}


def test_hf_args_and_vllm_options_refused_there(tmp_path: Path):
    ad = make_adapter(tmp_path / "ad")
    assert model_args("hf", "m", "float32", str(ad)) == {"pretrained": "m", "dtype": "float32", "peft": str(ad.resolve())}
    assert model_args("vllm", "m", "auto") == {"pretrained": "m", "dtype": "auto"}
    with pytest.raises(DriftCapsError, match="--tensor-parallel-size is a vLLM option; add --backend vllm"):
        model_args("hf", "m", "float32", None, {"tensor_parallel_size": 2})


@pytest.mark.parametrize("cfg,message", [({"use_dora": True}, "DoRA adapters are not supported"),
                                         ({"modules_to_save": ["lm_head"]}, "modules_to_save is not supported"),
                                         ({"bias": "all"}, "needs bias support")])
def test_adapters_vllm_cannot_serve_are_refused_before_loading(tmp_path: Path, cfg: dict, message: str):
    ad = make_adapter(tmp_path / "ad", **cfg)
    with pytest.raises(DriftCapsError, match=f"vLLM cannot serve it .*{message}"):
        model_args("vllm", "m", "bfloat16", str(ad))


def test_eval_without_vllm_installed_says_how_to_get_it(tmp_path: Path, monkeypatch):
    import importlib.util

    from driftcaps.evaluate import EvalSettings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(DriftCapsError, match=r"vllm is not installed; pip install 'driftcaps\[vllm\]'"):
        EvalSettings(model="m", output=tmp_path / "o", backend="vllm").check_machine()
