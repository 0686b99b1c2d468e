"""The batched scoring engine: option log-likelihoods for many requests, prefixes computed once.

:class:`ScoringEngine` runs the radix tree of :mod:`wvsalign.inference.prefix` through a
Hugging Face causal LM, level by level (depth first, so memory stays bounded):

* **rows**: the nodes of a level are packed into rows of up to ``pack_tokens`` tokens. A
  node whose whole subtree fits (a country's sentence and the inner tokens of its answer
  options, say) goes into the row with all its descendants; several such units share a
  row. A 4-D additive attention mask lets every token see exactly its ancestors' slots and
  the earlier tokens of its own node; ``position_ids`` are the tokens' depths;
* **shared prefixes**: the rows of a level below the root copy the key/value cache of
  their parent row (``index_select`` on the batch dimension of a ``DynamicCache``), so a
  prefix (an item's question, a prompt's context) is computed once for all its children;
* **passes**: rows are sorted by length and cut into forward passes by dynamic programming
  (least padding plus a per-pass cost), within ``token_budget`` tokens, ``kv_budget_mb``
  of key/value cache and ``batch_size`` rows;
* **reads**: hidden states are taken only where a log-probability is needed; the output
  head runs on those positions only and the log-softmax is taken in float32.

Sliding-window layers get a mask that applies the window by position (the cache itself
keeps every slot). ``share_prefixes=False`` computes every fed sequence whole (a 2-D
padding mask, no cache): the same numbers, more work. The first shared run checks itself
against that path on a few random tokens and falls back to it (with a warning) for
architectures where cached prefixes do not reproduce whole-sequence results.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError
from .prefix import Node, build_tree, option_offsets
from .scoring import ScoringRequest

#: default forward-pass size in tokens (padding included) and key/value budget, per device type
DEFAULT_TOKEN_BUDGET = {"cpu": 1024, "cuda": 16384, "mps": 4096}
DEFAULT_KV_BUDGET_MB = {"cpu": 1024, "cuda": 8192, "mps": 2048}
#: rows are filled with small subtrees up to this many tokens
DEFAULT_PACK_TOKENS = 128
#: a prefix is computed once for its children only when that saves at least this many tokens
DEFAULT_MIN_SHARED_TOKENS = 16
#: the cost of one more forward pass, in padded tokens (used to trade padding against passes)
PASS_OVERHEAD_TOKENS = 48
#: positions sent through the output head at once (bounds the logits' memory)
HEAD_CHUNK = 256


def _torch():
    import torch

    return torch


@dataclass
class _Batch:
    """A computed forward pass: its cache and, per node, its row and visible slots."""

    cache: Any
    positions: np.ndarray  # (rows, slots) position id of every slot
    row: dict[int, int]  # id(node) -> row
    visible: dict[int, np.ndarray]  # id(node) -> bool (slots,): its ancestors' slots and its own

    @property
    def slots(self) -> int:
        return self.positions.shape[1]


class ScoringEngine:
    """Score :class:`~wvsalign.inference.scoring.ScoringRequest` objects with a causal LM.

    ``model`` is a Hugging Face causal LM (or a ``LoadedModel``, whose ``.model`` is used).
    ``batch_size`` caps the rows of one forward pass ("auto": budgets only).
    """

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int | str = "auto",
        share_prefixes: bool = True,
        padding_side: str = "right",
        min_shared_tokens: int | None = None,
        pack_tokens: int | None = None,
        token_budget: int | None = None,
        kv_budget_mb: float | None = None,
        pad_token_id: int = 0,
    ) -> None:
        torch = _torch()
        self.model = getattr(model, "model", model) if not isinstance(model, torch.nn.Module) else model
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        check_batch_size(batch_size)
        self.max_rows = None if batch_size == "auto" else int(batch_size)
        self.share_prefixes = share_prefixes
        self.padding_side = padding_side
        self.min_shared_tokens = DEFAULT_MIN_SHARED_TOKENS if min_shared_tokens is None else int(min_shared_tokens)
        self.pack_tokens = DEFAULT_PACK_TOKENS if pack_tokens is None else int(pack_tokens)
        param = next(self.model.parameters())
        self.device, self.dtype = param.device, param.dtype
        kind = self.device.type
        self.token_budget = int(token_budget or DEFAULT_TOKEN_BUDGET.get(kind, 1024))
        self.kv_budget_mb = float(kv_budget_mb or DEFAULT_KV_BUDGET_MB.get(kind, 1024))
        self.pad_token_id = int(pad_token_id)
        cfg = self.model.config.get_text_config(decoder=True) if hasattr(self.model.config, "get_text_config") else self.model.config
        self.config = cfg
        self.base = self.model.base_model
        self.head = self.model.get_output_embeddings()
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.layer_types = list(getattr(cfg, "layer_types", None) or [])
        window = getattr(cfg, "sliding_window", None)
        self.window = int(window) if window and (getattr(cfg, "use_sliding_window", True) is not False) else None
        # models that take one mask per attention type ({"full_attention": ..., "sliding_attention": ...})
        self.mask_by_layer_type = bool(self.window and any("sliding" in t for t in self.layer_types)
                                       and "causal_mask_mapping" in _source(type(self.base).forward))
        # the key/value cache argument and output field: ``cache`` in transformers >= 5.2x
        # (``past_key_values`` is deprecated there), ``past_key_values`` before
        self.cache_arg = cache_argument(type(self.base).forward)
        n_layers = int(getattr(cfg, "num_hidden_layers", 1))
        kv_heads = int(getattr(cfg, "num_key_value_heads", None) or getattr(cfg, "num_attention_heads", 1))
        head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        self.kv_bytes_per_slot = 2 * n_layers * kv_heads * head_dim * param.element_size()
        self._checked = not share_prefixes
        self.stats = {"forward_passes": 0, "tokens": 0, "padded_tokens": 0}

    # ---- public ---------------------------------------------------------------------------
    def logprobs(
        self, requests: Sequence[ScoringRequest], *, progress: Callable[[int], None] | None = None
    ) -> list[np.ndarray]:
        """Per request, the log-likelihood of each option's continuation (float64)."""
        torch = _torch()
        if not requests:
            return []
        if not self._checked:
            self._self_check()
        offsets = option_offsets(requests)
        self._out = np.zeros(int(offsets[-1]), dtype=np.float64)
        self._req_of = np.repeat(np.arange(len(requests)), np.diff(offsets))
        pending = np.zeros(len(requests), dtype=np.int64)
        np.add.at(pending, self._req_of, [len(c) for r in requests for c in r.continuations])
        self._pending = pending
        self._progress = progress
        root = build_tree(requests, share_prefixes=self.share_prefixes, min_shared_tokens=self.min_shared_tokens)
        with torch.inference_mode():
            if self.share_prefixes:
                self._run_level(None, root.children)
            else:
                self._run_flat(root.children)
        if (self._pending != 0).any():  # pragma: no cover - an engine bug, never user input
            raise RuntimeError("scoring engine left reads unanswered")
        return [self._out[offsets[i]:offsets[i + 1]].copy() for i in range(len(requests))]

    # ---- shared path ------------------------------------------------------------------------
    def _unit(self, node: Node) -> list[Node]:
        """What goes into a row with ``node``: its whole subtree when that fits ``pack_tokens``."""
        nodes = list(node.walk()) if node.children else [node]
        if node.children and sum(len(n.tokens) for n in nodes) > self.pack_tokens:
            return [node]
        return nodes

    def _pack(self, nodes: list[Node], parent: _Batch | None) -> list[tuple[int, list[Node]]]:
        """Rows (parent row, nodes in depth-first order) of up to ``pack_tokens`` tokens.

        A node whose whole subtree fits in ``pack_tokens`` goes into a row with all its
        descendants (each sees only its ancestors through the mask); a larger node goes with
        other small units or alone, and its children are computed by the next level. Units
        under the same parent row are spread evenly over the fewest rows that hold them.
        """
        groups: dict[int, list[list[Node]]] = {}
        for node in nodes:
            prow = -1 if parent is None else parent.row[id(node.parent)]
            groups.setdefault(prow, []).append(self._unit(node))
        rows: list[tuple[int, list[Node]]] = []
        for prow in sorted(groups):
            rows.extend((prow, members) for members in self._balanced_bins(groups[prow]))
        return rows

    def _balanced_bins(self, units: list[list[Node]]) -> list[list[Node]]:
        """Spread units over the fewest rows of at most ``pack_tokens`` tokens, evenly (so rows have similar lengths)."""
        size = [sum(len(n.tokens) for n in u) for u in units]
        order = sorted(range(len(units)), key=lambda i: (-size[i], i))
        alone = [i for i in order if size[i] > self.pack_tokens]
        rest = [i for i in order if size[i] <= self.pack_tokens]
        n_bins = -(-sum(size[i] for i in rest) // self.pack_tokens) if rest and self.pack_tokens > 0 else 0
        loads = [0] * n_bins
        members: list[list[Node]] = [[] for _ in range(n_bins)]
        for i in rest:  # largest first, into the least loaded row it fits
            fits = [b for b in range(len(loads)) if loads[b] + size[i] <= self.pack_tokens]
            if fits:
                b = min(fits, key=lambda k: (loads[k], k))
            else:
                loads.append(0)
                members.append([])
                b = len(loads) - 1
            loads[b] += size[i]
            members[b].extend(units[i])
        return [list(units[i]) for i in alone] + [m for m in members if m]

    def _chunks(self, rows: list[tuple[int, list[Node]]], old_slots: int) -> list[list[tuple[int, list[Node]]]]:
        """Cut rows, sorted by length, into forward passes within the budgets, with the least padding.

        Dynamic programming over the sorted rows: a pass of rows i..j costs its padded tokens
        plus a fixed overhead (``PASS_OVERHEAD_TOKENS``); passes respect ``token_budget``, the
        key/value budget and ``batch_size``.
        """
        length = [sum(len(n.tokens) for n in members) for _, members in rows]
        order = sorted(range(len(rows)), key=lambda i: (length[i], i))
        lens = [length[i] for i in order]
        kv_slots_budget = self.kv_budget_mb * 2**20 / self.kv_bytes_per_slot
        n = len(order)
        best = [0.0] + [math.inf] * n  # best[j]: cost of the first j rows
        cut = [0] * (n + 1)
        for j in range(1, n + 1):
            width = lens[j - 1]
            for i in range(j - 1, -1, -1):  # pass = rows i..j-1 (width = lens[j-1], the longest)
                count = j - i
                if count > 1 and (count * width > self.token_budget
                                  or count * (old_slots + width) > kv_slots_budget
                                  or (self.max_rows is not None and count > self.max_rows)):
                    break
                cost = best[i] + count * width + PASS_OVERHEAD_TOKENS
                if cost < best[j]:
                    best[j], cut[j] = cost, i
        chunks = []
        j = n
        while j > 0:
            chunks.append([rows[k] for k in order[cut[j]:j]])
            j = cut[j]
        return chunks[::-1]

    def _run_level(self, parent: _Batch | None, nodes: list[Node]) -> None:
        if not nodes:
            return
        rows = self._pack(nodes, parent)
        for chunk in self._chunks(rows, 0 if parent is None else parent.slots):
            batch = self._forward(parent, chunk)
            children = [c for _, members in chunk for n in members for c in n.children if id(c) not in batch.row]
            self._run_level(batch, children)
            del batch

    def _forward(self, parent: _Batch | None, chunk: list[tuple[int, list[Node]]]) -> _Batch:
        torch = _torch()
        from transformers import DynamicCache

        rows = len(chunk)
        width = max(sum(len(n.tokens) for n in members) for _, members in chunk)
        old = 0 if parent is None else parent.slots
        ids = np.full((rows, width), self.pad_token_id, dtype=np.int64)
        pos_new = np.zeros((rows, width), dtype=np.int64)
        allow = np.zeros((rows, width, old + width), dtype=bool)
        placed: list[tuple[Node, int, int]] = []  # node, row, column of its first token
        seen: dict[int, np.ndarray] = {}  # id(node) -> slots it sees (ancestors and itself), this batch
        for b, (prow, members) in enumerate(chunk):
            used = sum(len(n.tokens) for n in members)
            col = width - used if self.padding_side == "left" else 0
            for node in members:
                k = len(node.tokens)
                ids[b, col:col + k] = node.tokens
                pos_new[b, col:col + k] = np.arange(node.start, node.start + k)
                if id(node.parent) in seen:  # packed below its parent in this row
                    base = seen[id(node.parent)]
                else:
                    base = np.zeros(old + width, dtype=bool)
                    if parent is not None:
                        base[:old] = parent.visible[id(node.parent)]
                allow[b, col:col + k] = base
                allow[b, col:col + k, old + col:old + col + k] = np.tril(np.ones((k, k), dtype=bool))
                vis = base.copy()
                vis[old + col:old + col + k] = True
                seen[id(node)] = vis
                placed.append((node, b, col))
                col += k
        # padding slots see only themselves (keeps every softmax row finite; nothing sees them)
        pad = ~allow[:, :, old:].any(axis=2)
        bb, qq = np.nonzero(pad)
        allow[bb, qq, old + qq] = True
        if parent is not None:
            prow_idx = np.array([prow for prow, _ in chunk], dtype=np.int64)
            positions = np.concatenate([parent.positions[prow_idx], pos_new], axis=1)
            cache = _select_rows(parent.cache, torch.as_tensor(prow_idx, device=self.device))
        else:
            positions = pos_new
            cache = DynamicCache()
        masks = self._masks(allow, pos_new, positions)
        out = self.base(
            input_ids=torch.as_tensor(ids, device=self.device),
            attention_mask=masks,
            position_ids=torch.as_tensor(pos_new, device=self.device),
            use_cache=True,
            **{self.cache_arg: cache},
        )
        self.stats["forward_passes"] += 1
        self.stats["tokens"] += int(sum(len(n.tokens) for n, _, _ in placed))
        self.stats["padded_tokens"] += rows * width
        batch = _Batch(cache=out[self.cache_arg], positions=positions, row={}, visible={})
        self._read(out.last_hidden_state, placed)
        for node, b, _col in placed:
            batch.row[id(node)] = b
            batch.visible[id(node)] = seen[id(node)]
        return batch

    def _masks(self, allow: np.ndarray, pos_new: np.ndarray, positions: np.ndarray) -> Any:
        """Additive 4-D masks (one per attention type where the model has several)."""
        torch = _torch()

        def additive(a: np.ndarray) -> Any:
            t = torch.as_tensor(a, device=self.device)[:, None]
            zero = torch.zeros((), dtype=self.dtype, device=self.device)
            low = torch.tensor(torch.finfo(self.dtype).min, dtype=self.dtype, device=self.device)
            return torch.where(t, zero, low)

        full = additive(allow)
        if self.window is None:
            return full
        # the window by position (as transformers applies it: key visible when q - k < window)
        sliding_mask = additive(allow & ((pos_new[:, :, None] - positions[:, None, :]) < self.window))
        if self.mask_by_layer_type:
            return {t: (sliding_mask if "sliding" in t else full) for t in set(self.layer_types)}
        return sliding_mask

    def _read(self, hidden: Any, placed: list[tuple[Node, int, int]]) -> None:
        """Log-probabilities of the read targets from the hidden states of one forward pass."""
        torch = _torch()
        rows, cols, flats, targets, slot_of = [], [], [], [], []
        where: dict[tuple[int, int], int] = {}
        for node, b, col in placed:
            for offset, flat, target in node.reads:
                key = (b, col + offset)
                if key not in where:
                    where[key] = len(where)
                    rows.append(key[0])
                    cols.append(key[1])
                slot_of.append(where[key])
                flats.append(flat)
                targets.append(target)
        if not flats:
            return
        slot_of_t = torch.as_tensor(slot_of, device=self.device)
        targets_t = torch.as_tensor(targets, device=self.device)
        picked = torch.empty(len(flats), dtype=torch.float32, device=self.device)
        h = hidden[torch.as_tensor(rows, device=self.device), torch.as_tensor(cols, device=self.device)]
        for start in range(0, h.shape[0], HEAD_CHUNK):
            logits = self.head(h[start:start + HEAD_CHUNK])
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            logp = torch.log_softmax(logits.float(), dim=-1)
            sel = (slot_of_t >= start) & (slot_of_t < start + HEAD_CHUNK)
            picked[sel] = logp[slot_of_t[sel] - start, targets_t[sel]]
        self._store(np.asarray(flats), picked.cpu().numpy())

    def _store(self, flats: np.ndarray, values: np.ndarray) -> None:
        np.add.at(self._out, flats, values.astype(np.float64))
        reqs = self._req_of[flats]
        np.subtract.at(self._pending, reqs, 1)
        if self._progress is not None:
            done = int((self._pending[np.unique(reqs)] == 0).sum())
            if done:
                self._progress(done)

    # ---- whole-sequence path ----------------------------------------------------------------
    def _run_flat(self, nodes: list[Node]) -> None:
        """Every node's full path computed whole: 2-D padding mask, no cache."""
        torch = _torch()
        items = []
        for top in nodes:
            for node in top.walk():
                if node.reads:
                    items.append((node.path(), node))
        order = sorted(range(len(items)), key=lambda i: (len(items[i][0]), i))
        chunk: list[int] = []
        width = 0
        batches = []
        for i in order:
            w = max(width, len(items[i][0]))
            if chunk and ((len(chunk) + 1) * w > self.token_budget or (self.max_rows and len(chunk) + 1 > self.max_rows)):
                batches.append(chunk)
                chunk, w = [], len(items[i][0])
            chunk.append(i)
            width = w
        if chunk:
            batches.append(chunk)
        for chunk in batches:
            width = max(len(items[i][0]) for i in chunk)
            ids = np.full((len(chunk), width), self.pad_token_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            placed = []
            for b, i in enumerate(chunk):
                path, node = items[i]
                col = width - len(path) if self.padding_side == "left" else 0
                ids[b, col:col + len(path)] = path
                mask[b, col:col + len(path)] = 1
                placed.append((node, b, col + node.start))
            pos = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
            out = self.base(
                input_ids=torch.as_tensor(ids, device=self.device),
                attention_mask=torch.as_tensor(mask, device=self.device),
                position_ids=torch.as_tensor(pos, device=self.device),
                use_cache=False,
            )
            self.stats["forward_passes"] += 1
            self.stats["tokens"] += int(mask.sum())
            self.stats["padded_tokens"] += mask.size
            self._read(out.last_hidden_state, placed)

    # ---- safety net -------------------------------------------------------------------------
    def _self_check(self) -> None:
        """Compare the shared path with whole sequences on random tokens; fall back if they differ."""
        self._checked = True
        rng = np.random.default_rng(0)
        vocab = int(getattr(self.config, "vocab_size", 100))
        toks = lambda n: tuple(int(t) for t in rng.integers(1, max(2, vocab - 1), n))  # noqa: E731
        stem = toks(24)
        reqs = [
            ScoringRequest("check-a", stem + toks(5), (toks(1), toks(2), toks(3)), False),
            ScoringRequest("check-b", stem + toks(7), (toks(2), toks(1)), False),
            ScoringRequest("check-c", toks(9), (toks(1), toks(1)), False),
        ]
        saved = (self.min_shared_tokens, self.pack_tokens)
        self.min_shared_tokens, self.pack_tokens = 0, max(self.pack_tokens, 8)
        try:
            shared = self.logprobs(reqs)
        finally:
            self.min_shared_tokens, self.pack_tokens = saved
        self.share_prefixes = False
        whole = self.logprobs(reqs)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(shared, whole))
        if math.isfinite(diff) and diff < self_check_tolerance(self.dtype):
            self.share_prefixes = True
        else:
            warnings.warn(
                f"{type(self.model).__name__}: shared-prefix scoring does not reproduce whole-sequence scores "
                f"(max |dlogp| = {diff:.3g}); scoring every sequence whole instead (slower, same results)",
                RuntimeWarning,
                stacklevel=3,
            )


def check_batch_size(batch_size: Any) -> None:
    """InputError unless ``batch_size`` is "auto" or a positive integer (bools are refused)."""
    if not (batch_size == "auto" or (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size > 0)):
        raise InputError("batch_size must be 'auto' or a positive integer", value=batch_size)


def self_check_tolerance(dtype: Any) -> float:
    """The largest |dlogp| between the shared and whole-sequence paths that counts as agreement.

    The two paths round differently (other matmul shapes, cached keys/values); the gap scales
    with the dtype's resolution: float32 1e-3, float16 0.049, bfloat16 0.39 (50 units of
    rounding). A broken mask or cache gives differences of order one.
    """
    torch = _torch()
    return max(1e-3, 50 * float(torch.finfo(dtype).eps))


def _source(fn: Any) -> str:
    import inspect

    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def cache_argument(forward: Any) -> str:
    """The name of a model's key/value cache argument: ``cache`` when its ``forward`` takes it
    (transformers >= 5.24), else ``past_key_values``."""
    import inspect

    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _select_rows(cache: Any, index: Any) -> Any:
    """A new cache holding rows ``index`` of ``cache`` (the original is left as it is)."""
    import copy

    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in new.layers:
        layer.batch_select_indices(index)
    return new
