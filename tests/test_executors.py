"""The grid executors: local (in order) and Ray (one task per job on a local Ray instance with two
CPU workers): results, the user's error unwrapped, and a sweep's training runs as Ray tasks that
a later local run reuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from driftcaps.errors import DriftCapsError
from driftcaps.executors import run_jobs


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def refuse(x: int) -> None:
    raise DriftCapsError(f"job {x}: bad input; fix it.")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'driftcaps[ray]'")
    # two CPU workers; the workers import this test module's functions from the tests folder
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
    yield ray
    ray.shutdown()


def test_local_executor_runs_in_order_here():
    seen = []
    out = run_jobs(square_with_pid, {"a": 2, "b": 3}, on_start=lambda name, i, n: seen.append((name, i, n)))
    assert out == {"a": (4, os.getpid()), "b": (9, os.getpid())} and seen == [("a", 1, 2), ("b", 2, 2)]
    with pytest.raises(DriftCapsError, match="--executor slurm: choose one of local, ray"):
        run_jobs(square_with_pid, {"a": 1}, executor="slurm")


def test_ray_executor_runs_jobs_as_tasks_in_worker_processes(ray_local):
    out = run_jobs(square_with_pid, {f"j{i}": i for i in range(4)}, executor="ray")
    assert {k: v[0] for k, v in out.items()} == {"j0": 0, "j1": 1, "j2": 4, "j3": 9}
    assert os.getpid() not in {pid for _, pid in out.values()}
    with pytest.raises(DriftCapsError, match=r"^job 1: bad input; fix it\.$"):
        run_jobs(refuse, {"x": 1}, executor="ray")


def test_sweep_training_runs_as_ray_tasks_then_reused_locally(ray_local, tiny_model_dir: Path, task_file: Path,
                                                               tmp_path: Path, monkeypatch):
    from agl.config import TrainConfig
    from driftcaps.models import resolve_model
    from driftcaps.sweep import _train_run

    monkeypatch.chdir(tmp_path)
    base = resolve_model(str(tiny_model_dir))
    jobs = {f"lora-r{r}": (TrainConfig(base=str(tiny_model_dir), task_data=str(task_file), output=f"runs/lora-r{r}",
                                       method="lora", rank=r, steps=2, batch_size=2, heldout=2, max_length=64,
                                       dtype="float32", save_steps=[1]), base, str(tmp_path))
            for r in (2, 4)}
    assert run_jobs(_train_run, jobs, executor="ray") == {"lora-r2": "runs/lora-r2", "lora-r4": "runs/lora-r4"}
    runs = {r: json.loads((tmp_path / f"runs/lora-r{r}/run.json").read_text()) for r in (2, 4)}
    assert [runs[r]["config"]["rank"] for r in (2, 4)] == [2, 4] and runs[2]["checkpoints"] == [1]
    before = {r: (tmp_path / f"runs/lora-r{r}/adapter_model.safetensors").read_bytes() for r in (2, 4)}
    run_jobs(_train_run, jobs, executor="local")  # resumable: finished runs are reused, not retrained
    assert {r: (tmp_path / f"runs/lora-r{r}/adapter_model.safetensors").read_bytes() for r in (2, 4)} == before
