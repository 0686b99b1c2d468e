"""The study file: many models x conditions, one YAML file.

A study names the models to compare (registry names, local Hugging Face folders or .gguf
files, each with optional metadata overrides), the conditions (prompt variants), the items
and countries, the human side and the seed. Every model x condition pair becomes one run
directory ``<study dir>/runs/<model>/<condition>/`` made by :func:`wvsalign.pipeline.run`.

>>> spec = StudySpec.from_yaml("data/studies/demo.yaml")
>>> [(m.name, c.name) for m, c, _ in spec.plan("studies/demo")]

Layout of the file (every key but ``models`` optional)::

    name: demo
    description: the two embedded models on the demo items
    models:
      - smollm2-135m                         # a registry name, folder or .gguf file
      - name: gemma3                         # the run directory's name and the model column
        model: gemma3-270m                   # what to load (default: name)
        backend: hf                          # default hf
        metadata: {multilingual: true, family: gemma}   # overrides for the regressions
    conditions:                              # name -> prompt variants (RunConfig fields)
      persona: {templates: [persona]}
      default: {templates: [default]}
    items: [Q1, Q2]                          # or categories: [...] or demo: true; default all
    countries: default                       # ISO3 codes, names or set names
    human: synthetic                         # or {wvs: FILE} (a WVS-7 file)
    seed: 0
    min_n: 30
    batch_size: auto
    device: null
    dtype: null
    resources: {num_cpus: 1, num_gpus: 0, memory: 4e9}   # per run, for --executor ray
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import _yaml
from ..errors import ConfigError

#: RunConfig fields a condition may set (the prompt variants)
CONDITION_FIELDS = ("templates", "instructions", "label_styles", "option_orders", "languages", "answer_prefixes")

#: model metadata keys the regressions use (any other key is kept as well)
METADATA_KEYS = ("params", "multilingual", "instruction_tuned", "family", "release")

#: top-level keys of a study file
STUDY_KEYS = ("name", "description", "models", "conditions", "items", "categories", "demo", "countries", "human",
              "seed", "min_n", "batch_size", "device", "dtype", "resources")

#: keys of ``resources`` (what one model x condition run asks of a Ray cluster)
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_name(value: Any, what: str, source: str | None) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value in (".", ".."):
        raise ConfigError(f"{what} must be a name of letters, digits, '.', '_' or '-' (it names a folder)",
                          file=source, value=value)
    return value


@dataclass(frozen=True)
class StudyModel:
    """One model of a study.

    Parameters
    ----------
    name : str
        The model's label: its run directories' folder name and its value in the ``model`` column.
    model : str
        What to load: a registry name, a local Hugging Face folder or a ``.gguf`` file.
    backend : str
        The backend that serves it (``"hf"``).
    metadata : dict
        Overrides of the metadata the backend reports (params, multilingual, instruction_tuned,
        family, release, ...), used by the cross-model regressions.
    """

    name: str
    model: str
    backend: str = "hf"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, source: str | None, index: int) -> "StudyModel":
        if isinstance(raw, str):
            raw = {"model": raw}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"models[{index}] must be a model name or a mapping with 'model'", file=source, value=raw)
        unknown = sorted(set(raw) - {"name", "model", "backend", "metadata"})
        if unknown:
            raise ConfigError(f"models[{index}] has unknown key(s) {unknown}; expected name, model, backend, metadata",
                              file=source)
        model = raw.get("model", raw.get("name"))
        if not isinstance(model, str) or not model:
            raise ConfigError(f"models[{index}] needs 'model' (a registry name, folder or .gguf file)", file=source,
                              value=raw)
        default_name = Path(model).stem if ("/" in model or model.endswith(".gguf")) else model
        name = _check_name(raw.get("name", default_name), f"models[{index}].name", source)
        backend = raw.get("backend", "hf")
        if not isinstance(backend, str) or not backend:
            raise ConfigError(f"models[{index}].backend must be a backend name such as 'hf'", file=source, value=backend)
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ConfigError(f"models[{index}].metadata must be a mapping", file=source, value=metadata)
        if "params" in metadata:
            params = metadata["params"]
            try:
                ok = float(params) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok or isinstance(params, bool):
                raise ConfigError(f"models[{index}].metadata.params must be a positive number of parameters",
                                  file=source, value=params)
        for key in ("multilingual", "instruction_tuned"):
            if key in metadata and not isinstance(metadata[key], bool):
                raise ConfigError(f"models[{index}].metadata.{key} must be true or false", file=source,
                                  value=metadata[key])
        return cls(name=name, model=model, backend=backend, metadata=dict(metadata))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "backend": self.backend, "metadata": dict(self.metadata)}

    def merged_metadata(self, recorded: Mapping[str, Any] | None) -> dict[str, Any]:
        """The model's metadata: what its run recorded, overridden by the study file's ``metadata``.

        Parameters
        ----------
        recorded : mapping or None
            The ``model`` section of a run's ``config.yaml`` (what the backend reported); only
            its scalar values (text, numbers, true/false, null) are kept.

        Returns
        -------
        dict
            The recorded scalars updated with :attr:`metadata` (the study's overrides win).

        Examples
        --------
        >>> m = StudyModel("g", "gemma3-270m", metadata={"multilingual": True, "family": "gemma"})
        >>> m.merged_metadata({"name": "gemma3-270m", "multilingual": False, "params": 268e6})
        {'name': 'gemma3-270m', 'multilingual': True, 'params': 268000000.0, 'family': 'gemma'}
        """
        info = {k: v for k, v in (recorded or {}).items() if isinstance(v, (str, int, float, bool, type(None)))}
        info.update(dict(self.metadata))
        return info


@dataclass(frozen=True)
class StudyCondition:
    """One condition of a study: a name and the prompt variants it sets (RunConfig fields)."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: Any, raw: Any, source: str | None) -> "StudyCondition":
        name = _check_name(name, "a condition name", source)
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"condition {name!r} must be a mapping of {list(CONDITION_FIELDS)}", file=source,
                              value=raw)
        unknown = sorted(set(raw) - set(CONDITION_FIELDS))
        if unknown:
            raise ConfigError(f"condition {name!r} has unknown key(s) {unknown}; expected some of "
                              f"{list(CONDITION_FIELDS)}", file=source)
        settings = {k: ([v] if isinstance(v, str) else list(v)) for k, v in raw.items()}
        return cls(name=name, settings=settings)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.settings.items()}


