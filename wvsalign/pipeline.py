"""The main job: prompts -> model probabilities -> human data -> mean scores -> alignment.

>>> from wvsalign.pipeline import RunConfig, run
>>> result = run(RunConfig(out="runs/demo", demo=True))
>>> print(result.summary())

``run(config)`` writes into the run directory ``config.out``:

* ``config.yaml``: the full :class:`RunConfig`, the run's identity (the settings that shape
  results, with the dtype as resolved for the device), package versions, seeds, the model's
  metadata (weights' sha256, counted parameters, ...), whether the human data is synthetic,
  and the status (``running``, ``finished``, or ``failed`` with the error); written once the
  human data and prompts are built, so a run that fails on its inputs leaves the run
  directory as it was;
* ``prompts.parquet``, ``probs/`` (resumable shards) and ``probs.parquet``;
* ``human.parquet`` (from ``--wvs FILE`` or, without one, SYNTHETIC WVS-format data);
* ``scores.parquet`` (mean scores, human and model) and ``alignment.csv`` (Pearson r of
  model vs human mean scores per category, with confidence intervals).

A re-run with the same config resumes (a finished one does no model work); a run directory
made with a different config (dtypes compared as resolved: "auto" is float32 on CPU; the
batch size as requested, since it changes the last bits of the numbers) or other model
weights is refused unless ``overwrite=True`` (``--overwrite``), which replaces the old results
only once the new inputs are read and the new model has loaded. The run directory itself
(layout, lock, record, checks, overwrite) belongs to :class:`wvsalign.runs.RunDir`; a
finished run is reopened with :meth:`wvsalign.runs.RunResult.load`.
The demo (``demo=True``) scores :data:`DEMO_RULE` so that it finishes in minutes on a laptop.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import yaml

from . import _yaml
from ._io import write_csv_atomic, write_parquet_atomic
from .errors import ConfigError, InputError
from .runs import LAYOUT, RunDir, RunResult, plain

#: how the demo picks its items
DEMO_RULE = "the first two ordinal items of each of the 12 WVS-7 categories, in questionnaire order (24 items)"
DEMO_ITEMS_PER_CATEGORY = 2

#: RunConfig fields that do not change results (a run may resume with other values); the batch
#: size does (by a few ulps: padding and matrix shapes change), so it is part of the identity
NOT_RESULT_FIELDS = ("out", "device")

#: files a run writes (kept for compatibility: :data:`wvsalign.runs.LAYOUT` owns the layout)
RUN_FILES = LAYOUT


def _listify(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    raise ConfigError(f"{name} must be a list or a comma-separated string", value=value)


def _check_variants(config: "RunConfig") -> None:
    """Refuse unknown prompt variants before any data is read or model loaded (names the setting,
    the value and the values the built-in wording offers)."""
    from .prompts.options import LABEL_STYLES, OPTION_ORDERS
    from .prompts.translations import builtin_languages, translation_for

    languages = builtin_languages()
    for value in config.languages:
        if value not in languages and value != "native":
            raise ConfigError(f"unknown language {value!r} in languages; built-in languages are {languages} "
                              "(or 'native': each country in its main interview language)",
                              value=value)
    english = translation_for("en")
    allowed = {"templates": sorted(english.templates), "instructions": sorted(english.instructions),
               "label_styles": list(LABEL_STYLES), "option_orders": list(OPTION_ORDERS),
               "answer_prefixes": sorted(english.answer_prefixes)}
    for name, choices in allowed.items():
        for value in getattr(config, name):
            if value not in choices:
                raise ConfigError(f"unknown value {value!r} in {name}; expected some of {choices}", value=value)


def _default_for_every_country(scores: Any) -> Any:
    """A run whose prompts name no country (only the ``default`` template) has model rows of
    country NONE only: compare that one answer with every country's people (else nothing pairs)."""
    import pandas as pd

    from . import stats
    from .contracts import HUMAN, NO_COUNTRY

    is_model = scores["model"] != HUMAN
    if not is_model.any() or (scores.loc[is_model, "country"] != NO_COUNTRY).any():
        return scores
    countries = scores.loc[~is_model, "country"].unique()
    return pd.concat([scores[~is_model], stats.broadcast_default(scores[is_model], countries, NO_COUNTRY)],
                     ignore_index=True)


