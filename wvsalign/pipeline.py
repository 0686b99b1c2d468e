"""The main job: prompts -> model probabilities -> human data -> mean scores -> alignment.

>>> from wvsalign.pipeline import RunConfig, run
>>> result = run(RunConfig(out="runs/demo", demo=True))
>>> print(result.summary())

``run(config)`` writes into the run directory ``config.out``:

* ``config.yaml``: the full :class:`RunConfig`, the dtype as resolved for the device,
  package versions, seeds, the model's metadata (GGUF sha256, counted parameters, ...) and
  whether the human data is synthetic (written once the human data and prompts are built,
  so a run that fails on its inputs leaves the run directory as it was);
* ``prompts.parquet``, ``probs/`` (resumable shards) and ``probs.parquet``;
* ``human.parquet`` (from ``--wvs FILE`` or, without one, SYNTHETIC WVS-format data);
* ``scores.parquet`` (mean scores, human and model) and ``alignment.csv`` (Pearson r of
  model vs human mean scores per category, with confidence intervals).

A re-run with the same config resumes (a finished one does no model work); a run directory
made with a different config (dtypes compared as resolved: "auto" is float32 on CPU) or
other model weights is refused unless ``overwrite=True`` (``--overwrite``).
The demo (``demo=True``) scores :data:`DEMO_RULE` so that it finishes in minutes on a laptop.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import yaml

from . import _yaml
from ._io import write_csv_atomic, write_parquet_atomic, write_text_atomic
from .errors import ConfigError, InputError
from .tables import VARIANT_COLUMNS

#: how the demo picks its items
DEMO_RULE = "the first two ordinal items of each of the 12 WVS-7 categories, in questionnaire order (24 items)"
DEMO_ITEMS_PER_CATEGORY = 2

#: RunConfig fields that do not change results (a run may resume with other values)
NOT_RESULT_FIELDS = ("out", "batch_size", "device")

#: files a run writes (removed by overwrite)
RUN_FILES = ("config.yaml", "prompts.parquet", "probs", "probs.parquet", "human.parquet", "scores.parquet",
             "alignment.csv")


def _listify(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    raise ConfigError(f"{name} must be a list or a comma-separated string", value=value)


@dataclass
class RunConfig:
    """Everything that defines a run (saved as ``config.yaml`` in the run directory)."""

    model: Any = "smollm2-135m"  # registry name, local folder or .gguf file, or a spec mapping
    backend: str = "hf"  # the backend kind that loads and scores the model (wvsalign.inference.backend)
    wvs: str | None = None  # WVS-7 file (.csv, .sav, .dta, .parquet); None: synthetic human data
    items: list[str] | None = None  # item ids; None: all items (or the demo subset)
    categories: list[str] | None = None  # category slugs or names; None: all
    countries: list[str] = field(default_factory=lambda: ["default"])  # ISO3 codes, names or set names
    templates: list[str] = field(default_factory=lambda: ["persona"])
    instructions: list[str] = field(default_factory=lambda: ["default"])
    label_styles: list[str] = field(default_factory=lambda: ["number"])
    option_orders: list[str] = field(default_factory=lambda: ["original"])
    languages: list[str] = field(default_factory=lambda: ["en"])
    seed: int = 0  # option shuffling and synthetic human data
    batch_size: int | str = "auto"
    device: str | None = None
    dtype: str | None = None
    min_n: int = 30  # countries with fewer valid answers to an item are left out for it
    demo: bool = False
    out: str = "runs/wvsalign"

    def __post_init__(self) -> None:
        for name in ("items", "categories"):
            setattr(self, name, _listify(getattr(self, name), name))
        for name in ("countries", "templates", "instructions", "label_styles", "option_orders", "languages"):
            value = _listify(getattr(self, name), name)
            if not value:
                raise ConfigError(f"{name} must name at least one value", value=getattr(self, name))
            setattr(self, name, value)
        for name in ("seed", "min_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer", value=value)
        if isinstance(self.batch_size, str) and self.batch_size.isdigit():
            self.batch_size = int(self.batch_size)
        from .inference.engine import check_batch_size

        try:
            check_batch_size(self.batch_size)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(self.demo, bool):
            raise ConfigError("demo must be true or false", value=self.demo)
        if not isinstance(self.model, (str, Mapping)) or not self.model:
            raise ConfigError("model must be a registry name, a path or a mapping with 'path'", value=self.model)
        self.model = dict(self.model) if isinstance(self.model, Mapping) else str(self.model)
        if not isinstance(self.backend, str) or not self.backend.strip():
            raise ConfigError("backend must name a registered backend kind, e.g. hf", value=self.backend)
        self.wvs = None if self.wvs in (None, "") else str(self.wvs)
        self.out = str(self.out)

    # ---- YAML round trip -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str | None = None) -> "RunConfig":
        if not isinstance(raw, Mapping):
            raise ConfigError("expected a mapping of run settings", file=source)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; expected some of {sorted(known)}", file=source)
        try:
            return cls(**dict(raw))
        except ConfigError as exc:
            raise ConfigError(str(exc), file=source) from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        """Read a config file; a run directory's ``config.yaml`` works too (its ``config`` section)."""
        path = Path(path)
        raw = _yaml.load_file(path, what="config file (YAML with the settings of 'wvsalign run --help')", error=ConfigError)
        if isinstance(raw, Mapping) and isinstance(raw.get("config"), Mapping) and "wvsalign" in raw:
            raw = raw["config"]
        return cls.from_dict(raw or {}, source=str(path))

    def result_fields(self) -> dict[str, Any]:
        """The settings that shape results (a run directory must agree on these to resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_RESULT_FIELDS}


@dataclass
class RunResult:
    """What :func:`run` produced (the tables are also in the run directory)."""

    run_dir: Path
    config: RunConfig
    prompts: pd.DataFrame
    probs: pd.DataFrame
    human: pd.DataFrame
    scores: pd.DataFrame
    alignment: pd.DataFrame
    synthetic: bool
    model_info: dict[str, Any]

    def summary(self) -> str:
        """A short text summary: what was run and the alignment per category."""
        model = self.model_info.get("name", self.config.model)
        human = ("SYNTHETIC human data (generated; not real survey answers: pass --wvs FILE for real WVS-7 data)"
                 if self.synthetic else f"human data from {self.config.wvs}")
        n_items = self.prompts["item_id"].nunique()
        from .prompts import NO_COUNTRY

        n_countries = self.prompts.loc[self.prompts["country"] != NO_COUNTRY, "country"].nunique()
        mass = self.probs.drop_duplicates("prompt_id")["valid_mass"]
        lines = [
            f"wvsalign run: {model} on {n_items} items x {n_countries} countries ({len(self.prompts)} prompts)",
            f"human side: {human}",
            f"probability on valid answers before normalising: median {mass.median():.3f} (min {mass.min():.3f})",
            "",
            "alignment of model and human mean scores (Pearson r over country x item pairs):",
        ]
        table = self.alignment
        if len(table):
            varying = [c for c in VARIANT_COLUMNS if c in table.columns and table[c].nunique(dropna=False) > 1]
            cols = varying + [c for c in ("group", "estimate", "ci_low", "ci_high", "p", "n") if c in table.columns]
            shown = table[cols].rename(columns={"group": "category", "estimate": "r"})
            lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        else:
            lines.append("(no category had enough country x item pairs)")
        lines += ["", f"results in {self.run_dir}/ (config.yaml, prompts.parquet, probs.parquet, human.parquet, "
                      "scores.parquet, alignment.csv)"]
        return "\n".join(lines)


# ---- the job ------------------------------------------------------------------------------
def select_items(config: RunConfig) -> Any:
    """The item bank of a run: the embedded bank filtered by categories/items, or the demo subset."""
    from .survey.items import ItemBank

    bank = ItemBank.wvs7()
    if config.categories or config.items:
        bank = bank.filter(categories=config.categories, ids=config.items)
    if config.demo and not config.items:
        picked: list[str] = []
        for category in bank.categories:
            ordinal = [it.item_id for it in bank if it.category == category and it.scale == "ordinal"]
            picked.extend(ordinal[:DEMO_ITEMS_PER_CATEGORY])
        bank = bank.filter(ids=picked)
    if len(bank) == 0:
        raise ConfigError("the item selection is empty; check items/categories", value={"items": config.items,
                                                                                        "categories": config.categories})
    return bank


def run(
    config: RunConfig | Mapping[str, Any],
    *,
    backend: Any = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> RunResult:
    """Run the main job described by ``config`` (see the module docstring).

    Parameters
    ----------
    config : RunConfig or mapping
        The run's settings.
    backend : Backend, optional
        A pre-loaded :class:`~wvsalign.inference.backend.Backend` used instead of loading
        ``config.model`` (a study loads each model once and runs all its conditions).
    overwrite : bool
        Replace the results of a run directory made with another config.
    progress : bool
        Progress bars.
    echo : callable or None
        Where the run's notes go (default ``print``).

    Returns
    -------
    RunResult
    """
    from . import stats
    from .inference.backend import Backend, load_backend
    from .inference.runner import score, versions
    from .prompts import build_prompts
    from .survey.countries import Countries

    config = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    say = echo or (lambda _msg: None)
    bank = select_items(config)
    countries = Countries.load().resolve(config.countries)
    if backend is None:
        # unknown models, backends, dtypes and devices fail here, before anything is written;
        # the weights load only if there is work
        backend = load_backend(config.model, config.backend, device=config.device, dtype=config.dtype,
                               lazy=True, progress=progress)
    elif not isinstance(backend, Backend):
        raise InputError(f"backend must be a wvsalign Backend (load_backend(...)), got {type(backend).__name__}")
    dtype = str(backend.identity()["dtype"])  # as resolved for the device
    run_dir = Path(config.out)
    clear = _check_run_dir(run_dir, config, dtype, overwrite)

    say(f"wvsalign run: model {backend.name}, {len(bank)} items x {len(countries)} countries -> {run_dir}/")
    # human data and prompts before the first write: a bad --wvs file leaves the run directory as it was
    human, synthetic, countries = _human(config, bank, countries, say)
    prompts = build_prompts(  # model-neutral: the backend renders them for its model when scoring
        bank, countries, templates=config.templates, instructions=config.instructions,
        label_styles=config.label_styles, option_orders=config.option_orders, languages=config.languages,
        seed=config.seed,
    )
    if clear:
        _clear_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "wvsalign": versions(),
        "config": config.to_dict(),
        "dtype": dtype,
        "seeds": {"option_order": config.seed, "synthetic_human": config.seed},
        "demo_rule": DEMO_RULE if config.demo else None,
        "status": "running",
    }
    write_text_atomic(yaml.safe_dump(_plain(record), sort_keys=False, allow_unicode=True), run_dir / "config.yaml")
    write_parquet_atomic(human, run_dir / "human.parquet")
    write_parquet_atomic(prompts, run_dir / "prompts.parquet")
    probs = score(prompts, backend, run_dir, batch_size=config.batch_size, progress=progress, overwrite=overwrite)
    model_info = dict(probs.attrs.get("model_info") or {"name": backend.name})
    scores = stats.mean_scores(probs, human, bank)
    write_parquet_atomic(scores, run_dir / "scores.parquet")
    alignment = stats.alignment(scores, by="category", seed=config.seed)
    write_csv_atomic(alignment, run_dir / "alignment.csv")

    record.update({
        "status": "finished",
        "model": model_info,
        "human": {"synthetic": synthetic, "source": str(human.attrs.get("source", config.wvs or "synthetic")),
                  "countries": int(human["country"].nunique()), "items": int(human["item_id"].nunique())},
        "counts": {"items": len(bank), "countries": len(countries), "prompts": int(len(prompts)),
                   "prob_rows": int(len(probs))},
        "shard_problems": list(probs.attrs.get("shard_problems", [])),
    })
    write_text_atomic(yaml.safe_dump(_plain(record), sort_keys=False, allow_unicode=True), run_dir / "config.yaml")
    return RunResult(run_dir=run_dir, config=config, prompts=prompts, probs=probs, human=human, scores=scores,
                     alignment=alignment, synthetic=synthetic, model_info=model_info)


def _human(
    config: RunConfig, bank: Any, countries: Sequence[str], say: Callable[[str], None]
) -> tuple[pd.DataFrame, bool, list[str]]:
    """The human table, whether it is synthetic, and the countries to prompt for.

    Countries the user named must all be in a ``--wvs`` file; of the default set, those the file
    lacks are left out (and said so).
    """
    from .survey import read_wvs
    from .survey.synthetic import synthetic_human

    if not config.wvs:
        say("NOTE: no --wvs file given: the human side is SYNTHETIC WVS-format data (generated, not real survey "
            "answers); alignment figures below only demonstrate the pipeline")
        return synthetic_human(bank, countries, seed=config.seed, min_n=config.min_n), True, list(countries)
    named = config.countries != RunConfig().countries
    # strict (unasked cells and absent item columns are errors) only when the user named both the
    # items and the countries; otherwise they are left out with a DataWarning
    strict = config.items is not None and named
    data = read_wvs(config.wvs, items=bank, countries=list(countries) if named else None, strict=strict)
    human = data.distributions(min_n=config.min_n)  # data.bank: the items the file has
    if not named:
        present = set(human["country"])
        missing = [c for c in countries if c not in present]
        if missing:
            say(f"NOTE: {config.wvs} has no usable answers for {len(missing)} of the {len(countries)} countries "
                f"of the default set ({', '.join(missing)}); they are left out")
        countries = [c for c in countries if c in present]
        human = human[human["country"].isin(countries)].reset_index(drop=True)
    synthetic = bool(human.attrs.get("synthetic", False))
    if synthetic:
        say(f"NOTE: {config.wvs} is a SYNTHETIC WVS-format file, not real survey data")
    return human, synthetic, list(countries)


def _check_run_dir(run_dir: Path, config: RunConfig, dtype: str, overwrite: bool) -> bool:
    """Refuse a run directory made with a different config unless ``overwrite``; True when it must be cleared.

    Nothing is changed here (the caller clears the directory once the run's inputs are read). The
    dtype is compared as resolved for the device (``auto`` is float32 on CPU), as config.yaml records it.
    """
    path = run_dir / "config.yaml"
    if path.exists():
        try:
            old = RunConfig.from_yaml(path)
        except InputError:
            old = None
        a = None if old is None else _compared_fields(old, _recorded_dtype(path, old))
        b = _compared_fields(config, dtype)
        if a == b:
            return False
        if not overwrite:
            if a is None:
                detail = "its config.yaml is unreadable"
            else:
                detail = "; ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k])
            raise ConfigError(
                f"run directory {run_dir} was created by a different config ({detail}); pass --overwrite "
                "(overwrite=True) to replace its results, or choose another --out",
                file=path,
            )
        return True
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        known = [p.name for p in run_dir.iterdir() if p.name in RUN_FILES]
        if known:
            raise ConfigError(f"run directory {run_dir} holds results ({known}) but no config.yaml; pass --overwrite "
                              "to replace them, or choose another --out")
        return False
    return overwrite and run_dir.exists()


def _resolved_dtype(config: RunConfig) -> str:
    """The dtype the model is scored in: ``config.dtype`` with "auto"/None resolved for ``config.device``."""
    from .inference.loading import resolve_device, resolve_dtype

    return str(resolve_dtype(config.dtype, resolve_device(config.device))).replace("torch.", "")


def _recorded_dtype(path: Path, old: RunConfig) -> str | None:
    """The resolved dtype a run directory's config.yaml records (else its config's, resolved here)."""
    raw = _yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, Mapping) and "wvsalign" in raw and isinstance(raw.get("dtype"), str):
        return raw["dtype"]
    try:
        return _resolved_dtype(old)
    except InputError:
        return None if old.dtype is None else str(old.dtype)


def _compared_fields(config: RunConfig, dtype: str | None) -> dict[str, Any]:
    """The settings a run directory must agree on to resume, with the dtype as resolved."""
    return {**config.result_fields(), "dtype": dtype}


def _clear_run(run_dir: Path) -> None:
    for name in RUN_FILES:
        target = run_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _plain(value: Any) -> Any:
    """Make a record YAML-safe (numpy scalars, paths, tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, Path)):
        return str(value)  # also str subclasses such as torch's version string
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
