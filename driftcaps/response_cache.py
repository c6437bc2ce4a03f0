"""A response cache that lets an interrupted ``driftcaps eval`` resume (docs/design.md#interrupted-runs).

Every greedy response is written to a SQLite file the moment lm-eval produces it, under a key
that names everything the text depends on::

    sha256(json([scope, context, gen_kwargs]))

``scope`` holds the base model's weight hash (for a Hub model: its id and the commit it was
loaded from), the adapter's weight hash, the chat template's sha256, the system instruction,
the backend and its engine settings, dtype, batch size, device type, and the versions of
torch, transformers, tokenizers, peft and vllm; ``context`` is the prompt exactly as the model saw it
(chat template and system instruction applied) and ``gen_kwargs`` the request's generation
settings (stop sequences, max new tokens, sampling). A rerun of the same evaluation reads the
finished responses back and generates only the others.

This differs from lm-eval's ``--use_cache`` on purpose: that database keys only the request, so a
second adapter evaluated with the same file receives the first one's answers. Values are stored
as JSON text (lm-eval's ``sqlitedict`` pickles them), each write is its own transaction (a killed
process leaves whole rows or none), and sampled requests (``do_sample``) are never cached.

A resumed run on the ``hf`` backend with a batch size above 1 can batch the remaining prompts
differently from an uninterrupted run, and padding changes bf16 numerics; with batch size 1, or
on vLLM (whose outputs do not depend on the batch), the resumed responses are the uninterrupted
run's.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from driftcaps.adapters import AdapterInfo
from driftcaps.errors import DriftCapsError
from driftcaps.io import sha256_file, sha256_text
from driftcaps.models import ModelInfo
from driftcaps.paths import cache_home
from driftcaps.provenance import package_versions

log = logging.getLogger(__name__)

SCHEMA = 1
"""Moves when the key's recipe changes (old rows are then never matched)."""

KEY_PACKAGES = ("torch", "transformers", "tokenizers", "peft", "vllm")
"""Packages whose versions are part of the scope (a new kernel can change greedy text)."""


def default_path() -> Path:
    """``$DRIFTCAPS_RESPONSE_CACHE`` or ``$DRIFTCAPS_HOME/responses.sqlite``."""
    env = os.environ.get("DRIFTCAPS_RESPONSE_CACHE")
    return Path(env).expanduser() if env else cache_home() / "responses.sqlite"


