"""A finished (or partly finished) study, reopened read-only: combined tables and cross-model statistics.

>>> study = Study.load("studies/demo")
>>> study.alignment            # model x condition x category: r, CI, p, n + model metadata
>>> study.compare_models()     # every pair of models: Steiger / Zou, Holm-adjusted
>>> fit = study.regression()   # alignment ~ log10(params) + multilingual + instruction_tuned (HC3)
>>> print(fit.summary())
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .spec import StudySpec, read_study_record, run_dir

#: model-level terms of the core method's regression, in order of priority
DEFAULT_TERMS = ("np.log10(params)", "multilingual", "instruction_tuned")



@dataclass
class Study:
    """The runs of a study directory with their tables combined and every model's metadata joined.

    Attributes
    ----------
    path : Path
        The study directory.
    spec : StudySpec
        The study as recorded in ``study.yaml``.
    runs : dict
        (model, condition) -> :class:`~wvsalign.runs.RunResult` for every run directory present.
    models : DataFrame
        One row per model: ``model`` (the study's name for it), ``source`` (what was loaded) and its
        metadata (params, multilingual, instruction_tuned, family, ...): what the backend reported,
        overridden by the study file's ``metadata``.
    """

    path: Path
    spec: StudySpec
    runs: dict[tuple[str, str], Any] = field(default_factory=dict)
    models: pd.DataFrame = field(default_factory=pd.DataFrame)

    # ---- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Study":
        """Reopen a study directory read-only (nothing is written).

        Raises
        ------
        ConfigError
            When ``path`` holds no ``study.yaml`` or it is not a study record.
        """
        from ..runs import RunResult

        path = Path(path)
        spec = read_study_record(path)
        runs: dict[tuple[str, str], Any] = {}
        for model in spec.models:
            for condition in spec.conditions:
                folder = run_dir(path, model.name, condition.name)
                if (folder / "config.yaml").exists():
                    runs[(model.name, condition.name)] = RunResult.load(folder)
        study = cls(path=path, spec=spec, runs=runs)
        study.models = study._models_table()
        return study

    def _models_table(self) -> pd.DataFrame:
        rows = []
        for model in self.spec.models:
            recorded: dict[str, Any] = {}
            for (name, _cond), result in self.runs.items():
                if name == model.name:
                    found = result.config.get("model") if isinstance(result.config, dict) else None
                    if isinstance(found, dict):
                        recorded = found
                        break
            info = model.merged_metadata(recorded)  # what the run recorded, the study file's metadata wins
            row = {"model": model.name, "source": model.model, "backend": model.backend}
            row.update({k: v for k, v in info.items() if k != "model" and (k != "name" or k in model.metadata)})
            row["model_name"] = recorded.get("name", model.model)
            rows.append(row)
        table = pd.DataFrame(rows)
        for key in ("params",):
            if key in table:
                table[key] = pd.to_numeric(table[key], errors="coerce")
        return table

    # ---- combined tables --------------------------------------------------------------------
    def _combined(self, attr: str, *, model_rows_only: bool = False) -> pd.DataFrame:
        frames = []
        for (model, condition), result in self.runs.items():
            table = getattr(result, attr, None)
            if table is None or len(table) == 0:
                continue
            table = table.copy()
            col = _model_column(table)
            if col is not None:
                is_model = table[col].astype(str) != "human"
                if model_rows_only:
                    table = table[is_model].copy()
                    is_model = is_model[is_model]
                table[col] = np.where(is_model, model, table[col].astype(str))
                if col != "model":
                    table = table.rename(columns={col: "model"})
            else:
                table.insert(0, "model", model)
            table.insert(1, "condition", condition)
            frames.append(table)
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    @property
    def probs(self) -> pd.DataFrame:
        """The probs tables of every run, with ``model`` (the study's model name) and ``condition``."""
        return self._combined("probs")

    @property
    def scores(self) -> pd.DataFrame:
        """Mean scores of every model and, once per condition, of people (``model == "human"``)."""
        table = self._combined("scores")
        if table.empty:
            return table
        human = table["model"] == "human"
        keys = [c for c in ("condition", "country", "item_id") if c in table.columns]
        extra = [c for c in table.columns if c not in ("model", "mean_score") and c not in keys and c in
                 ("template", "instruction", "label_style", "option_order", "language")]
        people = table[human].drop_duplicates(subset=keys + extra)
        return pd.concat([table[~human], people], ignore_index=True)

    @property
    def alignment(self) -> pd.DataFrame:
        """Alignment (Pearson r with CIs) per model x condition x category, with the models' metadata."""
        table = self._combined("alignment")
        if table.empty:
            return table
        meta = self.models.drop(columns=[c for c in ("source", "backend") if c in self.models.columns])
        meta = meta[[c for c in meta.columns if c == "model" or c not in table.columns]]
        return table.merge(meta, on="model", how="left")

    # ---- cross-model statistics -------------------------------------------------------------
    def compare_models(
        self,
        *,
        by: str = "overall",
        method: str | Sequence[str] = ("steiger", "zou"),
        adjust: str = "holm",
        condition: str | None = None,
    ) -> pd.DataFrame:
        """Every pair of models compared on the same human scores (overlapping correlations).

        Within each condition, for each pair (a, b): :func:`wvsalign.stats.compare_alignment` on the
        country x item pairs both models and people have (r1 = r(a, human), r2 = r(b, human),
        r12 = r(a, b)). p-values are adjusted over all pairs, groups and conditions of one method
        (``p_adjusted``, Holm by default).

        Parameters
        ----------
        by : str
            "overall" (default), "category", "country" or "item".
        method : str or sequence
            cocor methods for overlapping correlations (e.g. "steiger", "williams", "zou").
        adjust : str
            p-value adjustment ("holm", "bh", "none").
        condition : str, optional
            Only this condition.

        Returns
        -------
        DataFrame
            One row per condition x pair x group x method: model_a, model_b, estimate (r1 - r2),
            r1, r2, r12, statistic, p, p_adjusted, ci_low/ci_high (Zou), n.
        """
        from .. import stats

        names = list(self.models["model"]) if len(self.models) else []
        if len(names) < 2:
            raise InputError("comparing models needs at least two models in the study", value=names)
        scores = self.scores
        if scores.empty:
            raise InputError("the study has no finished runs to compare", file=self.path)
        conditions = [condition] if condition is not None else list(dict.fromkeys(scores["condition"]))
        frames = []
        for cond in conditions:
            sub = scores[scores["condition"] == cond].drop(columns="condition")
            present = set(sub["model"])
            for a, b in itertools.combinations([n for n in names if n in present], 2):
                out = stats.compare_alignment(sub, a, b, by=by, method=method)
                out.insert(0, "condition", cond)
                frames.append(out)
        if not frames:
            raise InputError("no condition has two models with finished runs", file=self.path)
        table = pd.concat(frames, ignore_index=True)
        if "p" in table.columns and adjust != "none":
            table["p_adjusted"] = np.nan
            meth = "method" if "method" in table.columns else None
            for _key, idx in (table.groupby(meth).groups.items() if meth else [(None, table.index)]):
                p = table.loc[idx, "p"].to_numpy(float)
                ok = np.isfinite(p)
                if ok.any():
                    adj = np.full(len(p), np.nan)
                    adj[ok] = np.asarray(stats.adjust_pvalues(p[ok], method=adjust), dtype=float)
                    table.loc[idx, "p_adjusted"] = adj
        return table

    def regression_data(self, condition: str | None = None) -> pd.DataFrame:
        """Model x category alignment rows with the models' metadata: the data of :meth:`regression`."""
        table = self.alignment
        if table.empty:
            raise InputError("the study has no finished runs", file=self.path)
        if condition is not None:
            table = table[table["condition"] == condition]
        table = table[np.isfinite(table["estimate"].to_numpy(float))].copy()
        for col in ("multilingual", "instruction_tuned"):
            if col in table.columns:
                table[col] = table[col].map(_as_bool).astype(float)
        return table.reset_index(drop=True)

    def regression(
        self,
        terms: Sequence[str] = DEFAULT_TERMS,
        *,
        cov_type: str = "HC3",
        category_effects: bool = True,
        condition: str | None = None,
    ) -> "StudyRegression":
        """Alignment on model size, multilingual training and instruction tuning (the core method).

        OLS of the per category alignment r (model x category rows) on the model-level ``terms``
        (and category fixed effects), with HC3 standard errors. Model-level terms are kept in order
        while they add information across the study's models: with fewer distinct models than
        terms, the later terms are dropped and the result says so (``dropped``, ``note``).

        Returns
        -------
        StudyRegression
            ``fit`` (an R-like :class:`~wvsalign.stats.RegressionResult`), ``kept``, ``dropped``,
            ``note``; ``summary()`` and ``tidy()`` forward to the fit.

        Raises
        ------
        InputError
            With fewer than two models, or when no term varies across the models.
        """
        from .. import stats

        data = self.regression_data(condition)
        kept, dropped, note = _identifiable_terms(data, list(terms))
        rhs = " + ".join(kept)
        if category_effects and data["group"].nunique() > 1:
            rhs += " + C(group)"
        if condition is None and data["condition"].nunique() > 1:
            rhs += " + C(condition)"
        fit = stats.ols(f"estimate ~ {rhs}", data=data, cov_type=cov_type)
        return StudyRegression(fit=fit, kept=kept, dropped=dropped, note=note, n_models=int(data["model"].nunique()))

    def mixed_model(
        self,
        terms: Sequence[str] = DEFAULT_TERMS,
        *,
        random: Sequence[str] = ("group", "family"),
        condition: str | None = None,
    ) -> "StudyRegression":
        """The same model-level terms with random intercepts for category and model family (REML).

        A random factor with a single level in the data (e.g. one family per model) is left out
        and the note says so.
        """
        from .. import stats

        data = self.regression_data(condition)
        kept, dropped, note = _identifiable_terms(data, list(terms))
        usable = [r for r in random if r in data.columns and data[r].nunique() > 1]
        left = [r for r in random if r not in usable]
        if left:
            note = (note + " " if note else "") + f"random intercept(s) {left} left out (one level or absent)."
        if not usable:
            raise InputError("no random factor has two or more levels in the study", value=list(random))
        fit = stats.mixedlm(f"estimate ~ {' + '.join(kept)}", data=data, random=usable)
        return StudyRegression(fit=fit, kept=kept, dropped=dropped, note=note, n_models=int(data["model"].nunique()))


@dataclass
class StudyRegression:
    """A cross-model regression with the terms that could be estimated and a plain note on the rest."""

    fit: Any
    kept: list[str]
    dropped: list[str]
    note: str
    n_models: int

    def summary(self) -> str:
        """The note (if any) followed by the R-like summary of the fit."""
        text = str(self.fit.summary())
        return f"{self.note}\n\n{text}" if self.note else text

    def tidy(self) -> pd.DataFrame:
        """term, estimate, std_error, statistic, p, ci_low, ci_high (as the fit's ``tidy()``)."""
        return self.fit.tidy()

    def glance(self) -> pd.DataFrame:
        return self.fit.glance()


def _as_bool(value: Any) -> Any:
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), np.nan)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    return bool(value)


def _model_column(table: pd.DataFrame) -> str | None:
    for col in ("model", "source"):
        if col in table.columns:
            return col
    return None


def _identifiable_terms(data: pd.DataFrame, terms: list[str]) -> tuple[list[str], list[str], str]:
    """Model-level terms kept in order while the model-level design gains rank
    (:func:`wvsalign.stats.estimable_terms`); refuses when none is left."""
    from .. import stats

    chosen = stats.estimable_terms(data, terms, unit="model", unit_label="models")
    if not chosen.kept:
        raise InputError("no model-level term varies across the study's models; nothing can be estimated "
                         f"({'; '.join(chosen.dropped.values())})", value=list(terms))
    return chosen.kept, list(chosen.dropped), chosen.note