def _default_answer_prefix() -> str:
    from .prompts.builder import DEFAULT_ANSWER_PREFIX

    return DEFAULT_ANSWER_PREFIX


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
    # what opens the answer (the translation files' answer_prefixes: none, answer, the_answer_is)
    answer_prefixes: list[str] = field(default_factory=lambda: [_default_answer_prefix()])
    seed: int = 0  # option shuffling and synthetic human data
    batch_size: int | str = "auto"
    device: str | None = None
    dtype: str | None = None
    min_n: int = 30  # countries with fewer valid answers to an item are left out for it
    demo: bool = False
    out: str = "runs/wvsalign"

    def __post_init__(self) -> None:
        for name in ("items", "categories"):
            given = getattr(self, name)
            setattr(self, name, _listify(given, name))
            if given is not None and not getattr(self, name):  # "" or "," is not "all items"
                raise ConfigError(f"{name} is empty; name at least one value, or leave {name} out for all", value=given)
        for name in ("countries", "templates", "instructions", "label_styles", "option_orders", "languages",
                     "answer_prefixes"):
            value = _listify(getattr(self, name), name)
            if not value:
                raise ConfigError(f"{name} must name at least one value", value=getattr(self, name))
            setattr(self, name, value)
        _check_variants(self)
        for name, least in (("seed", 0), ("min_n", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{name} must be a {'non-negative' if least == 0 else 'positive'} integer", value=value)
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
        from ._io import check_output_path

        try:
            self.out = str(check_output_path(self.out, "out", kind="dir"))
        except InputError as exc:
            raise ConfigError(str(exc)) from None

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


from .runs import LAYOUT, RunDir, RunResult, plain
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
    progress: bool | Callable[[int], None] = True,
    echo: Callable[[str], None] | None = print,
) -> RunResult:
    """Run the main job described by ``config`` (see the module docstring).

    Parameters
    ----------
    config : RunConfig or mapping
        The run's settings; a run directory's record (``RunResult.config``) works too.
    backend : Backend, optional
        A pre-loaded :class:`~wvsalign.inference.backend.Backend` used instead of loading
        ``config.model`` (a study loads each model once and runs all its conditions).
    overwrite : bool
        Replace the results of a run directory made with another config (only once the new
        inputs are read and the new model has loaded; only files wvsalign wrote).
    progress : bool or callable
        Progress bars; or a function called with the number of prompts scored after each batch
        (no bars: a study advances its own bar over all its runs).
    echo : callable or None
        Where the run's notes go (default ``print``).

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        When the run directory holds another run (without ``overwrite``), foreign files, or is
        in use by another process.
    """
    from . import stats
    from .inference.backend import Backend, load_backend
    from .inference.runner import score, versions
    from .inference.shards import prompts_digest
    from .prompts import build_prompts
    from .survey.countries import Countries

    if isinstance(config, Mapping) and "wvsalign" in config and isinstance(config.get("config"), Mapping):
        config = config["config"]
    config = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    say = echo or (lambda _msg: None)
    bank = select_items(config)
    countries = Countries.load().resolve(config.countries)
    if backend is None:
        # unknown models, backends, dtypes and devices fail here, before anything is written;
        # the weights load only if there is work
        backend = load_backend(config.model, config.backend, device=config.device, dtype=config.dtype,
                               lazy=True, progress=progress is True)
    elif not isinstance(backend, Backend):
        raise InputError(f"backend must be a wvsalign Backend (load_backend(...)), got {type(backend).__name__}")
    dtype = str(backend.identity()["dtype"])  # as resolved for the device, by the backend (once)
    run_dir = RunDir(config.out)
    identity = _compared_fields(config, dtype)
    plan = run_dir.check(identity, overwrite=overwrite, identity_of=_identity_of)  # changes nothing

    say(f"wvsalign run: model {backend.name}, {len(bank)} items x {len(countries)} countries -> {run_dir.path}/")
    # human data and prompts before the first write: a bad --wvs file leaves the run directory as it was
    human, synthetic, countries = _human(config, bank, countries, say)
    prompts = build_prompts(  # model-neutral: the backend renders them for its model when scoring
        bank, countries, templates=config.templates, instructions=config.instructions,
        label_styles=config.label_styles, option_orders=config.option_orders, languages=config.languages,
        answer_prefixes=config.answer_prefixes, seed=config.seed,
    )
    with run_dir.locked():  # from here to the last write: one process per run directory
        plan = run_dir.check(identity, overwrite=overwrite, identity_of=_identity_of)  # again, under the lock
        if plan == "unknown":  # config.yaml lost or damaged: resumable when the prompts are the same
            plan = run_dir.check_unknown(prompts_digest(prompts), overwrite=overwrite)
            if plan == "resume":
                say(f"NOTE: {run_dir.path / 'config.yaml'} was {run_dir.read_record()[1]}; it is rebuilt, and the "
                    "intact shards are checked against probs/manifest.json")
        if plan == "replace":
            # the old results go only once the new model has loaded
            if hasattr(backend, "load"):
                backend.load()
            run_dir.clear()
        record: dict[str, Any] = {
            "wvsalign": versions(),
            "config": config.to_dict(),
            "identity": identity,
            "backend": plain(dict(backend.identity())),
            "dtype": dtype,
            "seeds": {"option_order": config.seed, "synthetic_human": config.seed},
            "demo_rule": DEMO_RULE if config.demo else None,
            "status": "running",
        }
        run_dir.write_record(record)
        try:
            write_parquet_atomic(human, run_dir.path / "human.parquet")
            write_parquet_atomic(prompts, run_dir.path / "prompts.parquet")
            probs = score(prompts, backend, run_dir, batch_size=config.batch_size, progress=progress,
                          overwrite=overwrite)
            manifest = _manifest(run_dir)
            model_info = dict(manifest.get("model") or probs.attrs.get("model_info") or {"name": backend.name})
            scores = stats.mean_scores(probs, human, bank)
            write_parquet_atomic(scores, run_dir.path / "scores.parquet")
            alignment = stats.alignment(_default_for_every_country(scores), by="category", seed=config.seed)
            write_csv_atomic(alignment, run_dir.path / "alignment.csv")
        except BaseException as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000])
            run_dir.write_record(record)
            raise

        record.update({
            "status": "finished",
            "model": model_info,
            "human": {"synthetic": synthetic, "source": str(human.attrs.get("source", config.wvs or "synthetic")),
                      "countries": int(human["country"].nunique()), "items": int(human["item_id"].nunique())},
            "counts": {"items": len(bank), "countries": len(countries), "prompts": int(len(prompts)),
                       "prob_rows": int(len(probs))},
            "shard_problems": list(run_dir.problems),
        })
        run_dir.write_record(record)
    return RunResult(run_dir.path, plain(record), "finished", prompts=prompts, probs=probs, human=human,
                     scores=scores, alignment=alignment, problems=record["shard_problems"])


