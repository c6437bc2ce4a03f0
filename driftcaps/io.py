"""Small file helpers: atomic writes, JSON Lines, hashes.

Nothing is half-written: every writer here writes to a temporary file in the destination's
folder and renames it into place (``os.replace`` is atomic on POSIX), and staged folders are
renamed only once they are complete.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from driftcaps.errors import DriftCapsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes (64 lowercase hex characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Return the hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it ordinary permissions
    try:
        kwargs = {"encoding": encoding} if "b" not in mode else {}
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` for a writer that takes a file name (safetensors,
    matplotlib); rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cell_text(value: Any) -> str:
    """A table cell as text: None and NaN become ``""``, booleans ``true``/``false``, lists and
    dicts compact JSON, strings stay as they are, anything else ``str(value)``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write one JSON object per line, atomically; return the number of rows."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file; a missing or malformed file raises :class:`DriftCapsError`."""
    path = Path(path)
    if not path.is_file():
        raise DriftCapsError(f"{path}: {what} not found.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DriftCapsError(f"{path}: not valid JSON ({e}); re-create the {what}.") from None


def parse_jsonl_lines(lines: Iterable[str], path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line of JSON Lines text.

    Raises:
        DriftCapsError: a line that is not JSON, or not a JSON object (message names the line).
    """
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DriftCapsError(f"{path}:{lineno}: not valid JSON ({e.msg}).") from None
        if not isinstance(obj, dict):
            raise DriftCapsError(f"{path}:{lineno}: expected a JSON object per line.")
        yield lineno, obj


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the objects of a UTF-8 JSON Lines file (blank lines skipped).

    Raises:
        DriftCapsError: the file is missing, not UTF-8, or a line is not a JSON object (message
            names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DriftCapsError(f"{path}: file not found.")
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            for _, obj in parse_jsonl_lines(f, path):
                yield obj
    except UnicodeDecodeError as e:
        raise DriftCapsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); re-save it as UTF-8.") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a whole JSON Lines file (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path))


def _clear_stale_stages(final: Path) -> None:
    """Remove staging folders of ``final`` left by processes that no longer run (killed: a
    finished or failed run removes its own). The stage name carries its writer's pid."""
    for old in final.parent.glob(f".{glob.escape(final.name)}.partial-*"):
        pid = old.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if not pid.isdigit() or not old.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, overwrite: bool = False):
    """Build a folder in a temporary sibling and rename it onto ``final`` when the block succeeds.

    Yields the staging path. If the block raises, the staging folder is removed and ``final`` is
    untouched. With ``overwrite`` an existing ``final`` is replaced only at the end.

    Raises:
        DriftCapsError: ``final`` exists, is not empty and ``overwrite`` is false.
    """
    final = Path(final).resolve()
    if final.exists() and not final.is_dir():
        raise DriftCapsError(f"{final}: exists and is a file; choose a folder for the output.")
    if final.exists() and any(final.iterdir()) and not overwrite:
        raise DriftCapsError(
            f"{final}: output folder exists and is not empty; choose another --output or pass --overwrite."
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale_stages(final)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=final.parent))
    stage.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield stage
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(stage, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def load_tensors(path: str | os.PathLike) -> dict:
    """Read a safetensors file into freshly allocated torch tensors: name -> tensor (dtype and
    shape as stored).

    ``safetensors.torch.load_file`` hands out tensors that view one buffer at the offsets of the
    file, which are not 64-byte aligned. PyTorch's CPU kernels take another vectorised path for
    unaligned memory, so a reduction over such a tensor (a Fisher-weighted penalty, say) sums in a
    different order and a low-precision run drifts apart from one whose tensors were computed in
    memory. Cloning gives each tensor its own aligned allocation: a training run reads the same
    numbers from a cache file as from the computation that wrote it, bit for bit.
    Only weights are read; nothing is unpickled.
    """
    from safetensors.torch import load_file

    return {k: v.clone() for k, v in load_file(str(path)).items()}
