"""Loading a model: device and dtype choice, the conversion cache, and the metadata of a run.

``load_model(spec)`` accepts what :func:`~wvsalign.inference.registry.model_spec` accepts (a
registry name, a local Hugging Face folder, a ``.gguf`` file, a mapping with user metadata)
and returns a :class:`LoadedModel`: the model in eval mode, its tokenizer and a
:class:`ModelInfo` recorded with every result. GGUF files go through the conversion cache
(:mod:`wvsalign.inference.cache`); folders load directly. Everything loads with
``local_files_only=True`` (no hub access); ``trust_remote_code`` stays off unless the caller
turns it on.

Device ``None`` picks cuda, then mps, then cpu. Dtype ``None`` picks float32 on cpu and mps,
bfloat16 on cuda devices that support it (float32 otherwise).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from .cache import cache_root, cached_entry_for, ensure_converted, folder_hash, gguf_file, load_folder
from .registry import ModelSpec, model_spec

_DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
}


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of a loaded model, recorded with every result."""

    name: str
    source: str  # the GGUF file or the folder
    source_kind: str  # "gguf" or "folder"
    sha256: str  # sha256 of the GGUF file, or of the folder's (file, sha256) list
    params: int  # counted from the loaded weights (shared tensors once)
    instruction_tuned: bool | None  # None: unknown (a local model without the user's flag)
    multilingual: bool | None
    chat: bool  # the tokenizer has a chat template
    context_length: int | None
    family: str  # transformers model_type
    architecture: str  # model class
    dtype: str
    device: str
    quantization: str | None = None  # the GGUF quantization the weights were dequantized from
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    """A model ready for scoring: ``model`` (eval mode), ``tokenizer``, ``info``."""

    model: Any
    tokenizer: Any
    info: ModelInfo
    spec: ModelSpec

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> Any:
        return next(self.model.parameters()).dtype

    @property
    def name(self) -> str:
        return self.info.name


def load_model(
    spec: str | Path | ModelSpec | Mapping[str, Any],
    *,
    device: Any = None,
    dtype: Any = None,
    trust_remote_code: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> LoadedModel:
    """Load a model by registry name or local path (see the module docstring)."""
    resolved = model_spec(spec)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    root = cache_root(cache_dir)
    if resolved.kind == "gguf":
        folder, source, sha = ensure_converted(resolved, root, progress=progress)
    else:
        assert resolved.path is not None
        folder, source = resolved.path, resolved.path
        sha = folder_hash(folder, root, progress=progress)
    model, tokenizer = load_folder(folder, dtype=dt, trust_remote_code=trust_remote_code, progress=progress)
    model = model.to(dev).eval()
    config = model.config
    info = ModelInfo(
        name=resolved.name,
        source=str(source),
        source_kind=resolved.kind,
        sha256=sha,
        params=sum(p.numel() for p in model.parameters()),
        instruction_tuned=resolved.instruction_tuned,
        multilingual=resolved.multilingual,
        chat=bool(getattr(tokenizer, "chat_template", None)),
        context_length=context_length(config, tokenizer),
        family=str(getattr(config, "model_type", "") or ""),
        architecture=type(model).__name__,
        dtype=str(dt).replace("torch.", ""),
        device=str(dev),
        quantization=resolved.quantization,
        description=resolved.description,
    )
    return LoadedModel(model=model, tokenizer=tokenizer, info=info, spec=resolved)


def load_tokenizer(
    spec: str | Path | ModelSpec | Mapping[str, Any],
    *,
    cache_dir: str | Path | None = None,
    trust_remote_code: bool = False,
    progress: bool = True,
    convert: bool = False,
) -> Any:
    """Only the tokenizer (for building prompts): from the cache entry if there is one, else
    straight from the GGUF file or the folder. ``convert=True`` builds the cache entry first
    (worth it when the model is loaded next anyway: the GGUF is then read once)."""
    from transformers import AutoTokenizer

    from .cache import _progress_bars

    resolved = model_spec(spec)
    root = cache_root(cache_dir)
    if resolved.kind == "gguf":
        entry = ensure_converted(resolved, root, progress=progress)[0] if convert else cached_entry_for(resolved, root)
        if entry is not None:
            return AutoTokenizer.from_pretrained(str(entry), local_files_only=True)
        path = gguf_file(resolved, root, progress=progress)
        with _progress_bars(progress):
            return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    return AutoTokenizer.from_pretrained(str(resolved.path), local_files_only=True, trust_remote_code=trust_remote_code)


def resolve_device(device: Any = None) -> Any:
    """A torch.device: the given one (checked), else cuda, then mps, then cpu."""
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError("unknown device; expected cpu, cuda, cuda:N, mps or auto", value=device) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda requested but torch.cuda.is_available() is False", value=str(device))
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device mps requested but torch.backends.mps.is_available() is False", value=str(device))
    return dev


def resolve_dtype(dtype: Any, device: Any) -> Any:
    """A torch.dtype: the given one, else float32 (cpu, mps) or bfloat16 (cuda where supported)."""
    import torch

    if dtype is None or dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise InputError("dtype must be a floating type: float32, bfloat16 or float16", value=str(dtype))
        return dtype
    name = _DTYPES.get(str(dtype).lower().replace("torch.", ""))
    if name is None:
        raise InputError(f"unknown dtype; expected one of {sorted(set(_DTYPES))} or auto", value=dtype)
    return getattr(torch, name)


def context_length(config: Any, tokenizer: Any = None) -> int | None:
    """The model's context window in tokens, when the config or tokenizer states one."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else None
