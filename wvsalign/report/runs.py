"""Finding and reading the run directories a report is made from.

:func:`read_run` reads a run directory through :meth:`wvsalign.runs.RunResult.load` (the owner
of the layout; a partial run's probs are its intact shards).
:func:`find_runs` turns any mix of run directories and study directories (``study.yaml`` and
``runs/<model>/<condition>/``) into the list of run directories.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import InputError

#: the file that marks a run directory
CONFIG_FILE = "config.yaml"
#: the file that marks a study directory
STUDY_FILE = "study.yaml"


@dataclass
class Run:
    """One run directory as the report sees it (the tables are None where the file is absent)."""

    path: Path
    config: dict[str, Any]
    probs: pd.DataFrame | None = None
    human: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    alignment: pd.DataFrame | None = None
    study: Path | None = None  # the study directory the run belongs to, if any
    notes: list[str] = field(default_factory=list)
    state: str | None = None  # as RunResult.load judged it: finished, partial, failed, running
    study_model: Any = None  # the study's StudyModel of this run (its metadata overrides), if any

    @property
    def status(self) -> str:
        return str(self.state or self.config.get("status", "unknown"))

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings (the ``config`` section of config.yaml)."""
        settings = self.config.get("config")
        return dict(settings) if isinstance(settings, Mapping) else {}

    @property
    def model_info(self) -> dict[str, Any]:
        """The model's metadata (name, params, family, ...); at least a name.

        What the run recorded (config.yaml), overridden by the study file's ``metadata`` when the
        run belongs to a study (:meth:`wvsalign.study.StudyModel.merged_metadata`, as
        :meth:`wvsalign.study.Study.load` merges them).
        """
        info = self.config.get("model")
        info = dict(info) if isinstance(info, Mapping) else {}
        if self.study_model is not None:
            info.update(self.study_model.merged_metadata(info))
        if not info.get("name"):
            model = self.settings.get("model", "model")
            info["name"] = Path(str(model.get("path", "model") if isinstance(model, Mapping) else model)).name
        return info

    @property
    def condition(self) -> str:
        """The run's condition name: its folder under ``runs/<model>/`` in a study, else its folder name."""
        if self.study is not None:
            rel = self.path.relative_to(self.study / "runs")
            return "/".join(rel.parts[1:]) or rel.parts[0]
        return self.path.name


def read_run(path: str | Path, *, study: str | Path | None = None) -> Run:
    """Read one run directory (read-only).

    Parameters
    ----------
    path : str or Path
        A run directory written by ``wvsalign run`` (it holds ``config.yaml``).
    study : str or Path, optional
        The study directory the run belongs to (names its condition).

    Returns
    -------
    Run

    Raises
    ------
    InputError
        When ``path`` is not a run directory (see :meth:`wvsalign.runs.RunResult.load`); an unreadable
        table is a note of the run instead.
    """
    from ..runs import RunResult  # the owner of the run directory's layout (read-only load)

    path = Path(path)
    if not path.is_dir():
        raise InputError("no such run directory", file=path)
    result = RunResult.load(path)
    return Run(
        path=path,
        config=dict(result.config),
        probs=result.probs,
        human=result.human,
        scores=result.scores,
        alignment=result.alignment,
        study=None if study is None else Path(study),
        notes=[f"{path}: {problem}" for problem in result.problems],
        state=result.status,
    )


def find_runs(dirs: Iterable[str | Path]) -> list[tuple[Path, Path | None]]:
    """The run directories named by ``dirs``: each a run directory or a study directory.

    Parameters
    ----------
    dirs : iterable of str or Path
        Run directories (``config.yaml``), study directories (``study.yaml`` and
        ``runs/<model>/<condition>/``) or folders holding run directories.

    Returns
    -------
    list of (run directory, study directory or None), in the order given (a study's runs sorted).

    Raises
    ------
    InputError
        When a path does not exist, or is neither a run nor a study directory (nor holds runs).
    """
    found: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for raw in dirs:
        path = Path(raw)
        if not path.is_dir():
            raise InputError("no such directory (expected a run directory or a study directory)", file=path)
        if (path / CONFIG_FILE).is_file() and not (path / STUDY_FILE).is_file():
            pairs = [(path, None)]
        else:
            # a study directory (runs under runs/<model>/<condition>/) or any folder holding run directories
            study = path if (path / "runs").is_dir() else None
            base = path / "runs" if study is not None else path
            pairs = [(cfg.parent, study) for cfg in sorted(base.rglob(CONFIG_FILE)) if cfg.parent != path]
            if not pairs:
                raise InputError(f"neither a run directory ({CONFIG_FILE}) nor a study directory ({STUDY_FILE} and "
                                 f"runs/<model>/<condition>/{CONFIG_FILE})", file=path)
        for run_path, study_path in pairs:
            key = run_path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((run_path, study_path))
    return found


def load_runs(dirs: Iterable[str | Path]) -> list[Run]:
    """Read every run directory named by ``dirs`` (run or study directories; see :func:`find_runs`).

    Parameters
    ----------
    dirs : iterable of str or Path
        As :func:`find_runs`.

    Returns
    -------
    list of Run
        One per run directory, in the order of :func:`find_runs`. The runs of a study directory
        carry the study's model (``study_model``): its metadata overrides reach ``model_info``.

    Raises
    ------
    InputError
        As :func:`find_runs` and :func:`read_run`.
    """
    runs = [read_run(path, study=study) for path, study in find_runs(dirs)]
    models: dict[Path, dict[str, Any]] = {}
    for run in runs:
        if run.study is None:
            continue
        first = run.study not in models
        if first:
            models[run.study] = _study_models(run.study)
        found = models[run.study]
        if "" in found:  # the study record could not be read: said once, with the study's first run
            if first:
                run.notes.append(found[""])
            continue
        folder = run.path.relative_to(run.study / "runs").parts[0]
        run.study_model = found.get(folder)
    return runs


def _study_models(study: Path) -> dict[str, Any]:
    """Folder name -> StudyModel of a study directory's record; {"": why} when it cannot be read."""
    from ..study.spec import read_study_record

    if not (study / STUDY_FILE).is_file():
        return {}
    try:
        spec = read_study_record(study)
    except InputError as exc:  # ConfigError included
        return {"": f"{study / STUDY_FILE} is not a study record ({exc}); model metadata as each run recorded it"}
    return {model.name: model for model in spec.models}
