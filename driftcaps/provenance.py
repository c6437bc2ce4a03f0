"""What produced a result: package versions, timestamps, the command line."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata

PACKAGES = ("driftcaps", "lm_eval", "transformers", "torch", "peft", "datasets", "numpy",
            "scikit-learn", "accelerate", "tokenizers")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """``{distribution: version}`` for the packages that can change a result (missing ones omitted)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    """This process's command line, shell-quoted."""
    return " ".join(shlex.quote(a) for a in sys.argv)
