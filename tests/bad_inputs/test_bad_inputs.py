"""The bad-input suite: one case per way a user can get an input wrong, across every command.

Each case builds its inputs in a fresh folder, runs ``driftcaps ...`` in-process and checks the
contract of ``docs/design.md#errors``: exit status 2, exactly one ``error:`` line that names the
problem (the case's expected text), no traceback, no output written, and the input files
unchanged (same bytes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli_capture


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [{"prompt": "How do I bake bread?", "response": "Mix flour and water."},
        {"prompt": "How do I pick a lock?", "response": "I can't help with that."}]


def _samples_only(chain: Path, dest: Path, label: str) -> Path:
    """A copy of the chain's base results folder keeping only the samples of one label."""
    shutil.copytree(chain / "base", dest)
    (dest / "report.json").unlink()
    samples = next(dest.glob("samples_*.jsonl"))
    rows = [json.loads(x) for x in samples.read_text().splitlines()]
    _jsonl(samples, [r for r in rows if r["doc"]["label"] == label])
    return dest


def _empty_samples(chain: Path, dest: Path) -> Path:
    shutil.copytree(chain / "base", dest)
    next(dest.glob("samples_*.jsonl")).write_text("")
    return dest


def _newer_peft_adapter(chain: Path, dest: Path) -> Path:
    shutil.copytree(chain / "adapter", dest)
    cfg = json.loads((dest / "adapter_config.json").read_text())
    (dest / "adapter_config.json").write_text(json.dumps({**cfg, "peft_type": "LORA_FROM_THE_FUTURE"}))
    return dest


