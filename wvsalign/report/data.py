"""The runs of a report combined: one probs table (model = the run's label), one human table,
the mean scores (variants averaged, and per variant) and the models' metadata."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .runs import Run

#: model metadata columns shown in the report (where recorded)
MODEL_FIELDS = ("name", "family", "params", "multilingual", "instruction_tuned", "chat", "quantization", "dtype",
                "source", "sha256")


@dataclass
class ReportData:
    """Everything a report is computed from (made by :func:`combine`).

    Parameters
    ----------
    runs : list of Run
        The runs with results.
    labels : list of str
        One unique model label per run (the ``model`` value of its rows).
    probs : DataFrame
        Every run's probs table, ``model`` = the run's label.
    human : DataFrame
        The runs' human table (the same for all).
    scores : DataFrame
        The scores table: the people's rows (``model == "human"``) and one row per model x
        country x item, prompt variants averaged.
    variant_scores : DataFrame
        As ``scores`` with the prompt variants kept apart.
    models : DataFrame
        One row per label: model, condition, run, status, ``unit`` (the model across conditions:
        the study's model name for a study's runs, else the label), the metadata, log10_params.
    notes : list of str
        Runs left out or incomplete, and the runs' own problems.
    """

    runs: list[Run]
    labels: list[str]  # one model label per run (unique)
    probs: pd.DataFrame  # every run's probs, model = the run's label
    human: pd.DataFrame
    scores: pd.DataFrame  # human rows + one row per model x country x item (prompt variants averaged)
    variant_scores: pd.DataFrame  # human rows + one row per model x country x item x prompt variant
    models: pd.DataFrame  # one row per label: label, condition, run, and the model's metadata
    notes: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        """True when any run's human side is synthetic."""
        return any(human_provenance(run)["synthetic"] for run in self.runs)


def human_provenance(run: Run) -> dict[str, Any]:
    """Where a run's human data came from: kind ("wvs_file", "aggregate", "synthetic"), source, checksum."""
    record = run.config.get("human") if isinstance(run.config.get("human"), dict) else {}
    settings = run.settings
    wvs = settings.get("wvs")
    synthetic = bool(record.get("synthetic", not wvs))
    if run.human is not None and run.human.attrs.get("synthetic"):
        synthetic = True
    source = str(record.get("source") or wvs or "synthetic")
    kind = "synthetic" if synthetic else ("aggregate" if record.get("kind") == "aggregate" or
                                          settings.get("aggregates") else "wvs_file")
    checksum = record.get("sha256") or record.get("checksum")
    return {"synthetic": synthetic, "kind": kind, "source": source, "file": wvs, "checksum": checksum,
            "countries": record.get("countries"), "items": record.get("items")}


def _labels(runs: Sequence[Run]) -> list[str]:
    """The model name of each run, with the condition added where a name repeats."""
    names = [str(run.model_info["name"]) for run in runs]
    labels = [name if names.count(name) == 1 else f"{name} [{run.condition}]" for name, run in zip(names, runs)]
    for i, label in enumerate(labels):  # still repeated (same name and condition in two places): number them
        if labels.count(label) > 1:
            labels[i] = f"{label} #{labels[:i].count(label) + 1}"
    return labels


def _combined_human(runs: Sequence[Run]) -> pd.DataFrame:
    """The union of the runs' human tables; runs that disagree on a cell are refused."""
    tables = [run.human.assign(_run=str(run.path)) for run in runs if run.human is not None]
    if not tables:
        raise InputError("no run has a human table (human.parquet); the report compares models with human answers")
    human = pd.concat(tables, ignore_index=True)
    keys = ["country", "item_id", "code"]
    spread = human.groupby(keys, sort=False)["share"].agg(["min", "max"])
    bad = spread[(spread["max"] - spread["min"]).abs() > 1e-9]
    if len(bad):
        where = bad.index[0]
        runs_at = human.set_index(keys).loc[[where], "_run"].unique().tolist()
        raise InputError(f"the runs compare with different human data (e.g. country {where[0]}, item {where[1]}, "
                         f"code {where[2]} in {runs_at}); report runs made with the same human side together",
                         file=runs_at[0])
    return human.drop_duplicates(keys).drop(columns="_run").reset_index(drop=True)


def _unit(run: Run, label: str, *, several: bool) -> str:
    """The model a run belongs to across conditions: its study's model name (with the study's folder
    name when several studies are combined), else the run's label."""
    if run.study_model is None or run.study is None:
        return label
    return f"{run.study.name}/{run.study_model.name}" if several else str(run.study_model.name)


def combine(runs: Sequence[Run], bank: Any = None) -> ReportData:
    """Combine runs into the tables a report is computed from.

    Runs without a probs table (unfinished) are left out with a note. Mean scores come from
    :func:`wvsalign.stats.mean_scores` (unit scale): ``scores`` averages each model's prompt
    variants (``variants=[]``), ``variant_scores`` keeps them (``variants=None``).

    Parameters
    ----------
    runs : sequence of Run
        From :func:`wvsalign.report.runs.load_runs`.
    bank : ItemBank, optional
        The item bank (default: the embedded WVS-7 bank).

    Returns
    -------
    ReportData

    Raises
    ------
    InputError
        When no run has results, or runs disagree on the human data.
    """
    from .. import stats

    notes: list[str] = []
    usable = []
    for run in runs:
        if run.probs is None or run.probs.empty:
            notes.append(f"{run.path}: no probs.parquet yet (status: {run.status}); left out")
        else:
            usable.append(run)
            if run.status != "finished":
                notes.append(f"{run.path}: status {run.status}; its results so far are included")
        notes.extend(run.notes)
    if not usable:
        raise InputError("none of the run directories has results (probs.parquet); finish the runs first",
                         file=runs[0].path if runs else None)
    labels = _labels(usable)
    human = _combined_human(usable)
    probs = pd.concat([run.probs.assign(model=label) for run, label in zip(usable, labels)], ignore_index=True)
    scores = stats.mean_scores(probs, human, bank, variants=[])
    variant_scores = stats.mean_scores(probs, human, bank, variants=None)
    rows = []
    studies = {run.study for run in usable if run.study_model is not None}
    for run, label in zip(usable, labels):
        info = run.model_info
        row = {"model": label, "condition": run.condition, "run": str(run.path), "status": run.status,
               "unit": _unit(run, label, several=len(studies) > 1)}
        row.update({k: info.get(k) for k in MODEL_FIELDS})
        params = pd.to_numeric(pd.Series([info.get("params")]), errors="coerce").iloc[0]
        row["log10_params"] = float(np.log10(params)) if params and params > 0 else np.nan
        rows.append(row)
    models = pd.DataFrame(rows)
    return ReportData(runs=list(usable), labels=labels, probs=probs, human=human, scores=scores,
                      variant_scores=variant_scores, models=models, notes=notes)

