"""Judge a table of responses: the file contract of ``driftcaps judge refusal|harm`` (``docs/judges.md#file-contract``).

Input: a ``.csv`` (with a header) or ``.jsonl`` (one JSON object per line) file with columns
``prompt`` and ``response``; other columns are kept, in their order. Output: the same rows in the
format named by the output's suffix (``.csv`` or ``.jsonl``; it may differ from the input's),
with these columns added at the end (or overwritten in place if the input already has them):

- ``kind="refusal"``: ``refusal_class`` (one of ``full_compliance``, ``full_refusal``,
  ``partial_refusal``), ``refusal`` (``true``/``false``), ``refusal_score`` (in [0, 1]);
- ``kind="harm"``: ``harmful`` (``true``/``false``), ``harm_score`` (in [0, 1]).

In JSON Lines the booleans are JSON ``true``/``false``; in CSV they are the words ``true`` and
``false``.

Lenient where it is safe to be:

- bytes that are not UTF-8 are replaced by U+FFFD and reading goes on (a warning is logged with
  the count); a response with a stray Latin-1 byte can still be judged, and rejecting the whole
  file for it would help no one. A UTF-8 byte-order mark is skipped.
- empty cells (CSV), ``null`` values (JSONL) and NaN are empty strings; CSV cells are read as text
  exactly as written (``NA`` stays ``NA``), so other columns round-trip unchanged.

Every other problem is a :class:`~driftcaps.errors.DriftCapsError` with a one-line message: a
missing input file, an unknown suffix, a missing ``prompt``/``response`` column (or key, for a
JSONL line), a malformed CSV or JSON line, an unknown judge. The output is written atomically
(:func:`driftcaps.io.atomic_open`): a failure leaves no output file (and an existing one
untouched).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from driftcaps.errors import DriftCapsError
from driftcaps.io import atomic_open, cell_text, parse_jsonl_lines
from driftcaps.judges import (
    DEFAULT_HARM_JUDGE,
    DEFAULT_REFUSAL_JUDGE,
    get_harm_judge,
    get_refusal_judge,
)
from driftcaps.judges.apply import run_judges
from driftcaps.judges.base import HarmJudge, RefusalJudge

__all__ = ["judge_file", "read_table", "REQUIRED_COLUMNS", "OUTPUT_COLUMNS", "SUFFIXES"]

log = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = ("prompt", "response")
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "refusal": ("refusal_class", "refusal", "refusal_score"),
    "harm": ("harmful", "harm_score"),
}
SUFFIXES: tuple[str, ...] = (".csv", ".jsonl")

Kind = Literal["refusal", "harm"]


def _format_of(path: Path, role: str) -> str:
    if path.is_dir():
        raise DriftCapsError(f"{path}: is a folder; give a .csv or .jsonl file as {role}.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise DriftCapsError(
            f"{path}: unknown {role} file type ({shown}); use a .csv or .jsonl file."
        )
    return suffix[1:]


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DriftCapsError(f"{path}: is a folder, not a .csv or .jsonl file.") from None
    except OSError as e:
        raise DriftCapsError(f"{path}: cannot read ({e.strerror or e}).") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark (Excel's "Unicode text")
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DriftCapsError(f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16; "
                                 "save it as UTF-8.") from None
    if raw.count(b"\x00") > len(raw) // 4:
        raise DriftCapsError(f"{path}: looks like UTF-16 or UTF-32 text without a byte-order mark; save it as UTF-8.")
    text = raw.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text:
        bad = text.count("\ufffd") - raw.decode("utf-8-sig", errors="ignore").count("\ufffd")
        if bad:
            log.warning("%s: %d undecodable byte sequence(s) replaced by U+FFFD", path, bad)
    return text


def _missing_column(path: Path, column: str, found: list[str], where: str = "") -> DriftCapsError:
    shown = ", ".join(repr(c) for c in found[:12]) or "none"
    if len(found) > 12:
        shown += ", ..."
    return DriftCapsError(
        f"{path}{where}: missing column {column!r}; the input needs columns 'prompt' and "
        f"'response' (found: {shown})."
    )


def _read_csv(path: Path, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    if not text.strip():
        raise DriftCapsError(
            f"{path}: empty file; expected a CSV header with 'prompt' and 'response'."
        )
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        msg = " ".join(str(e).split())
        raise DriftCapsError(f"{path}: not a valid CSV file ({msg}).") from None
    columns = [str(c) for c in df.columns]
    for col in REQUIRED_COLUMNS:
        if col not in columns:
            raise _missing_column(path, col, columns)
    df.columns = columns
    return columns, df.to_dict("records")


def _read_jsonl(path: Path, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for lineno, obj in parse_jsonl_lines(text.splitlines(), path):
        for col in REQUIRED_COLUMNS:
            if col not in obj:
                raise _missing_column(path, col, list(obj), where=f":{lineno}")
        columns.update(dict.fromkeys(obj))
        rows.append(obj)
    return list(columns), rows


def read_table(path: str | os.PathLike) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a ``.csv`` or ``.jsonl`` table of responses.

    Returns:
        The column names (in order; for JSONL the union over lines, in first-seen order) and the
        rows as dicts.

    Raises:
        DriftCapsError: missing file, unknown suffix, malformed content, missing required column.
    """
    path = Path(path)
    fmt = _format_of(path, "input")
    if not path.exists():
        raise DriftCapsError(f"{path}: input file not found.")
    text = _decode(path)
    return _read_csv(path, text) if fmt == "csv" else _read_jsonl(path, text)


