"""Run a grid of independent jobs (the training runs of a sweep) here, one after another, or as
Ray tasks that Ray's own scheduler places on the cluster's CPUs and GPUs (``--executor ray``).

Both are resumable in the same way: each job is a function of its config that reuses finished
work (``agl.train.train`` reuses a run folder holding the same config's ``run.json``), so running
the grid again after a kill redoes only what was not finished. Ray connects to the cluster named
by ``RAY_ADDRESS`` (``ray start --head`` on a GPU machine, or a Ray cluster), else starts a local
instance on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

from driftcaps.errors import DriftCapsError

Executor = Literal["local", "ray"]
EXECUTORS = ("local", "ray")


def run_jobs(fn: Callable[[Any], Any], jobs: dict[str, Any], executor: str = "local", num_gpus: float = 0,
             num_cpus: float = 1, on_start: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``fn(arg)`` for every ``name: arg`` of ``jobs``.

    Args:
        fn: a module-level function (Ray ships it to its workers by reference).
        jobs: job name -> argument; the order is the local executor's order.
        executor: ``local`` (in this process, in order) or ``ray`` (one Ray task per job).
        num_gpus, num_cpus: what each Ray task asks the scheduler for (GPUs may be fractional).
        on_start: called with (name, index from 1, count) before each local job (progress).

    Returns:
        job name -> ``fn``'s return value.

    Raises:
        DriftCapsError: an unknown executor, Ray not installed, or the first job's own
            DriftCapsError (unwrapped from Ray's task error).
    """
    if executor not in EXECUTORS:
        raise DriftCapsError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}.")
    if executor == "local":
        out = {}
        for i, (name, arg) in enumerate(jobs.items(), start=1):
            if on_start is not None:
                on_start(name, i, len(jobs))
            out[name] = fn(arg)
        return out
    try:
        import ray
    except ImportError:
        raise DriftCapsError("--executor ray: Ray is not installed; pip install 'driftcaps[ray]'.") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=True,
                 runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith(("DRIFTCAPS_", "HF_"))}})
    try:
        task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=0)(fn)
        refs = {name: task.remote(arg) for name, arg in jobs.items()}
        try:
            return dict(zip(refs, ray.get(list(refs.values())), strict=True))
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if hasattr(e, "cause") else None
            if isinstance(cause, DriftCapsError):
                raise DriftCapsError(str(cause)) from None
            raise
    finally:
        if started_here:
            ray.shutdown()
