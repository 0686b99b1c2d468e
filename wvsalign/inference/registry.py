"""The model registry: embedded models by name, local folders and GGUF files by path.

``wvsalign/data/models.yaml`` lists the embedded models (layout in its header). A model is
given to wvsalign as

* a registry name (``"smollm2-135m"``, ``"gemma3-270m"``);
* a local Hugging Face folder (with ``config.json``) or a ``.gguf`` file, optionally with
  metadata from the user: ``model_spec("path/to/folder", name="my-model",
  instruction_tuned=True, multilingual=False)`` or a mapping ``{"path": ..., "name": ...,
  "instruction_tuned": ..., "multilingual": ...}`` (the form a run config uses).

Nothing is downloaded: a name that is neither registered nor a local path is an error that
lists the known names. This module imports nothing of the conversion cache (which imports
it); :func:`~wvsalign.inference.models.list_models`, which needs both, lives in
:mod:`wvsalign.inference.models`.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping


from .. import _yaml
from ..errors import InputError, ModelError

SPEC_KEYS = ("path", "model", "name", "instruction_tuned", "multilingual", "description")


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file shipped inside a PyPI package."""

    package: str
    module: str
    file: str
    install: str
    assemble: str | None = None
    sha256_attr: str | None = None
    quantization: str | None = None

    def installed(self) -> bool:
        """True when the package is importable (and, for a shipped file, the file exists)."""
        folder = _package_folder(self.module)
        if folder is None:
            return False
        return self.assemble is not None or (folder / self.file).is_file()

    def expected_sha256(self) -> str | None:
        """The file's sha256 as the package states it (without building the file)."""
        if not self.sha256_attr or _package_folder(self.module) is None:
            return None
        return str(getattr(importlib.import_module(self.module), self.sha256_attr, "") or "") or None


@dataclass(frozen=True)
class ModelSpec:
    """What to load and the metadata recorded with every result."""

    name: str
    kind: str  # "gguf" or "folder"
    path: Path | None = None  # local file or folder; None for a packaged GGUF
    package: PackagedGGUF | None = None
    description: str = ""
    params: int | None = None
    instruction_tuned: bool | None = None
    multilingual: bool | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def quantization(self) -> str | None:
        """The GGUF quantization of a packaged model's weights (None when not stated)."""
        return self.package.quantization if self.package is not None else None


class Registry:
    """Named model specs (the embedded ``models.yaml`` by default)."""

    def __init__(self, specs: Mapping[str, ModelSpec], default: str | None = None) -> None:
        self._specs = dict(specs)
        self.default = default

    @classmethod
    def load(cls) -> "Registry":
        return _embedded_registry()

    @classmethod
    def from_dict(cls, raw: Mapping, *, source: str = "<dict>") -> "Registry":
        if not isinstance(raw, Mapping) or not isinstance(raw.get("models"), Mapping):
            raise InputError("expected a mapping with 'models' (name -> entry)", file=source)
        specs = {str(name): _parse_entry(str(name), entry, source) for name, entry in raw["models"].items()}
        default = raw.get("default")
        if default is not None and default not in specs:
            raise InputError(f"default model {default!r} is not among {sorted(specs)}", file=source)
        return cls(specs, default)

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str) -> ModelSpec:
        if name not in self._specs:
            raise ModelError(
                f"unknown model {name!r}; known models: {', '.join(self.names)} "
                f"(or give a local Hugging Face folder or .gguf file)"
            )
        return self._specs[name]


#: files of which a Hugging Face model folder needs one for its tokenizer
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def model_spec(
    spec: str | Path | ModelSpec | Mapping[str, Any],
    *,
    name: str | None = None,
    instruction_tuned: bool | None = None,
    multilingual: bool | None = None,
    registry: Registry | None = None,
) -> ModelSpec:
    """Resolve a registry name, a local path, a mapping or a ModelSpec; user flags override metadata."""
    registry = registry or Registry.load()
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise InputError(f"model spec has unknown key(s) {unknown}; expected some of {list(SPEC_KEYS)}")
        target = spec.get("path") or spec.get("model")
        if not target:
            raise InputError("model spec needs 'path' (a folder or .gguf file) or 'model' (a registry name)")
        resolved = model_spec(target, registry=registry)
        flags = {k: spec[k] for k in ("name", "instruction_tuned", "multilingual", "description") if spec.get(k) is not None}
        resolved = _with_flags(resolved, **flags)
    elif isinstance(spec, ModelSpec):
        resolved = spec
    elif isinstance(spec, (str, Path)):
        resolved = _resolve_text(str(spec), registry)
    else:
        raise InputError(f"model must be a registry name, a path or a mapping, got {type(spec).__name__}", value=spec)
    return _with_flags(resolved, name=name, instruction_tuned=instruction_tuned, multilingual=multilingual)


