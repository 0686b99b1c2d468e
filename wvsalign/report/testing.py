"""Synthetic run directories for tests and benchmarks of reports (no model is run).

:func:`synthetic_run` writes a run directory in the layout of ``wvsalign run`` whose "model"
answers are a mixture of the (synthetic) human distribution and seeded random noise: the
numbers mean nothing, but the tables have the real shapes, and alignment is positive and
varies with ``noise``. Everything is labelled synthetic (the model's description, the human side).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

from .._io import write_csv_atomic, write_parquet_atomic, write_text_atomic


def synthetic_probs(human: pd.DataFrame, model: str, *, noise: float = 0.5, seed: int = 0,
                    option_orders: Sequence[str] = ("original",)) -> pd.DataFrame:
    """A probs table: per country x item (x option order), (1 - noise) * human shares + noise * Dirichlet(1)."""
    rng = np.random.default_rng(seed)
    parts = []
    for order in option_orders:
        frame = human[["country", "item_id", "code", "share"]].copy()
        cell = frame.groupby(["country", "item_id"], sort=False).ngroup().to_numpy()
        draw = rng.gamma(1.0, size=len(frame))
        total = np.bincount(cell, weights=draw)[cell]
        prob = (1 - noise) * frame["share"].to_numpy() + noise * draw / total
        prob = prob / np.bincount(cell, weights=prob)[cell]
        frame = frame.drop(columns="share").assign(
            model=model, prompt_id=[f"{model}:{order}:{i}" for i in cell], template="persona",
            label=frame["code"].astype(str), prob=prob, logprob=np.log(prob), valid_mass=0.5,
            instruction="default", label_style="letter" if len(option_orders) > 1 else "number", option_order=order,
            language="en")
        parts.append(frame)
    cols = ["model", "prompt_id", "item_id", "country", "template", "code", "label", "prob", "logprob", "valid_mass",
            "instruction", "label_style", "option_order", "language"]
    return pd.concat(parts, ignore_index=True)[cols]


def synthetic_run(folder: str | Path, model: str, human: pd.DataFrame, *, noise: float = 0.5, seed: int = 0,
                  params: int | None = None, multilingual: bool | None = None, instruction_tuned: bool | None = None,
                  option_orders: Sequence[str] = ("original",), human_seed: int = 0) -> Path:
    """Write a synthetic run directory (config.yaml, probs.parquet, human.parquet, scores.parquet, alignment.csv).

    ``human``: a human table (e.g. :func:`wvsalign.synthetic_human`); ``human_seed`` is recorded
    as the run's seed (the cultural map regenerates the synthetic respondents from it).
    """
    from .. import __version__, stats

    folder = Path(folder)
    probs = synthetic_probs(human, model, noise=noise, seed=seed, option_orders=option_orders)
    scores = stats.mean_scores(probs, human)
    alignment = stats.alignment(scores, by="category", seed=human_seed)
    record: dict[str, Any] = {
        "wvsalign": {"wvsalign": __version__, "numpy": np.__version__, "pandas": pd.__version__},
        "config": {"model": model, "wvs": None, "items": sorted(human["item_id"].unique().tolist()),
                   "categories": None, "countries": sorted(human["country"].unique().tolist()),
                   "templates": ["persona"], "instructions": ["default"],
                   "label_styles": ["letter" if len(option_orders) > 1 else "number"],
                   "option_orders": list(option_orders), "languages": ["en"], "seed": int(human_seed),
                   "demo": False, "min_n": 30, "out": str(folder)},
        "status": "finished",
        "model": {"name": model, "params": params, "multilingual": multilingual,
                  "instruction_tuned": instruction_tuned, "family": "synthetic",
                  "description": f"SYNTHETIC model answers (human shares mixed with noise {noise}, seed {seed})"},
        "human": {"synthetic": True, "source": f"synthetic (seed={human_seed})",
                  "countries": int(human["country"].nunique()), "items": int(human["item_id"].nunique())},
        "counts": {"items": int(human["item_id"].nunique()), "countries": int(human["country"].nunique()),
                   "prompts": int(probs["prompt_id"].nunique()), "prob_rows": int(len(probs))},
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(human, folder / "human.parquet")
    write_parquet_atomic(probs, folder / "probs.parquet")
    write_parquet_atomic(scores, folder / "scores.parquet")
    write_csv_atomic(alignment, folder / "alignment.csv")
    write_text_atomic(yaml.safe_dump(record, sort_keys=False), folder / "config.yaml")
    return folder


def synthetic_study(folder: str | Path, models: Sequence[dict[str, Any]], human: pd.DataFrame, *,
                    condition: str | Sequence[str] = "persona", human_seed: int = 0) -> Path:
    """A study directory: ``study.yaml`` (a study record) and ``runs/<model>/<condition>/`` per entry of
    ``models`` (keyword arguments of :func:`synthetic_run`, with ``model`` the name, and optionally
    ``metadata``: the study file's overrides of that model's metadata) and condition (one name or
    several; the i-th condition's answers use the seed + 100 i)."""
    folder = Path(folder)
    conditions = [condition] if isinstance(condition, str) else list(condition)
    entries = []
    for spec in models:
        spec = dict(spec)
        name = spec.pop("model")
        metadata = spec.pop("metadata", None)
        seed = int(spec.pop("seed", 0))
        for i, cond in enumerate(conditions):
            synthetic_run(folder / "runs" / name / cond, name, human, human_seed=human_seed, seed=seed + 100 * i,
                          **spec)
        entries.append({"name": name, "model": name, **({"metadata": dict(metadata)} if metadata else {})})
    record = {"wvsalign_study": 1, "name": "synthetic", "description": "SYNTHETIC study (wvsalign.report.testing)",
              "models": entries, "conditions": {cond: {"templates": ["persona"]} for cond in conditions},
              "human": "synthetic", "seed": int(human_seed)}
    write_text_atomic(yaml.safe_dump(record, sort_keys=False), folder / "study.yaml")
    return folder


#: countries of :func:`small_study` (several from each cultural zone, Western and not)
SMALL_COUNTRIES = ("USA", "GBR", "DEU", "SWE", "NLD", "JPN", "CHN", "KOR", "BRA", "MEX", "ARG", "NGA", "EGY", "TUR",
                   "RUS", "UKR", "IDN", "PAK")


def small_human(*, seed: int = 3, countries: Sequence[str] = SMALL_COUNTRIES) -> pd.DataFrame:
    """Synthetic human table for tests: the demo items and the cultural map's items x :data:`SMALL_COUNTRIES`."""
    import warnings

    from ..pipeline import RunConfig, select_items
    from ..stats.cultural_map import SOURCE_COLUMNS
    from ..survey.items import ItemBank
    from ..survey.synthetic import synthetic_human

    bank = ItemBank.wvs7()
    ids = [item.item_id for item in select_items(RunConfig(demo=True))]
    ids += [c for c in SOURCE_COLUMNS if c in {item.item_id for item in bank} and c not in ids]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return synthetic_human(bank.filter(ids=ids), list(countries), seed=seed, n_per_country=400)


def small_study(folder: str | Path, *, seed: int = 3, option_orders: Sequence[str] = ("original",)) -> Path:
    """A small synthetic 3-model study (sizes and training differ) for tests of reports."""
    human = small_human(seed=seed)
    models = [
        {"model": "alpha", "params": 100_000_000, "noise": 0.8, "seed": 11, "multilingual": False,
         "instruction_tuned": False, "option_orders": option_orders},
        {"model": "beta", "params": 1_000_000_000, "noise": 0.5, "seed": 12, "multilingual": True,
         "instruction_tuned": False, "option_orders": option_orders},
        {"model": "gamma", "params": 7_000_000_000, "noise": 0.3, "seed": 13, "multilingual": True,
         "instruction_tuned": True, "option_orders": option_orders},
    ]
    return synthetic_study(folder, models, human, human_seed=seed)
