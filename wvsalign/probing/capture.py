"""Activation capture: MLP neuron activations at each prompt's answer position, memory-bounded.

The *answer position* of a prompt is its last context token, the position from which the
option labels are predicted. :func:`capture` is a context manager that puts an
:class:`ActivationRecorder` on a site (:mod:`wvsalign.probing.sites`) of every layer; the
recorder keeps, per prompt and layer, the top-k neurons (indices and values) and, per
condition (a group label per prompt), running sums, sums of squares and counts of every
neuron. The whole (prompts x layers x neurons) array is kept only with ``keep_all=True``;
activations at other positions are never stored.

:func:`collect_activations` runs the prompts' contexts through the model (an unpacked path:
a padded batch with an explicit attention mask, right padding, and optionally the batch's
common prefix computed once into a key/value cache) and returns :class:`Activations`.

>>> acts = collect_activations(loaded.model, requests, site="down_in", k=5,   # doctest: +SKIP
...                            groups=prompts["country"])
>>> acts.topk_frame().head()                                                   # doctest: +SKIP
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..inference.engine import cache_argument
from ..inference.prefix import common_prefix_length
from .hooks import site_hooks
from .sites import DEFAULT_SITE, decoder_layers, n_neurons, unwrap

#: tidy columns of every neuron table of this package
NEURON_COLUMNS = ("model", "site", "layer", "neuron", "condition", "score")
RANK_BY = ("value", "abs")


def _torch():
    import torch

    return torch


def uniform_width(model: Any) -> int:
    """The MLP width shared by every layer of ``model`` (InputError when layers differ)."""
    widths = set(n_neurons(model))
    if len(widths) != 1:
        raise InputError(f"layers have different MLP widths {sorted(widths)}; probing needs one width")
    return widths.pop()


class ActivationRecorder:
    """Receives a site's tensor per layer and keeps top-k per prompt and running sums per group.

    Call :meth:`set_batch` before each forward pass whose answer positions should be read
    (prompt indices and, per row, the position in the fed tensor) and :meth:`clear_batch`
    before passes that should be ignored (a shared prefix).
    """

    def __init__(self, n_layers: int, width: int, n_prompts: int, *, k: int = 5,
                 groups: Sequence[Any] | None = None, keep_all: bool = False, rank_by: str = "value") -> None:
        torch = _torch()
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= int(k) <= width:
            raise InputError(f"k must be an integer between 1 and the layer width {width}", value=k)
        if rank_by not in RANK_BY:
            raise InputError(f"rank_by must be one of {list(RANK_BY)}", value=rank_by)
        self.n_layers, self.width, self.n_prompts, self.k = int(n_layers), int(width), int(n_prompts), int(k)
        self.rank_by = rank_by
        if groups is None:
            codes, names = np.zeros(n_prompts, dtype=np.int64), np.array(["all"], dtype=object)
        else:
            groups = list(groups)
            if len(groups) != n_prompts:
                raise InputError(f"groups has {len(groups)} labels for {n_prompts} prompts")
            codes, names = pd.factorize(pd.Series(groups, dtype=object), sort=True)
            names = np.asarray(names, dtype=object)
        self.group_codes = np.asarray(codes, dtype=np.int64)
        self.group_names = list(names)
        g = len(self.group_names)
        self.sums = torch.zeros((g, self.n_layers, self.width), dtype=torch.float64)
        self.sumsq = torch.zeros((g, self.n_layers, self.width), dtype=torch.float64)
        self.counts = np.zeros(g, dtype=np.int64)
        self.topk_values = np.full((n_prompts, self.n_layers, self.k), np.nan, dtype=np.float32)
        self.topk_indices = np.full((n_prompts, self.n_layers, self.k), -1, dtype=np.int32)
        self.full = np.zeros((n_prompts, self.n_layers, self.width), dtype=np.float32) if keep_all else None
        self.seen = np.zeros((n_prompts, self.n_layers), dtype=bool)
        self._rows: np.ndarray | None = None
        self._pos: Any = None

    def set_batch(self, prompt_index: Sequence[int], positions: Sequence[int]) -> None:
        """Read the rows of the next forward pass: row r is prompt ``prompt_index[r]`` at ``positions[r]``."""
        torch = _torch()
        self._rows = np.asarray(prompt_index, dtype=np.int64)
        self._pos = torch.as_tensor(np.asarray(positions, dtype=np.int64))
        np.add.at(self.counts, self.group_codes[self._rows], 1)

    def clear_batch(self) -> None:
        """Ignore the next forward passes until :meth:`set_batch`."""
        self._rows, self._pos = None, None

    def __call__(self, layer: int, tensor: Any) -> None:
        torch = _torch()
        if self._rows is None:
            return None
        rows = torch.arange(len(self._rows), device=tensor.device)
        x = tensor[rows, self._pos.to(tensor.device)].detach().to(torch.float64).cpu()  # (B, N)
        codes = torch.as_tensor(self.group_codes[self._rows])
        self.sums[:, layer].index_add_(0, codes, x)
        self.sums_sq_add(layer, codes, x)
        key = x if self.rank_by == "value" else x.abs()
        top = torch.topk(key, self.k, dim=-1)
        self.topk_indices[self._rows, layer] = top.indices.numpy().astype(np.int32)
        self.topk_values[self._rows, layer] = torch.gather(x, 1, top.indices).numpy().astype(np.float32)
        if self.full is not None:
            self.full[self._rows, layer] = x.numpy().astype(np.float32)
        self.seen[self._rows, layer] = True
        return None

    def sums_sq_add(self, layer: int, codes: Any, x: Any) -> None:
        self.sumsq[:, layer].index_add_(0, codes, x * x)


@contextmanager
def capture(model: Any, n_prompts: int, *, site: str = DEFAULT_SITE, k: int = 5,
            groups: Sequence[Any] | None = None, keep_all: bool = False,
            rank_by: str = "value") -> Iterator[ActivationRecorder]:
    """Record ``site`` activations of every layer while the block runs forward passes.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM with gated (Llama, Gemma 3, Qwen2, Mistral) or GPT-2 style MLPs.
    n_prompts : int
        Prompts that will be read (rows of the recorder's arrays).
    site : str
        Site name (:func:`~wvsalign.probing.sites.list_sites`).
    k : int
        Top neurons kept per prompt and layer.
    groups : sequence, optional
        A condition label per prompt (running sums are kept per label).
    keep_all : bool
        Also keep every neuron's activation per prompt (prompts x layers x neurons floats).
    rank_by : {"value", "abs"}
        Top-k by signed activation or by magnitude.

    Yields
    ------
    ActivationRecorder
        Call its ``set_batch`` before each forward pass to read; hooks are removed on exit,
        on error too.
    """
    layers = decoder_layers(model)
    recorder = ActivationRecorder(len(layers), uniform_width(model), n_prompts, k=k, groups=groups,
                                  keep_all=keep_all, rank_by=rank_by)
    with site_hooks(model, site, recorder):
        yield recorder


# ---- the unpacked runner -------------------------------------------------------------------
def plan_batches(contexts: Sequence[Sequence[int]], batch_size: int, *, min_shared: int = 16) -> list[tuple[list[int], int]]:
    """Batches (indices, shared prefix length) of contexts sorted by their tokens.

    Neighbours in token order share the longest prefixes; a context joins the current batch
    while the batch is not full and the prefix it shares with the batch is at least
    ``min_shared`` tokens and half of what the batch shared so far. The shared length is at most
    the shortest context minus one (every row keeps its answer position in the suffix) and 0
    when below ``min_shared``; consecutive batches that share nothing are then joined up to
    ``batch_size``.
    """
    order = sorted(range(len(contexts)), key=lambda i: tuple(contexts[i]))
    raw: list[tuple[list[int], int]] = []
    cur: list[int] = []
    shared = 0
    for i in order:
        if cur:
            new = min(shared, common_prefix_length(contexts[cur[0]], contexts[i]))
            if len(cur) < batch_size and new >= max(min_shared, shared // 2):
                cur.append(i)
                shared = new
                continue
            raw.append((cur, shared))
        cur, shared = [i], len(contexts[i])
    if cur:
        raw.append((cur, shared))
    out: list[tuple[list[int], int]] = []
    for idx, s in raw:
        s = min(s, min(len(contexts[i]) for i in idx) - 1)
        s = s if s >= min_shared and len(idx) > 1 else 0
        if s == 0 and out and out[-1][1] == 0 and len(out[-1][0]) + len(idx) <= batch_size:
            out[-1] = (out[-1][0] + idx, 0)
        else:
            out.append((idx, s))
    return out


def sliding_window(model: Any) -> int | None:
    """The attention window of a sliding-window model (None when attention is global)."""
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    window = getattr(cfg, "sliding_window", None)
    if not window or getattr(cfg, "use_sliding_window", True) is False:
        return None
    return int(window)


def merge_groups(batches: list[tuple[list[int], int]], contexts: Sequence[Sequence[int]], *, rows_per_pass: int,
                 window: int | None) -> list[list[tuple[list[int], int]]]:
    """Prefix-sharing batches packed together (their prefixes in one pass, their suffixes in
    another) up to ``rows_per_pass`` rows; batches that share nothing run alone. With a sliding
    window, only while every row fits in it (padding between a prefix and its suffix would
    otherwise shift the window)."""
    out: list[list[tuple[list[int], int]]] = [[b] for b in batches if not b[1]]
    cur: list[tuple[list[int], int]] = []
    rows, width_p, width_s = 0, 0, 0
    for idx, shared in (b for b in batches if b[1]):
        suffix = max(len(contexts[i]) for i in idx) - shared
        span = max(width_p, shared) + max(width_s, suffix)
        if cur and rows + len(idx) <= rows_per_pass and (window is None or span <= window):
            cur.append((idx, shared))
            rows, width_p, width_s = rows + len(idx), max(width_p, shared), max(width_s, suffix)
            continue
        if cur:
            out.append(cur)
        cur, rows, width_p, width_s = [(idx, shared)], len(idx), shared, suffix
    if cur:
        out.append(cur)
    return out


def run_contexts(model: Any, contexts: Sequence[Sequence[int]], recorder: ActivationRecorder, *,
                 batch_size: int = 16, share_prefixes: bool = True, min_shared: int = 16, rows_per_pass: int = 64,
                 pad_token_id: int = 0, progress: Callable[[int], None] | None = None) -> None:
    """Run every context once (no output head) with ``recorder`` reading each answer position.

    Contexts are sorted by their tokens and cut into groups that share a prefix
    (:func:`plan_batches`, ``batch_size`` prompts at most); the prefixes of several groups run
    in one pass (right-padded) into a key/value cache, whose rows are then repeated for each
    group's prompts, and the suffixes run in a second pass with an attention mask that covers
    each row's own prefix and explicit position ids.
    """
    torch = _torch()
    base = model.base_model
    device = next(model.parameters()).device
    batches = plan_batches(contexts, int(batch_size), min_shared=min_shared if share_prefixes else 10**9)
    supers = merge_groups(batches, contexts, rows_per_pass=int(rows_per_pass), window=sliding_window(model))
    cache_kw = cache_argument(type(base).forward)
    with torch.inference_mode():
        for groups in supers:
            cache = None
            prefix_len = [shared for _, shared in groups]
            width_p = max(prefix_len)
            if width_p:
                recorder.clear_batch()
                pids = torch.full((len(groups), width_p), pad_token_id, dtype=torch.long, device=device)
                pmask = torch.zeros((len(groups), width_p), dtype=torch.long, device=device)
                for g, (idx, shared) in enumerate(groups):
                    pids[g, :shared] = torch.tensor(list(contexts[idx[0]][:shared]), device=device)
                    pmask[g, :shared] = 1
                out = base(input_ids=pids, attention_mask=pmask if len(groups) > 1 else None, use_cache=True)
                cache = getattr(out, "cache", None) or out.past_key_values
                repeat = torch.tensor([g for g, (idx, _) in enumerate(groups) for _ in idx], device=device)
                if len(groups) == 1:
                    cache.batch_repeat_interleave(len(groups[0][0]))
                else:
                    cache.batch_select_indices(repeat)
            rows = [(i, shared) for idx, shared in groups for i in idx]
            suffixes = [list(contexts[i][shared:]) for i, shared in rows]
            width = max(len(x) for x in suffixes)
            ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long, device=device)
            mask = torch.zeros((len(rows), width_p + width), dtype=torch.long, device=device)
            pos = torch.zeros((len(rows), width), dtype=torch.long, device=device)
            for r, ((_, shared), x) in enumerate(zip(rows, suffixes)):
                ids[r, :len(x)] = torch.tensor(x, device=device)
                mask[r, :shared] = 1
                mask[r, width_p:width_p + len(x)] = 1
                pos[r] = torch.arange(shared, shared + width, device=device)
            recorder.set_batch([i for i, _ in rows], [len(x) - 1 for x in suffixes])
            if width_p:
                base(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **{cache_kw: cache})
            else:
                base(input_ids=ids, attention_mask=mask, use_cache=False)
            recorder.clear_batch()
            if progress is not None:
                progress(len(rows))


# ---- results ----------------------------------------------------------------------------------
@dataclass
class Activations:
    """What a capture kept: per-prompt top-k, per-condition sums, optionally every activation."""

    model: str
    site: str
    prompt_ids: list[str]
    conditions: list[str]  # condition of each prompt
    group_names: list[str]
    topk_indices: np.ndarray  # (prompts, layers, k) int32
    topk_values: np.ndarray  # (prompts, layers, k) float32
    sums: np.ndarray  # (groups, layers, neurons) float64
    sumsq: np.ndarray
    counts: np.ndarray  # (groups,)
    full: np.ndarray | None = None  # (prompts, layers, neurons) when keep_all
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.sums.shape[1])

    @property
    def width(self) -> int:
        return int(self.sums.shape[2])

    def means(self) -> np.ndarray:
        """Mean activation per condition, layer and neuron (groups, layers, neurons)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums / self.counts[:, None, None]

    def overall_mean(self) -> np.ndarray:
        """Mean activation over all prompts (layers, neurons)."""
        return self.sums.sum(axis=0) / max(int(self.counts.sum()), 1)

    def topk_frame(self) -> pd.DataFrame:
        """Tidy per-prompt top-k: model, site, layer, neuron, condition, score, prompt_id, rank."""
        p, L, k = self.topk_indices.shape
        prompt = np.repeat(np.arange(p), L * k)
        return pd.DataFrame({
            "model": self.model, "site": self.site,
            "layer": np.tile(np.repeat(np.arange(L), k), p).astype(np.int64),
            "neuron": self.topk_indices.reshape(-1).astype(np.int64),
            "condition": np.asarray(self.conditions, dtype=object)[prompt],
            "score": self.topk_values.reshape(-1).astype(np.float64),
            "prompt_id": np.asarray(self.prompt_ids, dtype=object)[prompt],
            "rank": np.tile(np.arange(k), p * L).astype(np.int64),
        })

    def mean_frame(self) -> pd.DataFrame:
        """Tidy mean activations: model, site, layer, neuron, condition, score (mean), n."""
        g, L, n = self.sums.shape
        m = self.means()
        return pd.DataFrame({
            "model": self.model, "site": self.site,
            "layer": np.tile(np.repeat(np.arange(L), n), g).astype(np.int64),
            "neuron": np.tile(np.arange(n), g * L).astype(np.int64),
            "condition": np.repeat(np.asarray(self.group_names, dtype=object), L * n),
            "score": m.reshape(-1),
            "n": np.repeat(self.counts, L * n),
        })


def collect_activations(model: Any, requests: Sequence[Any], *, site: str = DEFAULT_SITE, k: int = 5,
                        groups: Sequence[Any] | None = None, keep_all: bool = False, rank_by: str = "value",
                        batch_size: int = 16, share_prefixes: bool = True, model_name: str | None = None,
                        pad_token_id: int = 0, progress: Callable[[int], None] | None = None) -> Activations:
    """Activations at the answer position of every request (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module or LoadedModel
        The causal LM (a ``LoadedModel``'s ``.model`` is used).
    requests : sequence of ScoringRequest or of token-id sequences
        From :func:`wvsalign.inference.scoring.encode_requests` (only contexts are used).
    groups : sequence, optional
        Condition per request (e.g. ``prompts["country"]``); default one condition "all".

    Returns
    -------
    Activations

    Raises
    ------
    InputError
        For an empty request list, an empty context or a bad ``k``/``site``.
    """
    torch_model = unwrap(model)
    name = model_name or getattr(getattr(model, "info", None), "name", None) or type(torch_model).__name__
    contexts = [tuple(getattr(r, "context", r)) for r in requests]
    if not contexts:
        raise InputError("no prompts to capture activations for")
    if any(len(c) == 0 for c in contexts):
        raise InputError("a prompt's context is empty", row=next(i for i, c in enumerate(contexts) if not c))
    ids = [str(getattr(r, "prompt_id", i)) for i, r in enumerate(requests)]
    with capture(torch_model, len(contexts), site=site, k=k, groups=groups, keep_all=keep_all,
                 rank_by=rank_by) as rec:
        run_contexts(torch_model, contexts, rec, batch_size=batch_size, share_prefixes=share_prefixes,
                     pad_token_id=pad_token_id, progress=progress)
    conditions = [rec.group_names[c] for c in rec.group_codes]
    return Activations(model=str(name), site=site, prompt_ids=ids, conditions=[str(c) for c in conditions],
                       group_names=[str(g) for g in rec.group_names], topk_indices=rec.topk_indices,
                       topk_values=rec.topk_values, sums=rec.sums.numpy(), sumsq=rec.sumsq.numpy(),
                       counts=rec.counts, full=rec.full)
