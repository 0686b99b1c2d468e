"""Ablation: zero or mean-replace a set of MLP neurons while the model scores or generates.

* :func:`normalise_neurons` turns a table (layer, neuron) or a mapping layer -> neurons into
  the canonical form (sorted unique indices per layer), checked against the model;
* :func:`neuron_set_sha256` is the identity of a set (with site, mode and, for ``mean``, the
  replacement values), recorded with every ablated run;
* :func:`ablate` is the context manager: forward hooks on the site of the layers that have
  neurons in the set (none at all for an empty set, so that ablating nothing is bit-identical
  to not ablating); works for anything that runs the model's forward pass (scoring,
  ``generate``);
* :func:`random_matched` draws random sets with exactly the real set's count per layer;
* :class:`AblatedBackend` wraps a scoring backend (``.model``, ``identity()``, ``logprobs()``)
  so that ablated runs go through the normal runner, with the set's hash in their identity.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, check_choice
from ..inference.backend import Backend
from .hooks import site_hooks
from .sites import DEFAULT_SITE, n_neurons, unwrap

MODES = ("zero", "mean")
#: layer -> sorted unique neuron indices (int64)
NeuronSet = dict[int, np.ndarray]


def normalise_neurons(neurons: pd.DataFrame | Mapping[int, Sequence[int]] | None,
                      widths: Sequence[int] | None = None) -> NeuronSet:
    """Canonical neuron set: layer -> sorted unique indices (layers without neurons left out).

    Parameters
    ----------
    neurons : DataFrame with columns layer, neuron; or mapping layer -> indices; or None (empty)
    widths : sequence of int, optional
        Neurons per layer of the model; indices are checked against them.

    Raises
    ------
    InputError
        For a missing column, a negative or non-integer index, or one outside the model.
    """
    if neurons is None:
        return {}
    if isinstance(neurons, pd.DataFrame):
        for col in ("layer", "neuron"):
            if col not in neurons.columns:
                raise InputError("the neuron table lacks a column", column=col)
        pairs = {}
        for layer, part in neurons.groupby("layer", sort=True):
            pairs[layer] = part["neuron"].to_numpy()
    elif isinstance(neurons, Mapping):
        pairs = dict(neurons)
    else:
        raise InputError("neurons must be a table (layer, neuron) or a mapping layer -> neuron indices",
                         value=type(neurons).__name__)
    out: NeuronSet = {}
    for layer, idx in pairs.items():
        arr = np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx)
        if arr.size == 0:
            continue
        if not np.issubdtype(arr.dtype, np.integer) or not float(layer).is_integer():
            raise InputError("layers and neuron indices must be integers", column="neuron", value=(layer, arr[:3].tolist()))
        layer = int(layer)
        arr = np.unique(arr.astype(np.int64))
        if widths is not None:
            if not 0 <= layer < len(widths):
                raise InputError(f"layer {layer} is outside the model's {len(widths)} layers", column="layer", value=layer)
            if arr[0] < 0 or arr[-1] >= widths[layer]:
                raise InputError(f"neuron indices of layer {layer} must be in [0, {widths[layer]})", column="neuron",
                                 value=int(arr[0] if arr[0] < 0 else arr[-1]))
        elif arr[0] < 0 or layer < 0:
            raise InputError("layers and neuron indices must be non-negative", column="neuron")
        out[layer] = arr
    return dict(sorted(out.items()))


def neuron_frame(neurons: NeuronSet) -> pd.DataFrame:
    """A neuron set as a table: layer, neuron."""
    rows = [(l, int(n)) for l, idx in neurons.items() for n in idx]
    return pd.DataFrame(rows, columns=["layer", "neuron"]).astype(np.int64)


def neuron_set_sha256(neurons: NeuronSet, *, site: str = DEFAULT_SITE, mode: str = "zero",
                      values: Mapping[int, np.ndarray] | None = None) -> str:
    """sha256 of a canonical JSON of the set, the site, the mode and (``mean``) the replacement values."""
    payload: dict[str, Any] = {"site": site, "mode": mode,
                               "neurons": {str(l): [int(n) for n in idx] for l, idx in sorted(neurons.items())}}
    if values is not None:
        payload["values"] = {str(l): [float(np.float32(v)).hex() for v in np.asarray(values[l])] for l in sorted(values)}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def replacement_values(neurons: NeuronSet, means: np.ndarray | None, mode: str) -> dict[int, np.ndarray] | None:
    """For ``mean``: per layer, the mean activation of each ablated neuron (from ``means`` (layers, neurons))."""
    if mode == "zero":
        return None
    if means is None:
        raise InputError("mode='mean' needs the neurons' mean activations (means=, e.g. Activations.overall_mean())")
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2:
        raise InputError(f"means must be (layers, neurons), got shape {means.shape}")
    for layer, idx in neurons.items():
        if layer >= means.shape[0] or idx[-1] >= means.shape[1]:
            raise InputError(f"means of shape {means.shape} do not cover layer {layer}, neuron {int(idx[-1])}")
    return {l: means[l, idx] for l, idx in neurons.items()}


@contextmanager
def ablate(model: Any, neurons: pd.DataFrame | Mapping[int, Sequence[int]] | None, *, site: str = DEFAULT_SITE,
           mode: str = "zero", means: np.ndarray | None = None) -> Iterator[NeuronSet]:
    """Zero (``mode="zero"``) or mean-replace (``"mean"``) ``neurons`` at ``site`` in every forward pass of the block.

    Every position of every sequence is ablated. Hooks go only on layers with neurons in the
    set, so an empty set leaves the model untouched; hooks are removed on exit, on error too.

    Yields
    ------
    dict
        The canonical neuron set (layer -> indices).

    Examples
    --------
    >>> with ablate(loaded.model, {3: [17, 42]}):          # doctest: +SKIP
    ...     logprobs = ScoringEngine(loaded.model).logprobs(requests)
    """
    torch = __import__("torch")
    net = unwrap(model)
    mode = check_choice(mode, "mode", MODES)
    canon = normalise_neurons(neurons, n_neurons(net))
    values = replacement_values(canon, means, mode)
    index = {l: torch.as_tensor(idx) for l, idx in canon.items()}
    fill = {l: torch.as_tensor(v) for l, v in values.items()} if values is not None else {}

    def hook(layer: int, tensor: Any) -> Any:
        idx = index[layer].to(tensor.device)
        out = tensor.clone()
        if mode == "zero":
            out[..., idx] = 0
        else:
            out[..., idx] = fill[layer].to(device=tensor.device, dtype=tensor.dtype)
        return out

    with site_hooks(net, site, hook if canon else None, layers=list(canon)):
        yield canon


def random_matched(neurons: NeuronSet, widths: Sequence[int], seed: int, *, avoid: bool = True) -> NeuronSet:
    """A random set with exactly the same number of neurons per layer as ``neurons``.

    ``avoid=True`` draws from the neurons outside the real set of that layer (when enough remain).
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    out: NeuronSet = {}
    for layer, idx in sorted(neurons.items()):
        pool = np.arange(int(widths[layer]))
        if avoid and widths[layer] - len(idx) >= len(idx):
            pool = np.setdiff1d(pool, idx)
        out[layer] = np.sort(rng.choice(pool, size=len(idx), replace=False)).astype(np.int64)
    return out


