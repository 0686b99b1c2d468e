"""Backends: the one interface between wvsalign and a model engine.

A :class:`Backend` serves one model: it renders model-neutral prompts for that model
(:meth:`~Backend.render`), tokenises text (:meth:`~Backend.encode`) and returns option
log-likelihoods for :class:`~wvsalign.inference.scoring.ScoringRequest` objects
(:meth:`~Backend.logprobs`). Its :meth:`~Backend.identity` is everything that makes its numbers
differ (recorded with every run, compared on resume); its :meth:`~Backend.info` is the model's
metadata (family, parameters, instruction tuning, ...) for the studies' regressions.

>>> backend = load_backend("smollm2-135m")            # registry name, local HF folder or .gguf file
>>> probs = score(build_prompts(bank, ["USA"]), backend)

Backends are registered by name (:func:`register_backend`); ``"hf"`` (:class:`HFBackend`,
transformers with the prefix-sharing :class:`~wvsalign.inference.engine.ScoringEngine`) is
built in. Adding an engine (vLLM, llama.cpp) is writing one class and registering it; the
runner, :func:`~wvsalign.inference.runner.score` and the pipeline see only this interface.
``tests/test_backend.py`` shows one: whole-sequence scoring per option, no shared prefixes.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError

#: version of the HF backend's numbers apart from the weights, dtype and libraries: bump when
#: the engine changes what it computes (recorded in the identity)
HF_ENGINE = "wvsalign-prefix-engine"
HF_ENGINE_VERSION = 1


class Backend(abc.ABC):
    """One model behind one engine (see the module docstring).

    Attributes
    ----------
    name : str
        Short model name (``"smollm2-135m"``), written into the probs table's ``model`` column.
    context_length : int or None
        The model's context window in tokens (None when unknown); longer prompts are refused.
    chat : bool
        True when prompts are rendered with the model's chat template.

    Subclasses set these as attributes or properties and implement the abstract methods.
    """

    name: str
    context_length: int | None
    chat: bool

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that makes results differ, as a plain YAML-able dict.

        At least: ``backend`` (the registered kind), ``name``, ``source``, ``sha256`` (of the
        weights), ``dtype`` (as resolved for the device), ``engine``, ``engine_version``,
        ``scoring_rule`` and ``prompt_format``. Must not need the weights in memory.
        """

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """The model's metadata: name, family, params, multilingual, instruction_tuned, chat,
        context_length and whatever else the backend knows (plain YAML-able values)."""

    @abc.abstractmethod
    def render(self, prompts: pd.DataFrame) -> pd.DataFrame:
        """Model-neutral prompts -> the same rows with ``text``, ``continuations``, ``label_end``,
        ``chat`` and ``prompt_format`` for this model (see :mod:`wvsalign.prompts.formats`)."""

    @abc.abstractmethod
    def encode(self, texts: Sequence[str], *, special_tokens: bool = True) -> list[tuple[int, ...]]:
        """Token ids of ``texts``: as prompt contexts (``special_tokens=True``: the model's special
        tokens such as BOS, added once) or as bare pieces (continuations)."""

    @abc.abstractmethod
    def logprobs(
        self,
        requests: Sequence[Any],
        *,
        batch_size: int | str = "auto",
        progress: Callable[[int], None] | None = None,
    ) -> list[np.ndarray]:
        """Per request, the log-likelihood of each option's continuation (float64).

        ``progress`` is called with the number of requests finished since the last call.
        """

    # ---- provided -------------------------------------------------------------------------
    def requests(self, rendered: pd.DataFrame, *, source: str | None = None) -> list[Any]:
        """The :class:`~wvsalign.inference.scoring.ScoringRequest` of every rendered prompt
        (the scoring rule of :mod:`wvsalign.inference.scoring`, with this backend's tokens)."""
        from .scoring import encode_requests

        return encode_requests(rendered, self, context_length=self.context_length, source=source)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ---- registry ------------------------------------------------------------------------------------
_BACKENDS: dict[str, Callable[..., Backend]] = {}