@dataclass(frozen=True)
class StudyResources:
    """What one model x condition run asks of the cluster under ``--executor ray``.

    Parameters
    ----------
    num_cpus : float
        CPU cores per run (Ray's ``num_cpus``; default 1).
    num_gpus : float
        GPUs per run (Ray's ``num_gpus``; fractions share a GPU; default 0).
    memory : int or None
        Bytes of memory reserved per run (Ray's ``memory``; default none reserved).
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None

    @classmethod
    def parse(cls, raw: Any, source: str | None) -> "StudyResources":
        """Validate a ``resources`` mapping; the message names the file and the key."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(f"'resources' must be a mapping of {list(RESOURCE_KEYS)}", file=source, value=raw)
        unknown = sorted(set(raw) - set(RESOURCE_KEYS))
        if unknown:
            raise ConfigError(f"resources has unknown key(s) {unknown}; expected some of {list(RESOURCE_KEYS)}",
                              file=source)
        values: dict[str, Any] = {}
        for key in RESOURCE_KEYS:
            if raw.get(key) is None:
                continue
            value = raw[key]
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if isinstance(value, bool) or not number >= 0 or number == float("inf"):
                raise ConfigError(f"resources.{key} must be a number >= 0", file=source, value=value)
            if key == "memory":
                if number <= 0:
                    raise ConfigError("resources.memory must be a positive number of bytes", file=source, value=value)
                values[key] = int(number)
            else:
                values[key] = number
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "memory": self.memory}