def _manifest(run_dir: RunDir) -> dict[str, Any]:
    """The shard manifest (model metadata) of a run directory ({} when unreadable)."""
    import json

    try:
        return json.loads((run_dir.probs_folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


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


def _resolved_dtype(config: RunConfig) -> str:
    """The dtype the model is scored in: ``config.dtype`` with "auto"/None resolved for ``config.device``."""
    from .inference.loading import resolve_device, resolve_dtype

    return str(resolve_dtype(config.dtype, resolve_device(config.device))).replace("torch.", "")


def _identity_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The identity of a record written before records carried one: its config's result fields and
    its resolved dtype (else the config's, resolved here)."""
    try:
        old = RunConfig.from_dict(record["config"])
    except (ConfigError, KeyError, TypeError):
        return None
    dtype = record.get("dtype") if isinstance(record.get("dtype"), str) else None
    if dtype is None:
        try:
            dtype = _resolved_dtype(old)
        except InputError:
            dtype = None if old.dtype is None else str(old.dtype)
    return _compared_fields(old, dtype)


def _compared_fields(config: RunConfig, dtype: str | None) -> dict[str, Any]:
    """The settings a run directory must agree on to resume, with the dtype as resolved."""
    return {**config.result_fields(), "dtype": dtype}


#: kept for compatibility (records are made YAML-safe by :func:`wvsalign.runs.plain`)
_plain = plain
