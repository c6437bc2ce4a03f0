"""Interrupted runs (issue 13): the response cache, a killed evaluation resumed, stale staging
folders; a killed training run and sweep resumed from their last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from driftcaps.response_cache import ResponseCache, request_key
from tests.conftest import _run


class _Req:
    def __init__(self, context: str, gen_kwargs: dict) -> None:
        self.args = (context, gen_kwargs)


class _FakeLM:
    """Answers ``context`` with its upper case, reporting each answer through the cache hook as
    lm-eval's HFLM does; counts what it was asked to generate."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def set_cache_hook(self, hook) -> None:
        self.cache_hook = hook

    def generate_until(self, requests, disable_tqdm: bool = False):
        out = []
        for r in requests:
            self.asked.append(r.args[0])
            out.append(r.args[0].upper())
            self.cache_hook.add_partial("generate_until", r.args, out[-1])
        return out


GREEDY = {"until": ["</s>"], "max_gen_toks": 8, "do_sample": False}


def test_the_cache_answers_finished_requests_and_generates_only_the_rest(tmp_path: Path):
    path = tmp_path / "r.sqlite"
    lm = _FakeLM()
    cache = ResponseCache(path, {"model": "m1"})
    cache.attach(lm)
    assert lm.generate_until([_Req("a", GREEDY), _Req("b", GREEDY)]) == ["A", "B"]
    assert (cache.reused, cache.generated, len(cache)) == (0, 2, 2)

    lm2 = _FakeLM()
    again = ResponseCache(path, {"model": "m1"})
    again.attach(lm2)
    assert lm2.generate_until([_Req("b", GREEDY), _Req("c", GREEDY), _Req("a", GREEDY)]) == ["B", "C", "A"]
    assert lm2.asked == ["c"] and (again.reused, again.generated) == (2, 1)


def test_another_scope_or_other_settings_never_receive_an_answer(tmp_path: Path):
    """Unlike lm-eval's --use_cache (keyed by the request only), another adapter, template or
    generation setting misses."""
    path = tmp_path / "r.sqlite"
    lm = _FakeLM()
    ResponseCache(path, {"model": "m1", "adapter": None}).attach(lm)
    lm.generate_until([_Req("a", GREEDY)])
    other = _FakeLM()
    ResponseCache(path, {"model": "m1", "adapter": "x" * 64}).attach(other)
    other.generate_until([_Req("a", GREEDY)])
    longer = _FakeLM()
    ResponseCache(path, {"model": "m1", "adapter": None}).attach(longer)
    longer.generate_until([_Req("a", {**GREEDY, "max_gen_toks": 9})])
    assert other.asked == ["a"] and longer.asked == ["a"]
    assert request_key({"m": 1}, "a", GREEDY) != request_key({"m": 2}, "a", GREEDY)


def test_sampled_requests_are_never_cached(tmp_path: Path):
    sampled = {**GREEDY, "do_sample": True, "temperature": 0.7}
    for _ in range(2):
        lm = _FakeLM()
        cache = ResponseCache(tmp_path / "r.sqlite", {"model": "m1"})
        cache.attach(lm)
        assert lm.generate_until([_Req("a", sampled)]) == ["A"]
        assert lm.asked == ["a"]
    assert len(cache) == 0