def register_backend(name: str, factory: Callable[..., Backend]) -> None:
    """Make ``load_backend(..., backend=name)`` call ``factory``.

    Parameters
    ----------
    name : str
        The backend's kind (``"hf"``, ``"vllm"``, ...); a later registration replaces an earlier one.
    factory : callable
        ``factory(name_or_path, *, device, dtype, trust_remote_code, progress, lazy, **options)``
        returning a :class:`Backend`. ``lazy=True`` asks it to defer loading weights until they
        are needed (a factory may load at once anyway).

    Raises
    ------
    InputError
        For an empty name or a factory that is not callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError("a backend name must be a non-empty string", value=name)
    if not callable(factory):
        raise InputError(f"the factory of backend {name!r} must be callable", value=factory)
    _BACKENDS[name] = factory


def backend_names() -> list[str]:
    """The registered backend kinds."""
    return sorted(_BACKENDS)


def load_backend(
    name_or_path: Any,
    backend: str = "hf",
    *,
    device: Any = None,
    dtype: Any = None,
    trust_remote_code: bool = False,
    progress: bool = True,
    lazy: bool = False,
    **options: Any,
) -> Backend:
    """The one entry point for models: a registry name, a local folder or a ``.gguf`` file.

    Parameters
    ----------
    name_or_path : str, Path or mapping
        What :func:`~wvsalign.inference.registry.model_spec` accepts (registry name, local
        Hugging Face folder, ``.gguf`` file, or a mapping with ``path`` and user metadata).
    backend : str
        The registered backend kind (default ``"hf"``: transformers).
    device, dtype : optional
        ``None``/"auto": cuda, then mps, then cpu; float32 on cpu and mps, bfloat16 on cuda
        where supported.
    trust_remote_code : bool
        Off by default.
    progress : bool
        Progress bars while converting or hashing large files.
    lazy : bool
        Resolve the model now (unknown names, devices and dtypes fail here) but load the weights
        only when first needed (what :func:`~wvsalign.inference.runner.score` does for a
        finished run directory, which needs no model work).
    **options
        Passed to the backend's factory (HF: ``cache_dir``, ``chat`` = None/True/False to choose
        the chat template or the plain format).

    Returns
    -------
    Backend

    Raises
    ------
    ConfigError
        For an unknown backend kind.
    ModelError, InputError
        For an unknown model, a missing file or package, a bad device or dtype.

    Examples
    --------
    >>> backend = load_backend("smollm2-135m", device="cpu")
    >>> backend.identity()["dtype"]
    'float32'
    """
    if isinstance(name_or_path, Backend):
        return name_or_path
    if backend not in _BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {backend_names()}", value=backend)
    return _BACKENDS[backend](name_or_path, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                              progress=progress, lazy=lazy, **options)


# ---- the Hugging Face backend ------------------------------------------------------------------
class HFBackend(Backend):
    """A transformers causal LM scored by :class:`~wvsalign.inference.engine.ScoringEngine`.

    Wraps :func:`~wvsalign.inference.loading.load_model` (registry, conversion cache, device
    and dtype choice) and the prefix-sharing engine. Also exposes ``model`` (the torch module),
    ``tokenizer``, ``device``, ``dtype`` and ``loaded`` (the
    :class:`~wvsalign.inference.loading.LoadedModel`). Built lazily (``lazy=True``), the
    tokenizer loads when prompts are rendered and the weights when they are first needed.

    Parameters
    ----------
    spec : str, Path, mapping or ModelSpec
        The model (see :func:`load_backend`).
    device, dtype, trust_remote_code, progress, cache_dir :
        As for :func:`~wvsalign.inference.loading.load_model`.
    chat : bool or None
        None: the chat template when the tokenizer has one; False: the plain format.
    lazy : bool
        Defer loading (see :func:`load_backend`).
    engine_options : mapping, optional
        Extra keyword arguments of :class:`~wvsalign.inference.engine.ScoringEngine`
        (``share_prefixes``, ``token_budget``, ...).
    """

    kind = "hf"

    def __init__(
        self,
        spec: Any,
        *,
        device: Any = None,
        dtype: Any = None,
        trust_remote_code: bool = False,
        progress: bool = True,
        cache_dir: str | Path | None = None,
        chat: bool | None = None,
        lazy: bool = False,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        from .loading import resolve_device, resolve_dtype
        from .registry import model_spec

        if chat is not None and not isinstance(chat, bool):
            raise InputError("chat must be true, false or None (the model's own format)", value=chat)
        self.spec = model_spec(spec)  # unknown names and missing paths fail here
        self.name = self.spec.name
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype, self._device)
        self._trust_remote_code = bool(trust_remote_code)
        self._progress = progress
        self._cache_dir = cache_dir
        self._chat_option = chat
        self._engine_options = dict(engine_options or {})
        self._loaded: Any = None
        self._tokenizer: Any = None
        self._format: Any = None
        self._sha256: str | None = None
        self._engines: dict[Any, Any] = {}
        if not lazy:
            self.load()

    @classmethod
    def from_loaded(cls, loaded: Any, *, chat: bool | None = None,
                    engine_options: Mapping[str, Any] | None = None) -> "HFBackend":
        """A backend around an already loaded :class:`~wvsalign.inference.loading.LoadedModel`."""
        from .loading import LoadedModel

        if not isinstance(loaded, LoadedModel):
            raise InputError(f"expected a LoadedModel, got {type(loaded).__name__}")
        self = cls.__new__(cls)
        self.spec = loaded.spec
        self.name = loaded.info.name
        self._device, self._dtype = loaded.device, loaded.dtype
        self._trust_remote_code, self._progress, self._cache_dir = False, False, None
        if chat is not None and not isinstance(chat, bool):
            raise InputError("chat must be true, false or None (the model's own format)", value=chat)
        self._chat_option = chat
        self._engine_options = dict(engine_options or {})
        self._loaded, self._tokenizer, self._format = loaded, loaded.tokenizer, None
        self._sha256 = loaded.info.sha256
        self._engines = {}
        return self

    # ---- loading ------------------------------------------------------------------------------
    def load(self) -> "HFBackend":
        """Load the weights now (a no-op once loaded)."""
        if self._loaded is None:
            from .loading import load_model

            self._loaded = load_model(self.spec, device=self._device, dtype=self._dtype,
                                      trust_remote_code=self._trust_remote_code, cache_dir=self._cache_dir,
                                      progress=self._progress)
            self._sha256 = self._loaded.info.sha256
            if self._tokenizer is None:
                self._tokenizer = self._loaded.tokenizer
        return self

    @property
    def is_loaded(self) -> bool:
        """True once the weights are in memory."""
        return self._loaded is not None

    @property
    def loaded(self) -> Any:
        """The :class:`~wvsalign.inference.loading.LoadedModel` (loads the weights)."""
        return self.load()._loaded

    @property
    def model(self) -> Any:
        """The torch module (eval mode; loads the weights)."""
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (loaded on its own, without the weights, when needed first)."""
        if self._tokenizer is None:
            from .loading import load_tokenizer

            self._tokenizer = load_tokenizer(self.spec, cache_dir=self._cache_dir, progress=self._progress,
                                             trust_remote_code=self._trust_remote_code, convert=True)
        return self._tokenizer

    @property
    def device(self) -> Any:
        return self._device

    @property
    def dtype(self) -> Any:
        return self._dtype

    # ---- the interface -----------------------------------------------------------------------
    @property
    def context_length(self) -> int | None:
        """From the model's config or tokenizer (loads the weights)."""
        return self.loaded.info.context_length

    @property
    def chat(self) -> bool:
        return self.prompt_format.chat

    @property
    def prompt_format(self) -> Any:
        """The :class:`~wvsalign.prompts.formats.PromptFormat` prompts are rendered in."""
        if self._format is None:
            from ..prompts.formats import get_format

            self._format = get_format(self.tokenizer, self._chat_option)
        return self._format

    def weights_sha256(self) -> str:
        """sha256 of the GGUF file (a package's stated hash, verified once per file) or of the
        folder's (file, sha256) list; remembered by path, size and mtime, so computed once."""
        if self._sha256 is None:
            from .cache import cache_root, folder_hash, gguf_sha256

            root = cache_root(self._cache_dir)
            self._sha256 = (gguf_sha256(self.spec, root, progress=self._progress) if self.spec.kind == "gguf"
                            else folder_hash(self.spec.path, root, progress=self._progress))
        return self._sha256

    def identity(self) -> dict[str, Any]:
        """backend, name, source, sha256, dtype (as resolved), engine and version, transformers
        version, scoring rule and prompt format: the same whether loaded or not."""
        import transformers

        from .scoring import SCORING_RULE

        spec = self.spec
        source = str(spec.path) if spec.path is not None else f"{spec.package.package}:{spec.package.file}"
        return {
            "backend": self.kind,
            "name": self.name,
            "source": source,
            "sha256": self.weights_sha256(),
            "dtype": str(self._dtype).replace("torch.", ""),
            "engine": HF_ENGINE,
            "engine_version": HF_ENGINE_VERSION,
            "transformers": str(transformers.__version__),
            "scoring_rule": SCORING_RULE,
            "prompt_format": self.prompt_format.name,
        }

    def info(self) -> dict[str, Any]:
        """:class:`~wvsalign.inference.loading.ModelInfo` as a dict plus ``backend`` (loads the weights)."""
        raw = self.loaded.info.to_dict()
        out = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in raw.items()}
        out["chat"] = self.chat  # the format prompts are rendered in (chat=False: plain)
        out["backend"] = self.kind
        return out

    def render(self, prompts: pd.DataFrame) -> pd.DataFrame:
        from ..prompts.formats import render_prompts

        fmt = self.prompt_format
        return render_prompts(prompts, fmt.tokenizer, chat=fmt.chat)

    def encode(self, texts: Sequence[str], *, special_tokens: bool = True) -> list[tuple[int, ...]]:
        from .scoring import tokenize

        return tokenize(self.tokenizer, texts, special_tokens=special_tokens)

    def engine(self, batch_size: int | str = "auto") -> Any:
        """The :class:`~wvsalign.inference.engine.ScoringEngine` for ``batch_size`` (one per size, kept)."""
        if batch_size not in self._engines:
            from .engine import ScoringEngine

            self._engines[batch_size] = ScoringEngine(
                self.model, batch_size=batch_size, pad_token_id=getattr(self.tokenizer, "pad_token_id", None) or 0,
                **self._engine_options,
            )
        return self._engines[batch_size]

    def logprobs(self, requests: Sequence[Any], *, batch_size: int | str = "auto",
                 progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        from .engine import check_batch_size

        check_batch_size(batch_size)
        return self.engine(batch_size).logprobs(requests, progress=progress)


def _hf_factory(name_or_path: Any, **options: Any) -> HFBackend:
    from .loading import LoadedModel

    if isinstance(name_or_path, LoadedModel):
        allowed = {k: options[k] for k in ("chat", "engine_options") if k in options}
        return HFBackend.from_loaded(name_or_path, **allowed)
    return HFBackend(name_or_path, **options)


register_backend("hf", _hf_factory)
