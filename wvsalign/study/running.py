"""Running a study: every model x condition as a resumable run directory.

Models are loaded one at a time (memory is bounded by the largest model) and each model
runs all its conditions before the next one loads. A model whose runs are all finished is
not loaded at all. Each run is a :func:`wvsalign.pipeline.run` into
``<study dir>/runs/<model>/<condition>/``, so a study killed at any point (kill -9 included)
resumes where it stopped when run again: finished shards are kept, nothing is recomputed.

With ``executor="ray"`` every unfinished run is a Ray task instead (see :mod:`.on_ray`): the
runs are spread over a cluster, each task loads its own model, and a task whose worker died is
re-submitted and resumes from its shards.
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from .._io import write_text_atomic
from ..errors import ConfigError
from ..runs import RunDir
from .spec import StudySpec

#: the study record in a study directory
STUDY_FILE = "study.yaml"

#: where a study's runs execute
EXECUTORS = ("local", "ray")


def run_study(
    spec: StudySpec | str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
    executor: str = "local",
    address: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> "Study":
    """Run every model x condition of a study into ``out`` and return the loaded :class:`Study`.

    Parameters
    ----------
    spec : StudySpec or path
        The study, or the path of its YAML file.
    out : path
        The study directory: ``study.yaml`` (the study as run) and ``runs/<model>/<condition>/``.
    overwrite : bool
        Passed to each run: replace a run directory made with other settings.
    progress : bool
        One progress bar over the whole study (prompts scored, with ETA).
    echo : callable or None
        Where one-line messages go (``print`` by default).
    executor : {"local", "ray"}
        ``"local"`` (default): models one at a time in this process. ``"ray"``: each unfinished
        run is a Ray task (``pip install wvsalign[ray]``); ``out`` must then be a path every
        node of the cluster sees.
    address : str or None
        The Ray cluster to join (``"auto"``, ``host:port`` or ``ray://...``); default: the one
        this process already joined, else a new local one.
    resources : mapping or None
        Per-run ``num_cpus``, ``num_gpus``, ``memory`` put over the study file's ``resources``
        (Ray only).

    Returns
    -------
    Study
        The study's combined tables (see :meth:`Study.load`).

    Raises
    ------
    ConfigError
        When the study file is invalid, ``out`` holds a different study, the executor is
        unknown, Ray is missing (``--executor ray``), or a run on Ray failed.
    """
    from ..pipeline import run
    from .results import Study

    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor; expected one of {list(EXECUTORS)}", value=executor)
    if not isinstance(spec, StudySpec):
        spec = StudySpec.from_yaml(spec)
    run_resources = None
    if executor == "ray":
        from .on_ray import import_ray, resolve_resources

        import_ray()  # fail before any work when Ray is missing
        run_resources = resolve_resources(spec.resources, resources)
    say = echo or (lambda _msg: None)
    study_dir = Path(out)
    if study_dir.exists() and not study_dir.is_dir():
        raise ConfigError("the study directory is a file; expected a folder (new or from an earlier run of this study)",
                          file=study_dir)
    _check_previous(study_dir, spec, overwrite)
    plan = spec.plan(study_dir)
    record = {"wvsalign_study": 1, **spec.to_dict()}
    from ..inference.registry import model_spec

    for model in spec.models:  # an unknown model or folder fails here, before anything is written
        if getattr(model, "backend", None) in (None, "hf"):
            model_spec(model.model)
    study_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), study_dir / STUDY_FILE)
    say(f"wvsalign study {spec.name}: {len(spec.models)} model(s) x {len(spec.conditions)} condition(s) -> "
        f"{study_dir}/ ({'SYNTHETIC human data' if spec.synthetic else 'human data from ' + str(spec.wvs)})")

    if executor == "ray":
        _run_on_ray(spec, plan, study_dir, overwrite=overwrite, progress=progress, say=say,
                    address=address, resources=run_resources)
        study = Study.load(study_dir)
        say(f"wvsalign study {spec.name}: {len(study.runs)} run(s) finished in {study_dir}/")
        return study

    sizes = _prompt_counts(spec, plan)
    bar = _study_bar(sum(sizes.values()), progress)
    try:
        for model in spec.models:
            runs = [(c, cfg) for m, c, cfg in plan if m.name == model.name]
            pending = [(c, cfg) for c, cfg in runs if not RunDir(cfg.out).is_finished(cfg.result_fields())]
            for c, cfg in runs:
                if (c, cfg) not in pending and bar is not None:
                    bar.update(sizes[(model.name, c.name)])
            if not pending:
                say(f"  {model.name}: all {len(runs)} run(s) finished; not loaded")
                continue
            backend = _load(model, spec, progress)  # lazy: the weights load when a run has work
            try:
                for condition, cfg in pending:
                    if bar is not None:
                        bar.set_postfix_str(f"{model.name} / {condition.name}")
                    result = run(cfg, overwrite=overwrite, progress=bar.update if bar is not None else False,
                                 echo=None, backend=backend)
                    del result
            finally:
                del backend
                gc.collect()
                _free_accelerator_memory()
    finally:
        if bar is not None:
            bar.close()
    study = Study.load(study_dir)
    say(f"wvsalign study {spec.name}: {len(study.runs)} run(s) finished in {study_dir}/")
    return study


def _run_on_ray(spec: StudySpec, plan: list, study_dir: Path, *, overwrite: bool, progress: bool,
                say: Callable[[str], None], address: str | None, resources: Any) -> None:
    """The unfinished runs of ``plan`` as Ray tasks, with a progress bar over runs."""
    from .on_ray import run_on_ray

    pending = [(m, c, cfg) for m, c, cfg in plan if not RunDir(cfg.out).is_finished(cfg.result_fields())]
    if len(pending) < len(plan):
        say(f"  {len(plan) - len(pending)} of {len(plan)} run(s) finished already; not submitted")
    if not pending:
        return
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), initial=len(plan) - len(pending), unit="run", desc="study (ray)",
                   dynamic_ncols=True)
    try:
        run_on_ray(spec, pending, overwrite=overwrite, resources=resources, address=address, bar=bar, say=say)
    finally:
        if bar is not None:
            bar.close()


def _check_previous(study_dir: Path, spec: StudySpec, overwrite: bool) -> None:
    """Refuse a directory that holds another study's record (a different name) unless overwrite."""
    path = study_dir / STUDY_FILE
    if not path.exists():
        if study_dir.is_dir() and any(study_dir.iterdir()) and not (study_dir / "runs").is_dir():
            raise ConfigError("the study directory is not empty and holds no study.yaml; choose a new folder",
                              file=study_dir)
        return
    from .. import _yaml

    old = _yaml.load_file(path, what="study record", error=ConfigError)
    if isinstance(old, dict) and old.get("name") not in (None, spec.name) and not overwrite:
        raise ConfigError(f"holds study {old.get('name')!r}, not {spec.name!r}; choose another --out or pass "
                          "--overwrite", file=path)


def _prompt_counts(spec: StudySpec, plan: list) -> dict[tuple[str, str], int]:
    """Prompts per run (built model-neutrally, cheap), for the study's progress bar."""
    from ..pipeline import select_items
    from ..prompts import build_prompts
    from ..survey.countries import Countries

    counts: dict[tuple[str, str], int] = {}
    per_condition: dict[str, int] = {}
    for model, condition, cfg in plan:
        if condition.name not in per_condition:
            bank = select_items(cfg)
            countries = Countries.load().resolve(cfg.countries)
            prompts = build_prompts(bank, countries, templates=cfg.templates, instructions=cfg.instructions,
                                    label_styles=cfg.label_styles, option_orders=cfg.option_orders,
                                    languages=cfg.languages, seed=cfg.seed)
            per_condition[condition.name] = len(prompts)
        counts[(model.name, condition.name)] = per_condition[condition.name]
    return counts


def _study_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="prompt", desc="study", dynamic_ncols=True)


def _load(model: Any, spec: StudySpec, progress: bool) -> Any:
    from ..inference.backend import load_backend

    return load_backend(model.model, backend=model.backend, device=spec.device, dtype=spec.dtype, progress=progress,
                        lazy=True)


def _free_accelerator_memory() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
