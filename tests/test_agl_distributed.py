"""Two CPU processes (torchrun, gloo, DDP) train the same adapter as one process with the same
global batch (LoRA dropout off: its random masks depend on the local batch). Tolerance: 1e-4
absolute on every LoRA weight (float32 all-reduce order)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # real models / torchrun: `make test-all`


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_two_processes_match_one(tiny_model_dir: Path, data_dir: Path, tmp_path: Path):
    from safetensors.torch import load_file

    # equal token counts per example, so per-process token means average to the global mean
    rows = [{"prompt": f"What is {i} plus {i}?", "response": f"Sure! The answer is {20 + i}."} for i in range(10, 26)]
    task = tmp_path / "task.jsonl"
    task.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["agl", "train", "--method", "agl", "--base", str(tiny_model_dir), "--task-data", str(task),
            "--steps", "3", "--rank", "4", "--batch-size", "4", "--max-length", "64", "--heldout", "2",
            "--lr", "0.01", "--dropout", "0", "--fisher-samples", "6", "--subspace-m", "2", "--align-heldout", "0",
            "--lambda-fisher", "10", "--lambda-collision", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DRIFTCAPS_DATA": str(data_dir)}
    one = subprocess.run([sys.executable, "-m", "driftcaps.cli", *args, "--output", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "driftcaps.cli", *args,
                          "--output", str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a = load_file(str(tmp_path / "one" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "two" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=0)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2
    assert not torch.allclose(a[next(k for k in a if "lora_B" in k)], torch.zeros(1))  # it trained