def test_each_response_is_stored_as_json_the_moment_it_is_reported(tmp_path: Path):
    """A process killed between two responses keeps the first: each one is committed on its own,
    as JSON text (nothing is pickled)."""
    path = tmp_path / "r.sqlite"
    seen_during: list[int] = []

    class Spy(_FakeLM):
        def generate_until(self, requests, disable_tqdm=False):
            out = []
            for r in requests:
                out.append(r.args[0].upper())
                self.cache_hook.add_partial("generate_until", r.args, out[-1])
                with sqlite3.connect(path) as other:  # another connection sees the row already
                    seen_during.append(other.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
            return out

    lm = Spy()
    ResponseCache(path, {"model": "m1"}).attach(lm)
    lm.generate_until([_Req("x", GREEDY), _Req("y", GREEDY)])
    assert seen_during == [1, 2]
    with sqlite3.connect(path) as db:
        assert sorted(json.loads(v) for (v,) in db.execute("SELECT response FROM responses")) == ["X", "Y"]


def test_a_file_that_is_no_database_is_named(tmp_path: Path):
    from driftcaps.errors import DriftCapsError

    bad = tmp_path / "r.sqlite"
    bad.write_text("not a database\n" * 100)
    with pytest.raises(DriftCapsError, match=r"r\.sqlite: cannot use it as the response cache .*--response-cache off"):
        ResponseCache(bad, {"model": "m1"}).get_many(["k"])


def _responses(folder: Path) -> list[tuple[str, str]]:
    return [(r["id"], r["response"]) for r in map(json.loads, (folder / "judged.jsonl").read_text().splitlines())]


def test_an_eval_killed_halfway_resumes_without_redoing_finished_requests(tiny_model_dir: Path, data_dir: Path,
                                                                         chain: Path, tmp_path: Path, capsys):
    """SIGKILL after 4 of 8 responses; the rerun reuses those 4, generates 4, and (batch size 1:
    no padding) its responses are exactly an uninterrupted run's. Nothing of the killed run is
    read as finished; an adapter evaluated with the same cache file gets none of the base's."""
    cache = tmp_path / "responses.sqlite"
    common = ["--model", str(tiny_model_dir), "--limit", "8", "--dtype", "float32", "--device", "cpu",
              "--batch-size", "1", "--n-boot", "10"]
    _run(["eval", *common, "--output", str(tmp_path / "reference"), "--response-cache", "off"])

    env = {**os.environ, "DRIFTCAPS_DATA": str(data_dir), "DRIFTCAPS_TEST_KILL_AFTER_RESPONSES": "4"}
    killed = subprocess.run([sys.executable, "-m", "driftcaps.cli", "eval", *common, "--output", str(tmp_path / "run"),
                             "--response-cache", str(cache)], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "run").exists()  # the staged output was never renamed into place
    assert len(ResponseCache(cache, {})) == 4

    capsys.readouterr()
    _run(["eval", *common, "--output", str(tmp_path / "run"), "--response-cache", str(cache)])
    assert f"response cache {cache}: 4 responses reused, 4 generated." in capsys.readouterr().err
    assert _responses(tmp_path / "run") == _responses(tmp_path / "reference")
    assert not list(tmp_path.glob(".run.partial-*"))  # the killed run's staging folder was cleared

    _run(["eval", *common, "--adapter", str(chain / "adapter"), "--output", str(tmp_path / "lora"),
          "--response-cache", str(cache)])
    assert ": 0 responses reused, 8 generated." in capsys.readouterr().err
    assert len(ResponseCache(cache, {})) == 16


def _train_args(tiny_model_dir: Path, task_file: Path, out: Path, method: str = "lora") -> list[str]:
    return ["agl", "train", "--method", method, "--base", str(tiny_model_dir), "--task-data", str(task_file),
            "--steps", "5", "--save-steps", "2,4", "--rank", "4", "--batch-size", "2", "--heldout", "2",
            "--max-length", "64", "--lr", "0.05", "--dropout", "0.3", "--output", str(out)]


@pytest.mark.parametrize("method", ["lora", "agl"])
def test_a_training_run_killed_after_a_checkpoint_resumes_to_the_same_adapter(tiny_model_dir: Path, task_file: Path,
                                                                             data_dir: Path, tmp_path: Path,
                                                                             method: str):
    """SIGKILL after step 3 (last checkpoint: 2); the rerun continues from step 2's state (weights,
    AdamW moments, scheduler, random generators: dropout 0.3 draws from them) and ends with
    exactly the uninterrupted run's adapter, checkpoints and losses."""
    from safetensors.torch import load_file

    _run(_train_args(tiny_model_dir, task_file, tmp_path / "whole", method))
    env = {**os.environ, "DRIFTCAPS_DATA": str(data_dir), "DRIFTCAPS_TEST_KILL_AFTER_STEP": "3"}
    killed = subprocess.run([sys.executable, "-m", "driftcaps.cli", *_train_args(tiny_model_dir, task_file,
                             tmp_path / "run", method)], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "run").exists()
    resume = tmp_path / ".run.resume"
    assert sorted(p.name for p in resume.iterdir()) == ["checkpoint-2.safetensors", "state-2"]

    _run(_train_args(tiny_model_dir, task_file, tmp_path / "run", method))
    assert not resume.exists()
    for name in ("adapter_model.safetensors", "checkpoint-2/adapter_model.safetensors",
                 "checkpoint-4/adapter_model.safetensors"):
        a, b = load_file(tmp_path / "whole" / name), load_file(tmp_path / "run" / name)
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), name

    def losses(folder: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (folder / "training_log.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "run") == losses(tmp_path / "whole")


def test_a_state_of_another_config_is_not_resumed(tiny_model_dir: Path, task_file: Path, data_dir: Path,
                                                 tmp_path: Path, capsys):
    env = {**os.environ, "DRIFTCAPS_DATA": str(data_dir), "DRIFTCAPS_TEST_KILL_AFTER_STEP": "3"}
    killed = subprocess.run([sys.executable, "-m", "driftcaps.cli", *_train_args(tiny_model_dir, task_file,
                             tmp_path / "run")], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    capsys.readouterr()
    _run([*_train_args(tiny_model_dir, task_file, tmp_path / "run")[:-2], "--lr", "0.01", "--output",
          str(tmp_path / "run")])
    assert "resuming" not in capsys.readouterr().err
    _run([*_train_args(tiny_model_dir, task_file, tmp_path / "whole")[:-2], "--lr", "0.01", "--output",
          str(tmp_path / "whole")])
    assert (tmp_path / "run" / "adapter_model.safetensors").read_bytes() == \
        (tmp_path / "whole" / "adapter_model.safetensors").read_bytes()


def test_a_killed_sweep_resumes_to_the_points_of_an_uninterrupted_one(tiny_model_dir: Path, task_file: Path,
                                                                     data_dir: Path, tmp_path: Path, capsys):
    """A sweep killed inside its first training run (after step 3; checkpoint at 2) and started
    again with the same command resumes that run, trains the next, and ends with the same points."""
    import pandas as pd
    import yaml

    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "base": str(tiny_model_dir), "task_data": str(task_file), "methods": ["lora"], "ranks": [2, 4],
        "lrs": [0.05], "steps": 4, "save_steps": [2, 4], "drift_steps": [4], "limit": 4, "max_gen_toks": 8,
        "probe_prompts": 2, "probe_tokens": 4,
        "training": {"batch_size": 2, "max_length": 64, "heldout": 2, "align_heldout": 2, "dtype": "float32",
                     "eval_every": 0, "dropout": 0.3}}))
    args = ["scaling", "sweep", "--config", str(cfg), "--output"]
    _run([*args, str(tmp_path / "whole")])
    env = {**os.environ, "DRIFTCAPS_DATA": str(data_dir), "DRIFTCAPS_TEST_KILL_AFTER_STEP": "3"}
    killed = subprocess.run([sys.executable, "-m", "driftcaps.cli", *args, str(tmp_path / "sweep")], env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "sweep" / "runs" / ".lora-r2-lr0.05.resume" / "state-2").is_dir()
    capsys.readouterr()
    _run([*args, str(tmp_path / "sweep")])
    assert "lora-r2-lr0.05: resuming after step 2" in capsys.readouterr().err
    whole, resumed = (pd.read_csv(tmp_path / d / "points.csv") for d in ("whole", "sweep"))
    timing = [c for c in whole.columns if "second" in c]
    resumed["checkpoint"] = resumed["checkpoint"].str.replace(str(tmp_path / "sweep"), str(tmp_path / "whole"))
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), whole.drop(columns=timing))
    assert len(whole) == 4 and whole["AD"].notna().sum() == 2