def packaged_gguf_path(spec: ModelSpec, cache_root_dir: Path) -> Path:
    """Where a packaged GGUF file is (or is assembled to); ModelError when the package is missing."""
    pkg = spec.package
    assert pkg is not None
    folder = _package_folder(pkg.module)
    if folder is None:
        raise ModelError(
            f"model {spec.name!r} needs the package {pkg.package} (module {pkg.module} not found); "
            f"install it with `{pkg.install}`"
        )
    if pkg.assemble:
        return cache_root_dir / "gguf" / pkg.file
    path = folder / pkg.file
    if not path.is_file():
        raise ModelError(
            f"model {spec.name!r}: the package {pkg.package} lacks {pkg.file} (looked in {folder}); "
            f"reinstall it with `{pkg.install}`"
        )
    return path


def assemble_packaged_gguf(spec: ModelSpec, target: Path) -> None:
    """Run the package's assemble function into ``target`` (the caller makes it atomic)."""
    pkg = spec.package
    assert pkg is not None and pkg.assemble
    module = importlib.import_module(pkg.module)
    try:
        getattr(module, pkg.assemble)(output_path=target, overwrite=True)
    except Exception as exc:  # missing chunks, disk full, hash mismatch inside the package
        raise ModelError(
            f"model {spec.name!r}: {pkg.package}.{pkg.assemble}() failed ({type(exc).__name__}: {exc}); "
            f"reinstall it with `{pkg.install}`"
        ) from None


# ---- helpers ----------------------------------------------------------------------------
def _package_folder(module: str) -> Path | None:
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0])


def _resolve_text(text: str, registry: Registry) -> ModelSpec:
    if text in registry:
        return registry.get(text)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSpec(name=path.stem, kind="gguf", path=path.resolve(), description=f"local GGUF file {path}")
    if path.is_dir():
        if (path / "config.json").is_file():
            if not any((path / name).is_file() for name in TOKENIZER_FILES):
                raise ModelError(f"{path} has config.json but no tokenizer; expected one of {list(TOKENIZER_FILES)} "
                                 "in the folder (save the tokenizer with the model)")
            return ModelSpec(name=path.resolve().name, kind="folder", path=path.resolve(),
                             description=f"local Hugging Face folder {path}")
        ggufs = sorted(path.glob("*.gguf"))
        hint = f"; it holds {ggufs[0].name}: pass that file" if ggufs else ""
        raise ModelError(f"{path} is not a Hugging Face model folder (no config.json){hint}")
    if path.exists():
        raise ModelError(f"{path} is neither a .gguf file nor a Hugging Face model folder")
    if "/" in text or "\\" in text or text.lower().endswith(".gguf"):
        raise ModelError(
            f"no such model file or folder: {text!r}; wvsalign loads local files only (no hub downloads): "
            f"download the model yourself and pass its folder. Known models: {', '.join(registry.names)}"
        )
    return registry.get(text)  # raises: unknown name, lists the known ones


def _with_flags(spec: ModelSpec, **flags: Any) -> ModelSpec:
    given = {k: v for k, v in flags.items() if v is not None}
    for key in ("instruction_tuned", "multilingual"):
        if key in given and not isinstance(given[key], bool):
            raise InputError(f"{key} must be true or false", value=given[key])
    if "name" in given and (not isinstance(given["name"], str) or not given["name"].strip()):
        raise InputError("model name must be a non-empty string", value=given["name"])
    return replace(spec, **given) if given else spec


def _parse_entry(name: str, entry: Any, source: str) -> ModelSpec:
    where = f"model {name}"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: expected a mapping", file=source)
    for key in ("instruction_tuned", "multilingual"):
        if not isinstance(entry.get(key), bool):
            raise InputError(f"{where}: {key} must be true or false", file=source, value=entry.get(key))
    raw = entry.get("gguf")
    if raw is not None:
        missing = [k for k in ("package", "module", "file", "install") if not raw.get(k)]
        if missing:
            raise InputError(f"{where}: gguf lacks {missing}", file=source)
        package = PackagedGGUF(
            package=str(raw["package"]), module=str(raw["module"]), file=str(raw["file"]),
            install=str(raw["install"]), assemble=raw.get("assemble"), sha256_attr=raw.get("sha256_attr"),
            quantization=raw.get("quantization"),
        )
        kind, path = "gguf", None
    elif entry.get("path"):
        package, path = None, Path(str(entry["path"])).expanduser()
        kind = "gguf" if path.suffix.lower() == ".gguf" else "folder"
    else:
        raise InputError(f"{where}: needs 'gguf' (a packaged file) or 'path'", file=source)
    return ModelSpec(
        name=name,
        kind=kind,
        path=path,
        package=package,
        description=str(entry.get("description", "")),
        params=entry.get("params"),
        instruction_tuned=entry["instruction_tuned"],
        multilingual=entry["multilingual"],
        sources=dict(entry.get("sources") or {}),
    )


@lru_cache(maxsize=1)
def _embedded_registry() -> Registry:
    text = resources.files("wvsalign").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return Registry.from_dict(_yaml.safe_load(text), source="wvsalign/data/models.yaml")
