"""Model registry and resolution (docs/models.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftcaps.errors import DriftCapsError
from driftcaps.models import REGISTRY, lookup, resolve_model


def test_registry_names_and_aliases():
    assert set(REGISTRY) == {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"}
    assert lookup("SmolLM2-135M-Instruct").name == "smollm2-135m-instruct"
    assert lookup("qwen").name == "qwen2.5-coder-0.5b-instruct"
    assert lookup("gpt-5") is None
    assert all(len(d) == 64 for m in REGISTRY.values() for _, d in m.wheels)


def test_resolve_folder_hub_and_unknown(tmp_path: Path):
    (tmp_path / "m").mkdir()
    with pytest.raises(DriftCapsError, match="not a model folder"):
        resolve_model(str(tmp_path / "m"))
    (tmp_path / "m" / "config.json").write_text("{}")
    r = resolve_model(str(tmp_path / "m"))
    assert r.source == "folder" and r.path == str((tmp_path / "m").resolve())
    h = resolve_model("Qwen/Qwen2.5-0.5B-Instruct")
    assert h.source == "hub" and h.path == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(DriftCapsError, match="not in `driftcaps models list`"):
        resolve_model("no-such-model")


def test_prepared_smollm2(smollm2_dir: Path):
    info = json.loads((smollm2_dir / "driftcaps_model.json").read_text())
    assert info["gguf_sha256"] == REGISTRY["smollm2-135m-instruct"].gguf_sha256
    r = resolve_model("smollm2")
    assert r.source == "registry" and Path(r.path) == smollm2_dir
    assert r.weights_sha256 == info["weights_sha256"]["model.safetensors"]
    assert (smollm2_dir / "chat_template.jinja").is_file() or "chat_template" in (smollm2_dir / "tokenizer_config.json").read_text()