def _jsonl_line(row: dict[str, Any]) -> str:
    """One output line (a module-level function so that tests can make a write fail)."""
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def _write(path: Path, fmt: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    try:
        with atomic_open(path, "w", encoding="utf-8") as f:
            if fmt == "jsonl":
                for row in rows:
                    f.write(_jsonl_line(row))
            else:
                df = pd.DataFrame(
                    [[cell_text(row.get(c)) for c in columns] for row in rows],
                    columns=columns,
                    dtype=object,
                )
                df.to_csv(f, index=False, lineterminator="\n")
    except IsADirectoryError:
        raise DriftCapsError(
            f"{path}: is a folder; give a .csv or .jsonl file as output."
        ) from None
    except OSError as e:
        raise DriftCapsError(f"{path}: cannot write the output ({e.strerror or e}).") from None


def judge_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    kind: Kind = "refusal",
    judge_name: str | None = None,
    *,
    judge: RefusalJudge | HarmJudge | None = None,
) -> int:
    """Judge every row of ``input_path`` and write ``output_path`` with the verdict columns.

    Args:
        input_path: a ``.csv`` or ``.jsonl`` file with columns ``prompt`` and ``response``.
        output_path: a ``.csv`` or ``.jsonl`` path (format by suffix), written atomically.
        kind: ``"refusal"`` or ``"harm"``.
        judge_name: a registered judge name (default :data:`~driftcaps.judges.DEFAULT_REFUSAL_JUDGE`
            or :data:`~driftcaps.judges.DEFAULT_HARM_JUDGE`); ignored when ``judge`` is given.
        judge: an already built judge of the right kind (for callers that hold one).

    A harm judge answers "does the response carry out the harmful request", so with
    ``kind="harm"`` rows whose optional ``label`` column says ``safe`` get empty ``harmful`` and
    ``harm_score`` cells (as ``driftcaps eval`` does for safe prompts); all other rows are
    treated as responses to harmful requests.

    Returns:
        The number of rows written.

    Raises:
        DriftCapsError: any input problem (see the module docstring) or an unknown judge/kind.
    """
    if kind not in OUTPUT_COLUMNS:
        raise DriftCapsError(f"unknown judge kind {kind!r}; choose 'refusal' or 'harm'.")
    in_path, out_path = Path(input_path), Path(output_path)
    out_fmt = _format_of(out_path, "output")
    if judge is None:
        if kind == "refusal":
            judge = get_refusal_judge(judge_name or DEFAULT_REFUSAL_JUDGE)
        else:
            judge = get_harm_judge(judge_name or DEFAULT_HARM_JUDGE)
    elif getattr(judge, "kind", kind) != kind:
        raise DriftCapsError(f"judge {judge.id} is a {judge.kind} judge, not a {kind} judge.")

    columns, rows = read_table(in_path)
    # a harm judge reads responses to harmful requests: rows labelled safe get no verdict
    unsafe = [kind == "refusal" or cell_text(r.get("label")).strip().lower() != "safe" for r in rows]
    found = run_judges([cell_text(r.get("prompt")) for r in rows], [cell_text(r.get("response")) for r in rows],
                       unsafe, **{kind: judge})
    verdicts = {i: v[0] if kind == "refusal" else v[1] for i, v in enumerate(found) if unsafe[i]}

    added = OUTPUT_COLUMNS[kind]
    out_columns = columns + [c for c in added if c not in columns]
    for i, row in enumerate(rows):
        v = verdicts.get(i)
        if v is None:
            row["harmful"], row["harm_score"] = None, None
        elif kind == "refusal":
            row["refusal_class"] = v.refusal_class
            row["refusal"] = bool(v.refusal)
            row["refusal_score"] = round(float(v.refusal_score), 4)
        else:
            row["harmful"] = bool(v.harmful)
            row["harm_score"] = round(float(v.harm_score), 4)
        if out_fmt == "jsonl":  # NaN is not JSON; other columns' NaN cells become null
            for key, value in row.items():
                if isinstance(value, float) and math.isnan(value):
                    row[key] = None
    _write(out_path, out_fmt, out_columns, rows)
    return len(rows)