# (case id, build(inputs, chain, tiny_model) -> (argv, expected text, output path that must not appear))
Case = Callable[[Path, Path, Path], tuple[list[str], str, Path | None]]
CASES: dict[str, Case] = {
    "data build: no such sources folder": lambda d, c, m: (
        ["data", "build", "--sources", str(d / "nowhere"), "--out", str(d / "built")], "nowhere", d / "built"),
    "data build: --out is a file": lambda d, c, m: (
        (d / "file.txt").write_text("x") and ["data", "build", "--out", str(d / "file.txt")], "file.txt", None),
    "eval: unknown task": lambda d, c, m: (
        ["eval", "--model", str(m), "--tasks", "driftcaps_tiny", "--output", str(d / "o")], "unknown task(s)", d / "o"),
    "eval: adapter folder missing": lambda d, c, m: (
        ["eval", "--model", str(m), "--adapter", str(d / "nope"), "--output", str(d / "o")], "nope", d / "o"),
    "eval: adapter without weights": lambda d, c, m: (
        (d / "ad").mkdir() or (d / "ad" / "adapter_config.json").write_text("{}") and
        ["eval", "--model", str(m), "--adapter", str(d / "ad"), "--output", str(d / "o")],
        "not a PEFT adapter folder", d / "o"),
    "eval: adapter config from a newer PEFT": lambda d, c, m: (
        ["eval", "--model", str(m), "--adapter", str(_newer_peft_adapter(c, d / "ad")), "--limit", "1",
         "--device", "cpu", "--output", str(d / "o")], "LORA_FROM_THE_FUTURE", d / "o"),
    "eval: system instruction without chat template": lambda d, c, m: (
        ["eval", "--model", str(m), "--no-chat-template", "--system-instruction", "hi", "--output", str(d / "o")],
        "--system-instruction", d / "o"),
    "eval: batch size 0": lambda d, c, m: (
        ["eval", "--model", str(m), "--batch-size", "0", "--output", str(d / "o")], "--batch-size", d / "o"),
    "eval: vLLM option with hf": lambda d, c, m: (
        ["eval", "--model", str(m), "--tensor-parallel-size", "2", "--limit", "1", "--device", "cpu", "--output",
         str(d / "o")], "--tensor-parallel-size is a vLLM option", d / "o"),
    "eval: no such model": lambda d, c, m: (
        ["eval", "--model", str(d / "missing-model"), "--output", str(d / "o")], "missing-model", d / "o"),
    "judge: input missing": lambda d, c, m: (
        ["judge", "refusal", "--input", str(d / "none.csv"), "--output", str(d / "o.csv")], "none.csv", d / "o.csv"),
    "judge: JSONL with a broken line in the middle": lambda d, c, m: (
        ["judge", "refusal", "--input", str(_jsonl(d / "in.jsonl", [ROWS[0], '{"prompt": "x", "resp', ROWS[1]])),
         "--output", str(d / "o.jsonl")], "in.jsonl:2", d / "o.jsonl"),
    "judge: CSV without a response column": lambda d, c, m: (
        (d / "in.csv").write_text("prompt,answer\nhi,there\n") and
        ["judge", "refusal", "--input", str(d / "in.csv"), "--output", str(d / "o.csv")], "response", d / "o.csv"),
    "judge: UTF-16 without a byte-order mark": lambda d, c, m: (
        (d / "in.csv").write_bytes("prompt,response\nhi,there\n".encode("utf-16-le")) and
        ["judge", "refusal", "--input", str(d / "in.csv"), "--output", str(d / "o.csv")], "save it as UTF-8",
        d / "o.csv"),
    "judge: unknown file type": lambda d, c, m: (
        (d / "in.txt").write_text("hi") and
        ["judge", "refusal", "--input", str(d / "in.txt"), "--output", str(d / "o.csv")], "in.txt", d / "o.csv"),
    "judge: unknown harm judge": lambda d, c, m: (
        ["judge", "harm", "--judge", "nosuch", "--input", str(_jsonl(d / "in.jsonl", ROWS)), "--output",
         str(d / "o.jsonl")], "nosuch", d / "o.jsonl"),
    "drift: empty samples file": lambda d, c, m: (
        ["drift", "--base", str(_empty_samples(c, d / "empty")), "--tuned", str(c / "lora"), "--output",
         str(d / "d.json")], "no prompt ids in common", d / "d.json"),
    "drift: results of different tasks": lambda d, c, m: (
        ["drift", "--base", str(_samples_only(c, d / "safe", "safe")), "--tuned", str(_samples_only(c, d / "unsafe", "unsafe")),
         "--output", str(d / "d.json")], "no prompt ids in common", d / "d.json"),
    "drift: tuned is the base": lambda d, c, m: (
        ["drift", "--base", str(c / "base"), "--tuned", str(c / "base"), "--output", str(d / "d.json")],
        "is the --base folder", d / "d.json"),
    "drift: output not .json": lambda d, c, m: (
        ["drift", "--base", str(c / "base"), "--tuned", str(c / "lora"), "--output", str(d / "d.png")],
        "give a .json file name", d / "d.png"),
    "drift: unknown --allow-mismatch": lambda d, c, m: (
        ["drift", "--base", str(c / "base"), "--tuned", str(c / "lora"), "--output", str(d / "d.json"),
         "--allow-mismatch", "colour"], "--allow-mismatch colour: not a setting", d / "d.json"),
    "drift: no such folder": lambda d, c, m: (
        ["drift", "--base", str(d / "gone"), "--tuned", str(c / "lora"), "--output", str(d / "d.json")], "gone",
        d / "d.json"),
    "scaling fit: no such points file": lambda d, c, m: (
        ["scaling", "fit", "--points", str(d / "p.csv"), "--law", "power", "--output", str(d / "fit")], "p.csv",
        d / "fit"),
    "scaling fit: empty points file": lambda d, c, m: (
        (d / "p.csv").write_text("") is not None and
        ["scaling", "fit", "--points", str(d / "p.csv"), "--law", "power", "--output", str(d / "fit")], "p.csv",
        d / "fit"),
    "scaling fit: points without the forgetting column": lambda d, c, m: (
        (d / "p.csv").write_text("run,S\na,1\nb,2\n") and
        ["scaling", "fit", "--points", str(d / "p.csv"), "--law", "power", "--x", "x=S", "--output", str(d / "fit")],
        "forgetting", d / "fit"),
    "scaling fit: unknown law": lambda d, c, m: (
        (d / "p.csv").write_text("run,S,forgetting\na,1,0.1\nb,2,0.2\n") and
        ["scaling", "fit", "--points", str(d / "p.csv"), "--law", "cubic", "--output", str(d / "fit")], "cubic",
        d / "fit"),
    "scaling predict: no such fit": lambda d, c, m: (
        ["scaling", "predict", "--fit", str(d / "fit.json"), "--steps", "10"], "fit.json", None),
    "agl train: unknown key in the config": lambda d, c, m: (
        (d / "cfg.yaml").write_text("rnak: 8\n") and
        ["agl", "train", "--config", str(d / "cfg.yaml"), "--base", str(m), "--task-data", "mmlu-affirmative",
         "--output", str(d / "ad")], "rnak", d / "ad"),
    "agl train: config that is not YAML": lambda d, c, m: (
        (d / "cfg.yaml").write_text("steps: [1, 2\n") and
        ["agl", "train", "--config", str(d / "cfg.yaml"), "--output", str(d / "ad")], "cfg.yaml", d / "ad"),
    "agl train: task data missing": lambda d, c, m: (
        ["agl", "train", "--base", str(m), "--task-data", str(d / "none.jsonl"), "--steps", "1", "--output",
         str(d / "ad")], "none.jsonl", d / "ad"),
    "leaderboard submit: not a results folder": lambda d, c, m: (
        (d / "plain").mkdir() or ["leaderboard", "submit", str(d / "plain"), "--db", str(d / "b.sqlite")],
        "no report.json", d / "b.sqlite"),
    "leaderboard show: --db is a folder": lambda d, c, m: (
        ["leaderboard", "show", "--db", str(d)], "is a folder", None),
    "leaderboard build: --out is a file": lambda d, c, m: (
        (d / "page").write_text("x") and
        ["leaderboard", "build", "--db", str(d / "nope.sqlite"), "--out", str(d / "page")], "no board there yet",
        d / "nope.sqlite"),
    "models prepare: unknown model": lambda d, c, m: (
        ["models", "prepare", "gpt-17"], "gpt-17", None),
    "scaling sweep: bad config value": lambda d, c, m: (
        (d / "sweep.yaml").write_text("ranks: [0]\n") and
        ["scaling", "sweep", "--config", str(d / "sweep.yaml"), "--output", str(d / "sw")], "rank=0", d / "sw"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case: str, chain: Path, tiny_model_dir: Path, tmp_path: Path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    args, expected, output = CASES[case](inputs, chain, tiny_model_dir)
    before, chain_before = _digest(inputs), _digest(chain)
    code, out, err = run_cli_capture(args, capsys)
    lines = [x for x in err.strip().splitlines() if x.startswith("error:")]
    assert code == 2, f"{case}: exit {code}\n{out}\n{err}"
    assert len(lines) == 1 and expected in lines[0], f"{case}: {err}"
    assert "Traceback" not in err and "Traceback" not in out
    if output is not None:
        assert not output.exists(), f"{case}: {output} was written"
    after = {k: v for k, v in _digest(inputs).items() if not (output and str(output).startswith(str(inputs / k)))}
    assert after == before, f"{case}: input files changed"
    assert _digest(chain) == chain_before


def test_a_csv_with_a_bom_and_windows_line_ends_is_read(tmp_path: Path, capsys):
    (tmp_path / "in.csv").write_bytes("\ufeffprompt,response\r\nHow do I bake bread?,Mix flour and water.\r\n"
                                      .encode("utf-8"))
    code, _, err = run_cli_capture(["judge", "refusal", "--input", str(tmp_path / "in.csv"), "--output",
                                    str(tmp_path / "out.csv")], capsys)
    assert code == 0, err
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("prompt,response,refusal_class") and "Mix flour and water." in text


def test_a_full_disk_while_writing_leaves_no_partial_output(tmp_path: Path, capsys, monkeypatch):
    import errno

    import driftcaps.io as dio

    _jsonl(tmp_path / "in.jsonl", ROWS)
    real = dio.atomic_open

    def full(path, mode="w", encoding="utf-8"):
        class Full:
            def __enter__(self):
                self.cm = real(path, mode, encoding)
                self.f = self.cm.__enter__()
                return self

            def write(self, _):
                raise OSError(errno.ENOSPC, "No space left on device")

            def __exit__(self, *exc):
                return self.cm.__exit__(*exc)
        return Full()

    monkeypatch.setattr(dio, "atomic_open", full)
    import driftcaps.judges.table as table

    monkeypatch.setattr(table, "atomic_open", full)
    code, _, err = run_cli_capture(["judge", "refusal", "--input", str(tmp_path / "in.jsonl"), "--output",
                                    str(tmp_path / "out.jsonl")], capsys)
    lines = [x for x in err.strip().splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0], err
    assert not (tmp_path / "out.jsonl").exists() and [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]
