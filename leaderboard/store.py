"""The board's storage: SQLAlchemy 2 over a SQLite file (default) or any SQLAlchemy URL, such as
PostgreSQL (``docs/leaderboard.md#storage``).

- Every write is one transaction: a submission's entries, their judged responses and its
  scaling fits are all stored or none is (a process killed midway leaves the board as it was).
- The schema is versioned with Alembic (``leaderboard/migrations``); opening a board upgrades
  it to the newest revision inside the same write lock, so concurrent openers never race.
- SQLite runs in WAL mode; each transaction takes the write lock at its start (``BEGIN
  IMMEDIATE``) and waits up to a minute for it, and a transaction that still finds the database
  busy is retried. PostgreSQL serialises the migrations with an advisory lock, and two
  submitters of the same entry meet at the unique key (the loser's entry is recognised).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from driftcaps.errors import DriftCapsError
from driftcaps.judges.apply import JudgedResponse
from driftcaps.paths import cache_home
from driftcaps.scaling.report import ScalingReport
from leaderboard.schema import Entry, SubmitResult

HEAD = "0002"
"""The newest schema revision (``leaderboard/migrations/versions``)."""

PAUSE_ENV = "DRIFTCAPS_LEADERBOARD_PAUSE_BEFORE_COMMIT"
"""Test hook: when set to a file path, a submission writes that file once its rows are written
and then waits 60 s before committing (the kill test of ``tests/test_leaderboard_store.py``)."""

_meta = sa.MetaData()
entries_t = sa.Table(
    "entries", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("base_sha256", sa.String(64), nullable=False),
    sa.Column("adapter_sha256", sa.String(64)),
    sa.Column("method", sa.String(64)),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("balanced_safety", sa.Float),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.String(40), nullable=False),
    sa.Column("task_accuracy", sa.Float),
)
responses_t = sa.Table(
    "responses", _meta,
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("item_id", sa.String(200), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
)
fits_t = sa.Table(
    "scaling_fits", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("base_sha256", sa.String(64)),
    sa.Column("law", sa.String(64), nullable=False),
    sa.Column("y", sa.String(64), nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("points", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.String(40), nullable=False),
)


def default_db() -> str:
    """The default board: ``$DRIFTCAPS_HOME/leaderboard.sqlite`` (see :mod:`driftcaps.paths`)."""
    return str(cache_home() / "leaderboard.sqlite")


def db_url(db: str | os.PathLike | None, create: bool = True) -> sa.URL:
    """``--db`` as a SQLAlchemy URL: a URL (``postgresql+psycopg://...``, ``sqlite:///...``) as
    given, a plain path as a SQLite file (its folder is created).

    Raises:
        DriftCapsError: not a valid URL.
    """
    if db is not None and not str(db).strip():
        raise DriftCapsError("--db is empty; give a SQLite file path or a database URL (or leave --db out for the default).")
    db = str(db or default_db())
    if "://" not in db:
        path = Path(db).expanduser().resolve()
        if path.is_dir():
            raise DriftCapsError(f"--db {db}: is a folder; give a database file (e.g. {path / 'board.sqlite'}) or a URL.")
        if not create and not path.is_file():
            raise DriftCapsError(f"--db {db}: no board there yet; submit to it first (`driftcaps leaderboard submit DIR --db {db}`).")
        path.parent.mkdir(parents=True, exist_ok=True)
        return sa.URL.create("sqlite", database=str(path))
    try:
        return sa.make_url(db)
    except sa_exc.ArgumentError:
        raise DriftCapsError(f"--db {db}: not a database URL; give a file path or a SQLAlchemy URL "
                             "such as postgresql+psycopg://user@host/db.") from None


def _sqlite_setup(engine: sa.Engine) -> None:
    """WAL, a one-minute busy wait, foreign keys, and ``BEGIN IMMEDIATE`` for every transaction
    (pysqlite's own lazy BEGIN is switched off; SQLAlchemy's documented recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _busy(e: sa_exc.OperationalError) -> bool:
    text = str(e.orig).lower()
    return "locked" in text or "busy" in text


class Board:
    """A leaderboard database.

    Args:
        db: a SQLAlchemy URL, a SQLite file path, or None for :func:`default_db`.
        create: make a new SQLite board when the file does not exist (False for read-only use).

    Raises:
        DriftCapsError: the database cannot be reached or opened (one line, password hidden),
            or it was written by a newer DriftCaps (unknown schema revision).
    """

    RETRIES = 20

    def __init__(self, db: str | os.PathLike | None = None, create: bool = True) -> None:
        self.url = db_url(db, create)
        self.shown = self.url.render_as_string(hide_password=True)
        try:
            self.engine = sa.create_engine(self.url, **({"connect_args": {"timeout": 60}}
                                                        if self.url.get_backend_name() == "sqlite" else {}))
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as e:
            raise DriftCapsError(f"--db {self.shown}: cannot use this URL ({_first_line(e)}); "
                                 "install the database driver or give another URL.") from None
        if self.url.get_backend_name() == "sqlite":
            _sqlite_setup(self.engine)
        self._write(self._migrate)

    # -- transactions --------------------------------------------------------------------------
    def _write(self, fn):
        """Run ``fn(conn)`` in one transaction, retrying while SQLite reports the database busy."""
        for attempt in range(self.RETRIES):
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except sa_exc.OperationalError as e:
                if self.url.get_backend_name() == "sqlite" and _busy(e) and attempt < self.RETRIES - 1:
                    time.sleep(min(0.05 * 2 ** attempt, 2.0))
                    continue
                raise DriftCapsError(f"--db {self.shown}: cannot open the database ({_first_line(e)}); {self._advice()}") from None
            except sa_exc.IntegrityError:
                raise  # a constraint (e.g. a key stored meanwhile by another process): the caller decides
            except sa_exc.DatabaseError as e:
                raise DriftCapsError(f"--db {self.shown}: not a usable database ({_first_line(e)}); {self._advice()}") from None
        raise AssertionError("unreachable")

    def _read(self, fn):
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except sa_exc.DatabaseError as e:
            raise DriftCapsError(f"--db {self.shown}: cannot read the database ({_first_line(e)}); {self._advice()}") from None

    def _advice(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            return "give a writable path for a new board or an existing board file"
        return "check that the server runs and the URL, user and password are right"

    def _migrate(self, conn: sa.Connection) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274617)")  # one migrator at a time
        current = MigrationContext.configure(conn).get_current_revision()
        if current == HEAD:
            return
        if current is not None and current not in _revisions():
            raise DriftCapsError(f"--db {self.shown}: schema revision {current} is newer than this DriftCaps "
                                 f"knows ({HEAD}); upgrade driftcaps.")
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, HEAD)

    def revision(self) -> str | None:
        """The schema revision of the database (:data:`HEAD` once opened)."""
        from alembic.runtime.migration import MigrationContext

        return self._read(lambda conn: MigrationContext.configure(conn).get_current_revision())

    # -- writes --------------------------------------------------------------------------------
    def add(self, entries: list[tuple[Entry, list[JudgedResponse]]],
            fits: list[tuple[ScalingReport, str]] = ()) -> SubmitResult:
        """Store entries (with their judged responses) and scaling fits (report, points CSV) in
        one transaction. An entry whose ``key`` is on the board already is recognised and not
        stored again; so is a fit with the same points, law and y.

        Returns:
            :class:`SubmitResult` with the new and the recognised entry ids.
        """

        def tx(conn: sa.Connection) -> SubmitResult:
            result = SubmitResult()
            for entry, records in entries:
                found = conn.execute(sa.select(entries_t.c.id, entries_t.c.name, entries_t.c.record)
                                     .where(entries_t.c.key == entry.key)).first()
                if found is not None:
                    name = _enrich(conn, found, entry)
                    result.recognised.append(found.id)
                    result.names[found.id] = name
                    continue
                bs = entry.metrics.get("balanced_safety")
                row = dict(key=entry.key, name=entry.name, kind=entry.kind, base_sha256=entry.base_sha256,
                           adapter_sha256=entry.adapter_sha256, method=entry.method,
                           manifest_sha256=entry.manifest_sha256,
                           balanced_safety=bs.value if bs is not None else None,
                           record=entry.model_dump_json(exclude={"id"}), submitted_at=entry.submitted_at,
                           task_accuracy=entry.task_quality.heldout_accuracy if entry.task_quality else None)
                new_id = conn.execute(sa.insert(entries_t).values(**row).returning(entries_t.c.id)).scalar_one()
                if records:
                    conn.execute(sa.insert(responses_t), [
                        {"entry_id": new_id, "item_id": r.id, "record": r.model_dump_json()} for r in records])
                result.stored.append(new_id)
                result.names[new_id] = entry.name
            for report, points in fits:
                key = _fit_key(report)
                if conn.execute(sa.select(fits_t.c.id).where(fits_t.c.key == key)).scalar() is None:
                    conn.execute(sa.insert(fits_t).values(
                        key=key, base_sha256=_fit_base(points), law=report.law, y=report.y,
                        report=report.model_dump_json(), points=points, submitted_at=report.created_at))
                    result.fits += 1
            if pause := os.environ.get(PAUSE_ENV):
                Path(pause).write_text("rows written, not committed\n")
                time.sleep(60)
            return result

        try:
            return self._write(tx)
        except sa_exc.IntegrityError:  # another process stored the same key between our check and insert
            return self._write(tx)

    # -- reads ---------------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """Every entry, oldest first."""
        rows = self._read(lambda c: c.execute(sa.select(entries_t.c.id, entries_t.c.record)
                                              .order_by(entries_t.c.id)).all())
        return [Entry.model_validate_json(rec).model_copy(update={"id": i}) for i, rec in rows]

    def responses(self, entry_id: int) -> list[JudgedResponse]:
        """The judged responses of one entry, by prompt id."""
        rows = self._read(lambda c: c.execute(sa.select(responses_t.c.record).where(
            responses_t.c.entry_id == entry_id).order_by(responses_t.c.item_id)).scalars().all())
        return [JudgedResponse.model_validate_json(r) for r in rows]

    def fits(self) -> list[tuple[ScalingReport, str]]:
        """Every stored scaling fit as (report, points CSV), oldest first."""
        rows = self._read(lambda c: c.execute(sa.select(fits_t.c.report, fits_t.c.points)
                                              .order_by(fits_t.c.id)).all())
        return [(ScalingReport.model_validate_json(r), p) for r, p in rows]

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def _enrich(conn: sa.Connection, found, entry: Entry) -> str:
    """A resubmitted entry that brings what the stored one lacks (its training run: method,
    training-data hash, task quality, with its name) fills those fields in, so the board does not
    depend on the order of submissions. Returns the entry's name on the board."""
    stored = Entry.model_validate_json(found.record)
    if stored.method is not None or entry.method is None:
        return found.name
    update = {"method": entry.method, "training_data_sha256": entry.training_data_sha256,
              "task_quality": entry.task_quality, "name": entry.name}
    new = stored.model_copy(update=update)
    conn.execute(entries_t.update().where(entries_t.c.id == found.id).values(
        name=new.name, method=new.method, record=new.model_dump_json(exclude={"id"}),
        task_accuracy=new.task_quality.heldout_accuracy if new.task_quality else None))
    return new.name


def _revisions() -> set[str]:
    return {p.name.split("_", 1)[0] for p in Path(__file__).with_name("migrations").joinpath("versions").glob("*.py")}


def _fit_key(report: ScalingReport) -> str:
    import hashlib

    return hashlib.sha256(f"{report.points_sha256}|{report.law}|{report.formula}|{report.y}|{report.by}".encode()).hexdigest()


def _fit_base(points: str) -> str | None:
    """The ``base_model`` column of a points CSV when it holds one value."""
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(points))
    if "base_model" in df and df["base_model"].nunique() == 1:
        return str(df["base_model"].iloc[0])
    return None


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
