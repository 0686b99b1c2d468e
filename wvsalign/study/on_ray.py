"""Running a study's runs as Ray tasks (``wvsalign study run ... --executor ray``).

Each unfinished model x condition run becomes one Ray task that loads its model and calls
:func:`wvsalign.pipeline.run` into its run directory under the study directory, which must be
on a filesystem every node sees. The run directory's lock and its atomic, checksummed shards
make a task safe to repeat: when a worker process is killed or a node is lost, Ray re-submits
the task (``max_retries``) and the new attempt resumes from the shards already written, without
recomputing or duplicating them. Errors raised by a run itself (bad input, a model that does not
load) are not retried; they end the study with the run named.

Ray is imported only here, and only when this executor is used (``pip install wvsalign[ray]``).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from .spec import StudyResources

#: retries of a run after its worker process or node died (Ray's ``max_retries``)
MAX_RETRIES = 3


def import_ray() -> Any:
    """Import Ray, or raise a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray, which is not installed; install it with "
                          "`pip install wvsalign[ray]` (or `pip install ray`)") from None
    return ray


def resolve_resources(spec_resources: StudyResources, overrides: Mapping[str, Any] | None) -> StudyResources:
    """The study file's per-run resources with the command-line values (not None) put over them."""
    merged = {k: v for k, v in spec_resources.to_dict().items() if v is not None}
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return StudyResources.parse(merged, "--num-cpus/--num-gpus/--memory")


def run_one(config: Mapping[str, Any], backend: str, device: Any, dtype: Any, overwrite: bool,
            threads: int = 1) -> dict[str, Any]:
    """One model x condition run, as executed inside a Ray worker.

    Parameters
    ----------
    config : mapping
        The run's :class:`~wvsalign.pipeline.RunConfig` as a plain mapping (``RunConfig.to_dict``).
    backend, device, dtype : str or None
        How to load the model (the study's model entry and settings).
    overwrite : bool
        Passed to the run.
    threads : int
        torch's CPU threads in this worker: as many as the CPUs the run reserved, so runs
        sharing a node do not oversubscribe it (and a run's arithmetic does not depend on the
        node's core count).

    Returns
    -------
    dict
        ``out`` (the run directory), ``status`` and ``pid`` (the worker process that ran it).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..inference.backend import load_backend
    from ..pipeline import RunConfig, run

    import torch

    torch.set_num_threads(max(1, int(threads)))
    cfg = RunConfig.from_dict(dict(config))
    model = load_backend(cfg.model, backend=backend, device=device, dtype=dtype, progress=False, lazy=True)
    result = run(cfg, overwrite=overwrite, progress=False, echo=None, backend=model)
    return {"out": str(cfg.out), "status": getattr(result, "status", "finished"), "pid": os.getpid()}


def run_on_ray(
    spec: Any,
    pending: list[tuple[Any, Any, Any]],
    *,
    overwrite: bool,
    resources: StudyResources,
    address: str | None,
    bar: Any,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Submit every pending (model, condition, RunConfig) as a Ray task and wait for all of them.

    Connects to the cluster at ``address`` (``"auto"``, ``ray://...`` or ``host:port``), joins the
    one this process already started, or starts a local one (shut down again at the end).
    ``bar`` (a tqdm bar over runs, or None) advances as each run finishes.

    Returns
    -------
    list of dict
        What each task returned (run directory, status, worker PID), in completion order.

    Raises
    ------
    ConfigError
        When Ray is not installed, or a run failed (the run directory and Ray's error named).
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": logging.ERROR}  # Ray's start-up notices stay off the terminal
        if address:
            options["address"] = address
        ray.init(**options)
        started = True
    try:
        task = ray.remote(run_one).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
            **({"memory": resources.memory} if resources.memory else {}),
            max_retries=MAX_RETRIES, retry_exceptions=False, name="wvsalign_study_run",
        )
        refs: dict[Any, tuple[str, str]] = {}
        for model, condition, cfg in pending:
            ref = task.remote(cfg.to_dict(), model.backend, spec.device, spec.dtype, overwrite,
                              max(1, int(resources.num_cpus)))
            refs[ref] = (model.name, condition.name)
        say(f"  submitted {len(refs)} run(s) to Ray ({resources.num_cpus:g} CPU, {resources.num_gpus:g} GPU"
            + (f", {resources.memory} bytes" if resources.memory else "") + " each)")
        done: list[dict[str, Any]] = []
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                model_name, condition_name = refs[ref]
                try:
                    done.append(ray.get(ref))
                except Exception as exc:  # a run's own error, or retries used up
                    for other in waiting:
                        ray.cancel(other, force=True)
                    cause = getattr(exc, "cause", None) or exc
                    raise ConfigError(f"run {model_name} x {condition_name} failed on Ray: "
                                      f"{type(cause).__name__}: {cause}",
                                      file=_out(pending, model_name, condition_name)) from None
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{model_name} / {condition_name}")
        return done
    finally:
        if started:
            ray.shutdown()


def _out(pending: list[tuple[Any, Any, Any]], model: str, condition: str) -> str:
    for m, c, cfg in pending:
        if m.name == model and c.name == condition:
            return str(cfg.out)
    return ""  # pragma: no cover