def request_key(scope: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
    """The cache key (64 hex chars) of one ``generate_until`` request under ``scope``."""
    return sha256_text(json.dumps([SCHEMA, scope, context, gen_kwargs], sort_keys=True, default=str))


def _sampled(gen_kwargs: Any) -> bool:
    return bool(isinstance(gen_kwargs, dict) and gen_kwargs.get("do_sample"))


class ResponseCache:
    """Responses keyed by :func:`request_key`, in one SQLite file (WAL, shared by processes).

    Args:
        path: the SQLite file (created with its folder).
        scope: what the responses depend on besides the request (see the module docstring);
            any JSON-serialisable dict.

    Attributes:
        reused, generated: responses read from the cache and written to it by :meth:`attach`'s
            wrapper in this process.

    Raises:
        DriftCapsError: the file cannot be opened as a SQLite database (naming it and the fix).
    """

    def __init__(self, path: str | os.PathLike, scope: dict[str, Any]) -> None:
        self.path = Path(path)
        self.scope = scope
        self.reused = 0
        self.generated = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, "
                             "created REAL NOT NULL)")
        except (sqlite3.Error, OSError) as e:
            raise DriftCapsError(f"{self.path}: cannot use it as the response cache ({e}); delete the file, "
                                 "give another --response-cache or pass --response-cache off.") from None

    def key(self, context: str, gen_kwargs: dict[str, Any]) -> str:
        """:func:`request_key` under this cache's scope."""
        return request_key(self.scope, context, gen_kwargs)

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """``{key: response}`` for the keys present."""
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})",
                                    chunk)
            found.update({k: json.loads(v) for k, v in rows})
        return found

    def put(self, key: str, response: str) -> None:
        """Store one response (its own transaction; an existing row is kept)."""
        self._db.execute("INSERT OR IGNORE INTO responses VALUES (?, ?, ?)", (key, json.dumps(response), time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def attach(self, lm: Any) -> None:
        """Route ``lm.generate_until`` (an lm-eval ``LM``) through the cache: finished requests
        are answered from the file, the others are generated by ``lm`` and each response is
        stored as soon as lm-eval reports it (its per-response cache hook), then all of them
        again when the call returns."""
        from lm_eval.api.model import CacheHook

        generate = lm.generate_until
        pending: dict[str, set[str]] = {}  # context -> keys of the requests being generated now
        cache = self

        class _Hook(CacheHook):
            def __init__(self) -> None:  # noqa: D107 (no sqlitedict: our own store)
                self.dbdict = None

            def add_partial(self, attr: str, req: Any, res: Any) -> None:
                keys = pending.get(req[0]) if attr == "generate_until" else None
                if keys and len(keys) == 1 and isinstance(res, str):  # one request per context: unambiguous
                    cache.put(next(iter(keys)), res)
                    _after_put(cache)

        lm.set_cache_hook(_Hook())

        def generate_until(requests: list, disable_tqdm: bool = False) -> list[str]:
            keys = [None if _sampled(r.args[1]) else self.key(r.args[0], r.args[1]) for r in requests]
            found = self.get_many([k for k in keys if k is not None])
            todo = [i for i, k in enumerate(keys) if k not in found]
            if len(todo) < len(requests):
                log.info("response cache %s: %d of %d responses reused", self.path, len(requests) - len(todo),
                         len(requests))
            pending.clear()
            for i in todo:
                if keys[i] is not None:
                    pending.setdefault(requests[i].args[0], set()).add(keys[i])
            new = generate([requests[i] for i in todo], disable_tqdm=disable_tqdm) if todo else []
            pending.clear()
            out = [found.get(k) if k is not None else None for k in keys]
            for i, text in zip(todo, new, strict=True):
                out[i] = text
                if keys[i] is not None:
                    self.put(keys[i], text)
            self.reused += len(requests) - len(todo)
            self.generated += len(todo)
            return out

        lm.generate_until = generate_until


def _after_put(cache: ResponseCache) -> None:
    """Test hook: ``DRIFTCAPS_TEST_KILL_AFTER_RESPONSES=N`` SIGKILLs this process once the file
    holds N responses (the kill-and-resume test sets it; nothing else does)."""
    n = os.environ.get("DRIFTCAPS_TEST_KILL_AFTER_RESPONSES")
    if n and len(cache) >= int(n):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _small_files_sha256(folder: Path) -> str | None:
    """sha256 over a local model or adapter folder's JSON and tokenizer files (config, generation
    config, tokenizer, adapter config): what changes responses besides the weights."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix in (".json", ".jinja", ".model", ".txt")))
    return sha256_text(json.dumps([[p.name, sha256_file(p)] for p in files]))


def _hub_commit(repo_id: str) -> str | None:
    """The commit of a Hub model in the local Hugging Face cache (what ``from_pretrained`` loaded
    for the default revision), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - any failure means: unknown, so no cache
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def scope_for(model: ModelInfo, adapter: AdapterInfo | None, settings: dict[str, Any],
              chat_template: str | None) -> dict[str, Any] | None:
    """The scope of :class:`ResponseCache` for one evaluation, or None when the model's weights
    cannot be identified (a Hub id not in the local Hugging Face cache): then nothing is cached.

    Args:
        model, adapter: as resolved (``weights_sha256`` is the identity).
        settings: the response-changing settings (backend, engine arguments, dtype, batch size,
            device type, system instruction, loader).
        chat_template: the template text lm-eval applies, or None without one.
    """
    if model.weights_sha256:
        weights = model.weights_sha256
    else:
        commit = _hub_commit(model.path)
        if commit is None:
            return None
        weights = f"hub:{model.path}@{commit}"
    return {
        "model": weights, "model_files": _small_files_sha256(Path(model.path)),
        "adapter": adapter.weights_sha256 if adapter else None,
        "adapter_files": _small_files_sha256(Path(adapter.path)) if adapter else None,
        "chat_template": sha256_text(chat_template) if chat_template else None,
        "settings": settings, "packages": package_versions(KEY_PACKAGES),
    }
