"""The leaderboard store on SQLite and on a real PostgreSQL server: transactions, deduplication,
Alembic migrations from an old database, eight concurrent submitters, a submitter killed in the
middle of its transaction, unreachable URLs. Entries are built by hand (no model, no data)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from driftcaps.errors import DriftCapsError
from driftcaps.judges.apply import JudgedResponse
from driftcaps.judges.base import JudgeInfo
from driftcaps.schema import MetricCI
from leaderboard.schema import Entry, TaskQuality, entry_key
from leaderboard.store import HEAD, PAUSE_ENV, Board

JUDGES = [JudgeInfo(kind="refusal", name="trained", version="1.0"), JudgeInfo(kind="harm", name="trained", version="1.0")]


def make_entry(i: int, bal: float = 0.5, adapter: bool = True) -> tuple[Entry, list[JudgedResponse]]:
    """A hand-made entry ``i`` with two judged responses."""
    m = MetricCI(value=bal, ci_low=bal - 0.05, ci_high=bal + 0.05, n=2)
    gen = {"backend": "hf", "dtype": "bfloat16", "limit": None, "gen_kwargs": {"driftcaps_mini": {"max_gen_toks": 64}}}
    e = Entry(key="", name=f"e{i}", kind="adapter" if adapter else "base", base_model="m", base_sha256="b" * 64,
              adapter_sha256=f"{i:064x}" if adapter else None, manifest_sha256="f" * 64, tasks=["driftcaps_mini"],
              n_prompts=2, judges=JUDGES, generation=gen, apply_chat_template=True, chat_template_sha256="c" * 64,
              lm_eval_version="0.4.13", driftcaps_version="0.1.0", metrics={"balanced_safety": m}, by_category={},
              task_quality=TaskQuality(task="t", heldout_accuracy=0.25), provenance={}, report_sha256="r" * 64,
              submitted_at="2026-11-30T00:00:00+00:00")
    e.key = entry_key(e.base_sha256, e.adapter_sha256, e.eval_signature())
    recs = [JudgedResponse(id=f"p{k}", label="unsafe", category="violence", subset="core", source="s", prompt="q",
                           response="r", refusal_class="full_refusal", refusal=True, refusal_score=0.9,
                           harmful=False, harm_score=0.1) for k in range(2)]
    return e, recs


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "board.sqlite")
    return request.getfixturevalue("postgres_server")()


def test_store_round_trip_dedupe_and_fits(db: str):
    board = Board(db)
    assert board.revision() == HEAD
    result = board.add([make_entry(1, 0.6), make_entry(2, 0.4)])
    assert result.stored == [1, 2] and result.recognised == []
    again = board.add([make_entry(2, 0.4), make_entry(3, 0.5)])
    assert again.recognised == [2] and again.stored == [3] and again.names[2] == "e2"
    entries = board.entries()
    assert [e.name for e in entries] == ["e1", "e2", "e3"] and [e.id for e in entries] == [1, 2, 3]
    assert entries[0] == make_entry(1, 0.6)[0].model_copy(update={"id": 1})
    assert [r.id for r in board.responses(2)] == ["p0", "p1"] and board.responses(2)[0].refusal_score == 0.9
    board.close()


def test_a_failing_submission_stores_nothing(db: str):
    board = Board(db)
    good, _ = make_entry(1)
    bad = make_entry(2)
    bad[1].append(bad[1][0])  # the same prompt id twice: the primary key fails inside the transaction
    with pytest.raises(sa.exc.IntegrityError):
        board.add([(good, make_entry(1)[1]), bad])
    assert board.entries() == []


def test_an_old_database_is_upgraded_by_alembic(tmp_path: Path):
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__import__("leaderboard").__file__).with_name("migrations")))
    entry, _ = make_entry(7, 0.7)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO entries (key, name, kind, base_sha256, adapter_sha256, method, "
                             "manifest_sha256, balanced_safety, record, submitted_at) VALUES "
                             "(:k, 'e7', 'adapter', :b, :a, NULL, :m, 0.7, :r, 'then')"),
                     {"k": entry.key, "b": entry.base_sha256, "a": entry.adapter_sha256, "m": entry.manifest_sha256,
                      "r": entry.model_dump_json(exclude={"id"})})
    with engine.connect() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("entries")}
        assert "task_accuracy" not in cols and not sa.inspect(conn).has_table("scaling_fits")
    engine.dispose()
    board = Board(str(path))
    assert board.revision() == HEAD
    assert [e.name for e in board.entries()] == ["e7"]
    with board.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT task_accuracy FROM entries")).scalar() == 0.25  # filled by 0002
        assert sa.inspect(conn).has_table("scaling_fits")
    assert board.add([make_entry(7, 0.7)]).recognised == [1]


def test_a_database_from_a_newer_driftcaps_is_refused(tmp_path: Path):
    path = tmp_path / "new.sqlite"
    Board(str(path)).close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(DriftCapsError, match="schema revision 0099 is newer than this DriftCaps"):
        Board(str(path))


@pytest.mark.parametrize("url,message", [
    ("postgresql+psycopg://u:secret@127.0.0.1:9/board", "cannot open the database"),
    ("mysql://u@localhost/board", "cannot use this URL"),
    ("not a url://", "not a database URL"),
])
def test_unreachable_or_bad_urls_give_one_line(url: str, message: str):
    with pytest.raises(DriftCapsError, match=message) as err:
        Board(url)
    assert "\n" not in str(err.value) and "secret" not in str(err.value)


def test_a_folder_is_not_a_database(tmp_path: Path):
    with pytest.raises(DriftCapsError, match="is a folder"):
        Board(str(tmp_path))


def _submitter(db: str, worker: int, n: int) -> None:
    board = Board(db)
    for k in range(n):
        board.add([make_entry(1000 + worker * n + k, 0.5)])
        board.add([make_entry(1, 0.5)])  # every worker also submits the same entry: stored once
    board.close()


def test_eight_processes_submitting_at_once_lose_nothing(db: str):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_submitter, args=(db, w, 5)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    board = Board(db)
    names = sorted(e.name for e in board.entries())
    assert len(names) == 41 and names.count("e1") == 1
    assert all(len(board.responses(e.id)) == 2 for e in board.entries())


def test_a_submitter_killed_mid_transaction_leaves_the_board_as_it_was(db: str, tmp_path: Path):
    Board(db).add([make_entry(1)])
    marker = tmp_path / "paused"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "from test_leaderboard_store import make_entry; from leaderboard.store import Board; "
            f"Board({db!r}).add([make_entry(2), make_entry(3)])")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, PAUSE_ENV: str(marker)})
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the submitter never reached its commit"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    board = Board(db)
    assert [e.name for e in board.entries()] == ["e1"]
    assert len(board.add([make_entry(2)]).stored) == 1  # the lock was released with the killed process
    assert [e.name for e in board.entries()] == ["e1", "e2"]
