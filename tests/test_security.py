"""Untrusted files (issue 13, part 5): nothing is unpickled, no model code runs, YAML is read
with safe loaders, submissions stay inside their folder and under the size limits.

Each test plants a file that would leave a marker if it were executed or unpickled and checks
that the marker never appears. The submission checks of the leaderboard (symlinks out of the
folder, ``../`` in recorded file names, ``.bin``/``.pkl`` files, files over 64 MiB) are in
``tests/test_leaderboard.py``; here the file-count limit and a real 65 MiB file.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli_capture
from tests.test_integration import assert_one_line_error

REPO = Path(__file__).resolve().parents[1]


class _Plant:
    """Unpickling this creates ``path`` (what a malicious pickle would do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _model_folder(root: Path, tiny_model_dir: Path) -> Path:
    folder = root / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_a_model_whose_weights_are_only_a_pickle_is_refused_unread(tiny_model_dir: Path, tmp_path: Path, capsys):
    folder = _model_folder(tmp_path, tiny_model_dir)
    for p in folder.glob("*.safetensors"):
        p.unlink()
    marker = tmp_path / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Plant(marker)))
    code, _, err = run_cli_capture(["eval", "--model", str(folder), "--output", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "pytorch_model.bin: weights only as a pickle, which DriftCaps never loads")
    code, _, err = run_cli_capture(["agl", "train", "--base", str(folder), "--task-data", "mmlu-explain",
                                    "--output", str(tmp_path / "adapter")], capsys)
    assert_one_line_error(code, err, "weights only as a pickle")
    assert not marker.exists() and not (tmp_path / "out").exists() and not (tmp_path / "adapter").exists()


@pytest.mark.parametrize("config_file", ["config.json", "tokenizer_config.json"])
def test_a_model_asking_to_run_its_own_code_is_refused_and_the_code_never_runs(tiny_model_dir: Path, tmp_path: Path,
                                                                              capsys, config_file: str):
    folder = _model_folder(tmp_path, tiny_model_dir)
    marker = tmp_path / "remote-code-ran"
    (folder / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    cfg = json.loads((folder / config_file).read_text())
    cfg["auto_map"] = {"AutoConfig": "evil.Config", "AutoModelForCausalLM": "evil.Model", "AutoTokenizer": ["evil.Tok", None]}
    (folder / config_file).write_text(json.dumps(cfg))
    code, _, err = run_cli_capture(["eval", "--model", str(folder), "--output", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, f"{config_file}: auto_map asks to run the model's own Python code")
    assert "never passes trust_remote_code" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_adapters_are_read_only_as_safetensors(chain: Path, tiny_model_dir: Path, tmp_path: Path, capsys):
    adapter = tmp_path / "adapter"
    shutil.copytree(chain / "adapter", adapter)
    (adapter / "adapter_model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_Plant(marker)))
    code, _, err = run_cli_capture(["eval", "--model", str(tiny_model_dir), "--adapter", str(adapter), "--output",
                                    str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "adapter_model.safetensors")
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [
    ["scaling", "sweep", "--output", "OUT", "--config", "CONFIG"],
    ["agl", "train", "--config", "CONFIG", "--output", "OUT"],
])
def test_yaml_configs_never_construct_python_objects(tmp_path: Path, capsys, command: list[str]):
    marker = tmp_path / "yaml-ran"
    config = tmp_path / "config.yaml"
    config.write_text(f"base: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
                      f"['{marker}']]\n")
    args = [str(config) if a == "CONFIG" else str(tmp_path / "out") if a == "OUT" else a for a in command]
    code, _, err = run_cli_capture(args, capsys)
    assert_one_line_error(code, err, f"{config}: not valid YAML")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_the_task_yaml_loader_is_a_safe_loader():
    from driftcaps.tasks import _TaskLoader

    assert issubclass(_TaskLoader, yaml.SafeLoader)
    assert yaml.load("f: !function utils.load", Loader=_TaskLoader) == {"f": "utils.load"}  # noqa: S506
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("x: !!python/object/apply:os.getcwd []", Loader=_TaskLoader)  # noqa: S506


UNSAFE_CALLS = {
    r"\bpickle\.loads?\(": "unpickling",
    r"\btorch\.load\(": "torch.load unpickles",
    r"\bjoblib\.load\(": "joblib unpickles",
    r"\bnp\.load\([^)]*allow_pickle\s*=\s*True": "numpy pickles",
    r"trust_remote_code\s*=\s*True": "running a model's own code",
    r"\byaml\.(unsafe_load|full_load)\(|\byaml\.load\((?!.*Loader=_TaskLoader)": "a YAML loader that builds objects",
    r"\bSqliteDict\(": "sqlitedict pickles its values",
}


def test_no_code_path_unpickles_runs_model_code_or_loads_unsafe_yaml():
    """The package sources never call a loader that can run code (the behavioural tests above
    cover the paths users reach; this catches a new call anywhere)."""
    found = []
    for root in ("driftcaps", "agl", "leaderboard", "tasks"):
        for path in (REPO / root).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern, why in UNSAFE_CALLS.items():
                for m in re.finditer(pattern, text):
                    line = text.count("\n", 0, m.start()) + 1
                    found.append(f"{path.relative_to(REPO)}:{line}: {why}")
    assert found == []


def test_a_submission_over_the_file_count_or_size_limit_is_refused(chain: Path, tmp_path: Path):
    from leaderboard import verify

    many = tmp_path / "many"
    shutil.copytree(chain / "lora", many)
    for i in range(verify.MAX_FILES + 1):
        (many / f"note-{i}.txt").write_text("x")
    with pytest.raises(verify.Rejected, match=f"more than {verify.MAX_FILES} files"):
        verify.verify_submission(many)

    big = tmp_path / "big"
    shutil.copytree(chain / "lora", big)
    with open(big / "padding.txt", "wb") as f:  # a sparse 65 MiB file: nothing of it is read
        f.truncate(verify.MAX_FILE_BYTES + (1 << 20))
    with pytest.raises(verify.Rejected, match="65 MiB, over the 64 MiB limit"):
        verify.verify_submission(big)