@dataclass(frozen=True)
class StudySpec:
    """A study: models x conditions over one set of items, countries and human data.

    Build it with :meth:`from_yaml` or :meth:`from_dict`; :meth:`plan` lists the runs.
    """

    name: str
    models: tuple[StudyModel, ...]
    conditions: tuple[StudyCondition, ...]
    description: str = ""
    items: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    demo: bool = False
    countries: tuple[str, ...] = ("default",)
    wvs: str | None = None
    seed: int = 0
    min_n: int = 30
    batch_size: int | str = "auto"
    device: str | None = None
    dtype: str | None = None
    resources: StudyResources = field(default_factory=StudyResources)
    source: str | None = None

    @property
    def synthetic(self) -> bool:
        """True when the human side is synthetic (no WVS file named)."""
        return self.wvs is None

    # ---- reading -----------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "StudySpec":
        """Read a study file (see the module docstring for its layout).

        Raises
        ------
        ConfigError
            When the file is missing, not YAML, or a key or value is not what a study file takes
            (the message names the file and the key).
        """
        path = Path(path)
        raw = _yaml.load_file(path, what="study file (YAML: models, conditions, items, countries, human)",
                              error=ConfigError)
        spec = cls.from_dict(raw, source=str(path))
        if spec.wvs is not None and not Path(spec.wvs).is_absolute():
            # a relative WVS path is read relative to the study file
            candidate = (path.parent / spec.wvs)
            if candidate.exists():
                spec = dataclasses.replace(spec, wvs=str(candidate))
        return spec

    @classmethod
    def from_dict(cls, raw: Any, *, source: str | None = None) -> "StudySpec":
        """Build a study from a mapping with the keys of a study file."""
        if not isinstance(raw, Mapping):
            raise ConfigError("a study file must be a mapping with at least 'models'", file=source, value=type(raw).__name__)
        unknown = sorted(set(raw) - set(STUDY_KEYS))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; a study file takes {list(STUDY_KEYS)}", file=source)
        models_raw = raw.get("models")
        if not isinstance(models_raw, Sequence) or isinstance(models_raw, str) or not models_raw:
            raise ConfigError("'models' must be a non-empty list of models", file=source, value=models_raw)
        models = tuple(StudyModel.parse(m, source, i) for i, m in enumerate(models_raw))
        dup = sorted({m.name for m in models if sum(x.name == m.name for x in models) > 1})
        if dup:
            raise ConfigError(f"model name(s) {dup} appear more than once; give each model a distinct 'name'",
                              file=source)
        cond_raw = raw.get("conditions") or {"persona": {"templates": ["persona"]}}
        if not isinstance(cond_raw, Mapping):
            raise ConfigError("'conditions' must be a mapping of condition name -> prompt variants", file=source,
                              value=cond_raw)
        conditions = tuple(StudyCondition.parse(k, v, source) for k, v in cond_raw.items())
        human = raw.get("human", "synthetic")
        wvs = None
        if isinstance(human, Mapping):
            extra = sorted(set(human) - {"wvs"})
            if extra or not isinstance(human.get("wvs"), str):
                raise ConfigError("'human' must be 'synthetic' or {wvs: FILE}", file=source, value=dict(human))
            wvs = human["wvs"]
        elif human != "synthetic":
            raise ConfigError("'human' must be 'synthetic' or {wvs: FILE}", file=source, value=human)

        def names(key: str) -> tuple[str, ...] | None:
            value = raw.get(key)
            if value is None:
                return None
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, Sequence) or not value:
                raise ConfigError(f"'{key}' must be a non-empty list", file=source, value=value)
            return tuple(str(v) for v in value)

        countries = names("countries") or ("default",)
        spec = cls(
            name=_check_name(raw.get("name", Path(source).stem if source else "study"), "name", source),
            description=str(raw.get("description") or ""),
            models=models, conditions=conditions,
            items=names("items"), categories=names("categories"), demo=bool(raw.get("demo", False)),
            countries=countries, wvs=wvs, seed=raw.get("seed", 0), min_n=raw.get("min_n", 30),
            batch_size=raw.get("batch_size", "auto"), device=raw.get("device"), dtype=raw.get("dtype"),
            resources=StudyResources.parse(raw.get("resources"), source), source=source,
        )
        for model, condition, config in spec.plan("."):  # validates every run's settings now
            del model, condition, config
        return spec

    # ---- the runs ----------------------------------------------------------------------------
    def run_config(self, model: StudyModel, condition: StudyCondition, study_dir: str | Path) -> Any:
        """The :class:`~wvsalign.pipeline.RunConfig` of one model x condition run."""
        from ..pipeline import RunConfig

        settings: dict[str, Any] = {
            "model": model.model, "wvs": self.wvs,
            "items": list(self.items) if self.items else None,
            "categories": list(self.categories) if self.categories else None,
            "demo": self.demo, "countries": list(self.countries), "seed": self.seed, "min_n": self.min_n,
            "batch_size": self.batch_size, "device": self.device, "dtype": self.dtype,
            "out": str(run_dir(study_dir, model.name, condition.name)),
        }
        if "backend" in {f.name for f in dataclasses.fields(RunConfig)}:
            settings["backend"] = model.backend
        settings.update(condition.settings)
        try:
            return RunConfig.from_dict(settings, source=self.source)
        except ConfigError as exc:
            detail = str(exc).split(": ", 1)[1] if self.source and str(exc).startswith(f"{self.source}: ") else str(exc)
            raise ConfigError(f"model {model.name!r} x condition {condition.name!r}: {detail}",
                              file=self.source) from None

    def plan(self, study_dir: str | Path) -> list[tuple[StudyModel, StudyCondition, Any]]:
        """Every (model, condition, RunConfig) of the study, models in file order."""
        return [(m, c, self.run_config(m, c, study_dir)) for m in self.models for c in self.conditions]

    def to_dict(self) -> dict[str, Any]:
        """The study as a plain mapping (written to ``study.yaml`` in the study directory)."""
        return {
            "name": self.name, "description": self.description,
            "models": [m.to_dict() for m in self.models],
            "conditions": {c.name: c.to_dict() for c in self.conditions},
            "items": list(self.items) if self.items else None,
            "categories": list(self.categories) if self.categories else None,
            "demo": self.demo, "countries": list(self.countries),
            "human": {"wvs": self.wvs} if self.wvs else "synthetic",
            "seed": self.seed, "min_n": self.min_n, "batch_size": self.batch_size,
            "device": self.device, "dtype": self.dtype, "resources": self.resources.to_dict(),
        }


def read_study_record(study_dir: str | Path) -> StudySpec:
    """The study a study directory holds: its ``study.yaml`` (written by ``wvsalign study run``).

    Parameters
    ----------
    study_dir : str or Path
        A study directory.

    Returns
    -------
    StudySpec

    Raises
    ------
    ConfigError
        When the directory holds no ``study.yaml``, or it is not a study record (the message
        names the file and the key).
    """
    record = Path(study_dir) / "study.yaml"
    if not record.is_file():
        raise ConfigError("not a study directory: it has no study.yaml (made by 'wvsalign study run')",
                          file=study_dir)
    raw = _yaml.load_file(record, what="study record", error=ConfigError)
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "wvsalign_study"}
    return StudySpec.from_dict(raw, source=str(record))


def run_dir(study_dir: str | Path, model: str, condition: str) -> Path:
    """The run directory of one model x condition inside a study directory."""
    return Path(study_dir) / "runs" / model / condition
