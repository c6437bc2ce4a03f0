"""Alignment replay, a baseline for AGL (``docs/agl.md#baselines``): a share of every training
batch is drawn from the *alignment data* (the base model's own responses to DriftCaps' ``align``
prompts, never ``test``), the "mix a little safety data back in" mitigation of Qi et al. 2023
("Fine-tuning aligned language models compromises safety, even when users do not intend to",
section 4.4) and Bianchi et al. 2024 ("Safety-tuned LLaMAs").

The share is spread evenly and deterministically over the run: of the first ``s`` steps' batch
slots (``s · batch_size``), exactly ``floor(s · batch_size · share)`` are replay examples, so a
share of 0.1 at batch 4 replays one example in each of steps 3, 5, 8, 10, ... and 10% overall.
Replay rows are taken in a fixed order (a permutation seeded by the run's seed), cycling.
"""

from __future__ import annotations

import math
import random

_EPS = 1e-9  # 0.1 * 4 * 10 is 4.000000000000001 in floats; the count must be 4


def replayed_through(step: int, batch_size: int, share: float) -> int:
    """Replay examples in steps 1..``step`` together: ``floor(step · batch_size · share)``
    (0 for ``step`` <= 0). ``share`` in [0, 1)."""
    return math.floor(max(step, 0) * batch_size * share + _EPS)


def replay_count(step: int, batch_size: int, share: float) -> int:
    """Replay examples in the batch of ``step`` (1-based): between 0 and ``batch_size``."""
    return replayed_through(step, batch_size, share) - replayed_through(step - 1, batch_size, share)


def replay_order(n_rows: int, seed: int) -> list[int]:
    """The fixed order in which the ``n_rows`` replay rows are used (a seeded permutation)."""
    return random.Random(f"replay-{seed}").sample(range(n_rows), n_rows)


def replay_indices(step: int, batch_size: int, share: float, order: list[int]) -> list[int]:
    """Indices (into the replay rows) of the replay examples of ``step``'s batch, in order.

    Raises:
        ValueError: a positive count with no replay rows.
    """
    k = replay_count(step, batch_size, share)
    if k and not order:
        raise ValueError("alignment replay needs replay rows")
    start = replayed_through(step - 1, batch_size, share)
    return [order[(start + j) % len(order)] for j in range(k)]
