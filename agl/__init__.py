"""The bundled fine-tuning trainer: plain LoRA now, AlignGuard-LoRA (``docs/agl.md``) on top of it.

Public API: :class:`TrainConfig`, :func:`load_config`, :func:`train`, :func:`load_task`.
"""

from agl.config import TrainConfig, load_config
from agl.data import BUILTIN_TASKS, load_task
from agl.train import train

__all__ = ["BUILTIN_TASKS", "TrainConfig", "load_config", "load_task", "train"]
