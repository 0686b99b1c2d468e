"""Finding and reading the run directories a report is made from.

:func:`read_run` is the one place that knows a run directory's files (``config.yaml``,
``probs.parquet``, ``human.parquet``, ``scores.parquet``, ``alignment.csv``); when
``wvsalign.runs.RunResult.load`` exists it is used instead (a one-line swap).
:func:`find_runs` turns any mix of run directories and study directories (``study.yaml`` and
``runs/<model>/<condition>/``) into the list of run directories.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from .. import _yaml
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

    @property
    def status(self) -> str:
        return str(self.config.get("status", "unknown"))

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings (the ``config`` section of config.yaml)."""
        settings = self.config.get("config")
        return dict(settings) if isinstance(settings, Mapping) else {}

    @property
    def model_info(self) -> dict[str, Any]:
        """The model's recorded metadata (name, params, family, ...); at least a name."""
        info = self.config.get("model")
        info = dict(info) if isinstance(info, Mapping) else {}
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


def _load_table(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # a damaged file is named, not a traceback
        raise InputError(f"cannot read this table ({type(exc).__name__}: {exc})", file=path) from None


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
        When ``path`` holds no readable ``config.yaml`` or a table cannot be read.
    """
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"not a run directory: no {CONFIG_FILE} (expected a directory written by 'wvsalign run' "
                         f"or a study directory with {STUDY_FILE})", file=path)
    config = _yaml.load_file(config_path, what="run record (config.yaml written by 'wvsalign run')")
    if not isinstance(config, Mapping):
        raise InputError("expected a mapping (the run record written by 'wvsalign run')", file=config_path)
    return Run(
        path=path,
        config=dict(config),
        probs=_load_table(path / "probs.parquet"),
        human=_load_table(path / "human.parquet"),
        scores=_load_table(path / "scores.parquet"),
        alignment=_load_table(path / "alignment.csv"),
        study=None if study is None else Path(study),
    )


def find_runs(dirs: Iterable[str | Path]) -> list[tuple[Path, Path | None]]:
    """The run directories named by ``dirs``: each a run directory or a study directory.

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
    """Read every run directory named by ``dirs`` (run or study directories; see :func:`find_runs`)."""
    return [read_run(path, study=study) for path, study in find_runs(dirs)]