class AblatedBackend(Backend):
    """A scoring backend whose model runs with a neuron set ablated.

    Delegates everything to ``base`` (an :class:`~wvsalign.inference.backend.HFBackend`, or any
    backend with a torch ``.model``) and adds ``{"ablation": {...}}`` to ``identity()`` (site,
    mode, neuron count per layer, the set's sha256), so that ablated runs go through
    :func:`wvsalign.inference.score` / the runner as run directories of their own, resumable
    like any other, and never mix with the unablated run's shards.

    Examples
    --------
    >>> base = load_backend("smollm2-135m")                                   # doctest: +SKIP
    >>> probs = score(prompts, AblatedBackend(base, {3: [17, 42]}), "runs/ablated")  # doctest: +SKIP
    """

    def __init__(self, base: Any, neurons: pd.DataFrame | Mapping[int, Sequence[int]] | None, mode: str = "zero", *,
                 site: str = DEFAULT_SITE, means: np.ndarray | None = None, label: str | None = None) -> None:
        self._base = base
        self.site = site
        self.mode = check_choice(mode, "mode", MODES)
        self.neurons = normalise_neurons(neurons, n_neurons(unwrap(base)))
        self._means = means
        self._values = replacement_values(self.neurons, means, self.mode)
        self.sha256 = neuron_set_sha256(self.neurons, site=site, mode=self.mode, values=self._values)
        self.label = label

    # attributes of the Backend interface
    @property
    def name(self) -> str:
        return str(getattr(self._base, "name"))

    @property
    def context_length(self) -> Any:
        return getattr(self._base, "context_length", None)

    @property
    def chat(self) -> bool:
        return bool(getattr(self._base, "chat", False))

    @property
    def model(self) -> Any:
        return unwrap(self._base)

    def ablation(self) -> dict[str, Any]:
        """The ablation's record: site, mode, neurons per layer, total, sha256 (and label)."""
        rec = {"site": self.site, "mode": self.mode, "n_neurons": int(sum(len(v) for v in self.neurons.values())),
               "per_layer": {str(l): int(len(v)) for l, v in self.neurons.items()}, "sha256": self.sha256}
        if self.label:
            rec["label"] = self.label
        return rec

    def identity(self) -> dict[str, Any]:
        out = dict(self._base.identity())
        out["ablation"] = self.ablation()
        return out

    def info(self) -> dict[str, Any]:
        out = dict(self._base.info()) if hasattr(self._base, "info") else {}
        out["ablation"] = self.ablation()
        return out

    def render(self, prompts: pd.DataFrame) -> pd.DataFrame:
        return self._base.render(prompts)

    def encode(self, texts: Sequence[str], *, special_tokens: bool = True) -> list[tuple[int, ...]]:
        return self._base.encode(texts, special_tokens=special_tokens)

    def logprobs(self, requests: Sequence[Any], *, batch_size: int | str = "auto",
                 progress: Any = None) -> list[np.ndarray]:
        with ablate(self.model, self.neurons, site=self.site, mode=self.mode, means=self._means):
            return self._base.logprobs(requests, batch_size=batch_size, progress=progress)

    def __getattr__(self, name: str) -> Any:  # everything else (tokenizer, device, dtype, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._base, name)
