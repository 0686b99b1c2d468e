"""Gradient x activation attribution of MLP neurons (the culture-neuron analysis).

For each prompt, the objective is

* ``target="majority"`` (default): the log-probability of the human-majority option's tokens
  (the option most respondents of the prompt's country chose), or
* ``target="mean_score"``: the model's mean score, ``sum_j p_j v_j`` over the options (``p``
  normalised over the options, ``v`` the item's option scores in [0, 1]).

A neuron's attribution at a position is ``grad(objective wrt activation) * activation`` at the
site (default ``down_in``). For ``majority`` it is the maximum over the answer positions (the
last context position and the positions that predict the option's later tokens); for
``mean_score`` the objective involves every option, whose rows share the last context
position, so the attribution is taken there (the gradient summed over the option rows).
Scores are averaged per condition (country) in memory-bounded running sums.

Selections (thresholds are parameters with the published defaults):

* :func:`culture_general`: the top ``share`` (1%) of neurons by cultural minus control score,
  minus neurons in the top ``control_share`` of the control task's own scores (neurons that react
  to the country sentence of a non-cultural question);
* :func:`culture_specific`: per country, the top ``share`` (0.3%) of that country's scores
  whose z-score across countries is at least ``z_min`` (0.5);
* :func:`layer_distribution`: how many selected neurons fall in each layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, check_choice
from ..inference.engine import cache_argument
from .capture import NEURON_COLUMNS, merge_groups, plan_batches, sliding_window, uniform_width
from .hooks import site_hooks
from .sites import DEFAULT_SITE, decoder_layers, unwrap

TARGETS = ("majority", "mean_score")


def _torch():
    import torch

    return torch


# ---- targets --------------------------------------------------------------------------------
def majority_targets(prompts: pd.DataFrame, human: pd.DataFrame) -> np.ndarray:
    """Per prompt, the index (in presented order) of the option with the largest human share
    in the prompt's country; -1 where the human table has no row for the prompt's country and item.

    Ties go to the lowest code.
    """
    for col in ("country", "item_id", "code", "share"):
        if col not in human.columns:
            raise InputError("the human table lacks a column", column=col)
    top = (human.sort_values(["country", "item_id", "share", "code"], ascending=[True, True, False, True])
           .drop_duplicates(["country", "item_id"]))
    lookup = {(c, i): int(code) for c, i, code in zip(top["country"], top["item_id"], top["code"])}
    out = np.full(len(prompts), -1, dtype=np.int64)
    for row, (country, item, codes) in enumerate(zip(prompts["country"], prompts["item_id"], prompts["codes"])):
        code = lookup.get((country, item))
        codes = [int(c) for c in list(codes)]
        if code is not None and code in codes:
            out[row] = codes.index(code)
    return out


def option_values(prompts: pd.DataFrame, bank: Any) -> list[np.ndarray]:
    """Per prompt, the score in [0, 1] of each presented option (from the item bank)."""
    items = {it.item_id: it for it in bank}
    out = []
    for row, (item, codes) in enumerate(zip(prompts["item_id"], prompts["codes"])):
        if item not in items:
            raise InputError("item not in the item bank", column="item_id", row=row, value=item)
        scores = items[item].scores
        out.append(np.array([scores[int(c)] for c in list(codes)], dtype=np.float64))
    return out


# ---- the computation ----------------------------------------------------------------------------
@dataclass
class Attribution:
    """Mean gradient x activation per condition, layer and neuron."""

    model: str
    site: str
    target: str
    group_names: list[str]
    sums: np.ndarray  # (groups, layers, neurons) float64
    counts: np.ndarray  # (groups,)
    objective: np.ndarray  # per prompt, the objective's value (log-prob or mean score); NaN if skipped
    full: np.ndarray | None = None  # (prompts, layers, neurons) when keep_all
    meta: dict[str, Any] = field(default_factory=dict)

    def means(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums / self.counts[:, None, None]

    def overall_mean(self) -> np.ndarray:
        return self.sums.sum(axis=0) / max(int(self.counts.sum()), 1)

    def frame(self) -> pd.DataFrame:
        """Tidy table: model, site, layer, neuron, condition, score (mean attribution), n."""
        g, L, n = self.sums.shape
        return pd.DataFrame({
            "model": self.model, "site": self.site,
            "layer": np.tile(np.repeat(np.arange(L), n), g).astype(np.int64),
            "neuron": np.tile(np.arange(n), g * L).astype(np.int64),
            "condition": np.repeat(np.asarray(self.group_names, dtype=object), L * n),
            "score": self.means().reshape(-1),
            "n": np.repeat(self.counts, L * n),
        })


def _rows_for(requests, targets, values, target):
    """Per prompt: list of (tokens, continuation, answer positions to read) rows."""
    rows = []
    for i, req in enumerate(requests):
        n = len(req.context)
        if target == "majority":
            j = int(targets[i])
            if j < 0:
                rows.append([])
                continue
            cont = req.continuations[j]
            rows.append([(tuple(req.context) + tuple(cont), tuple(cont), list(range(n - 1, n - 1 + len(cont))))])
        else:
            rows.append([(tuple(req.context) + tuple(c), tuple(c), [n - 1]) for c in req.continuations])
    return rows


def attribute(model: Any, requests: Sequence[Any], *, target: str = "majority", targets: Sequence[int] | None = None,
              values: Sequence[Sequence[float]] | None = None, site: str = DEFAULT_SITE,
              groups: Sequence[Any] | None = None, batch_size: int = 32, keep_all: bool = False,
              share_prefixes: bool = True, min_shared: int = 16, model_name: str | None = None, pad_token_id: int = 0,
              progress: Callable[[int], None] | None = None) -> Attribution:
    """Gradient x activation of every neuron at ``site``, averaged per condition.

    Parameters
    ----------
    model : torch.nn.Module or LoadedModel
    requests : sequence of ScoringRequest
        From :func:`wvsalign.inference.scoring.encode_requests`.
    target : {"majority", "mean_score"}
        The objective (see the module docstring).
    targets : sequence of int
        ``majority``: the option index per request (:func:`majority_targets`; -1 skips the prompt).
    values : sequence of arrays
        ``mean_score``: the option scores per request (:func:`option_values`).
    groups : sequence, optional
        Condition per request (country); default one condition "all".
    batch_size : int
        Rows (prompt x option sequences) per forward and backward pass.
    share_prefixes : bool
        Compute the longest prefix the prompts of a batch share once, without gradients, into a
        key/value cache (exact: every position attributed lies after it); contexts are sorted so
        that neighbours share the most.

    Returns
    -------
    Attribution

    Raises
    ------
    InputError
        For a missing ``targets``/``values``, lengths that do not match, or a bad site.
    """
    torch = _torch()
    target = check_choice(target, "target", TARGETS)
    if target == "majority" and (targets is None or len(targets) != len(requests)):
        raise InputError("target='majority' needs one option index per request (targets=, see majority_targets)")
    if target == "mean_score":
        if values is None or len(values) != len(requests):
            raise InputError("target='mean_score' needs the option scores of every request (values=, see option_values)")
        bad = [i for i, (r, v) in enumerate(zip(requests, values)) if len(v) != r.n_options]
        if bad:
            raise InputError("option scores and options differ in number", row=bad[0])
    net = unwrap(model)
    name = model_name or getattr(getattr(model, "info", None), "name", None) or type(net).__name__
    n_prompts = len(requests)
    if groups is None:
        codes, names = np.zeros(n_prompts, dtype=np.int64), ["all"]
    else:
        if len(groups) != n_prompts:
            raise InputError(f"groups has {len(groups)} labels for {n_prompts} prompts")
        codes, uniq = pd.factorize(pd.Series(list(groups), dtype=object), sort=True)
        names = [str(x) for x in uniq]
    L, width = len(decoder_layers(net)), uniform_width(net)
    sums = np.zeros((len(names), L, width), dtype=np.float64)
    counts = np.zeros(len(names), dtype=np.int64)
    objective = np.full(n_prompts, np.nan)
    full = np.zeros((n_prompts, L, width), dtype=np.float32) if keep_all else None
    rows = _rows_for(requests, targets, values, target)
    device = next(net.parameters()).device
    base = net.base_model
    head = net.get_output_embeddings()
    cfg = net.config.get_text_config(decoder=True) if hasattr(net.config, "get_text_config") else net.config
    softcap = getattr(cfg, "final_logit_softcapping", None)
    stored: dict[int, Any] = {}

    order = [i for i in range(n_prompts) if rows[i]]
    per_row = max(1, int(round(np.mean([len(rows[i]) for i in order])))) if order else 1
    plan = plan_batches([requests[i].context for i in order], max(1, batch_size // per_row),
                        min_shared=min_shared if share_prefixes else 10**9)
    contexts = [requests[i].context for i in order]
    supers = merge_groups(plan, contexts, rows_per_pass=max(1, batch_size // per_row), window=sliding_window(net))
    # per pass: the prompts and, per prompt, the prefix it shares with its group (computed once)
    passes = [[(order[j], shared) for idx, shared in groups for j in idx] for groups in supers]
    prefixes = [[(requests[order[idx[0]]].context[:shared], shared) for idx, shared in groups] for groups in supers]
    cache_kw = cache_argument(type(base).forward)
    reading = [True]

    def keep(layer, tensor):
        if reading[0]:
            stored[layer] = tensor
        return None

    with site_hooks(net, site, keep), torch.enable_grad():
        for groups, members, heads in zip(supers, passes, prefixes):
            batch = [p for p, _ in members]
            flat = [(p, r, sh) for p, sh in members for r in rows[p]]
            width_p = max(sh for _, sh in heads)
            cache = None
            if width_p:  # the shared prefixes once, without gradients: attributed positions all lie after them
                reading[0] = False
                with torch.no_grad():
                    pids = torch.full((len(heads), width_p), pad_token_id, dtype=torch.long, device=device)
                    pmask = torch.zeros((len(heads), width_p), dtype=torch.long, device=device)
                    for g, (toks, sh) in enumerate(heads):
                        pids[g, :sh] = torch.tensor(list(toks), device=device)
                        pmask[g, :sh] = 1
                    out = base(input_ids=pids, attention_mask=pmask if len(heads) > 1 else None, use_cache=True)
                    cache = getattr(out, "cache", None) or out.past_key_values
                    group_of = {}
                    for g, (idx, _) in enumerate(groups):
                        for j in idx:
                            group_of[order[j]] = g
                    cache.batch_select_indices(torch.tensor([group_of[p] for p, _, _ in flat], device=device))
                reading[0] = True
            width_t = max(len(r[0]) - sh for _, r, sh in flat)
            ids = torch.full((len(flat), width_t), pad_token_id, dtype=torch.long, device=device)
            mask = torch.zeros((len(flat), width_p + width_t), dtype=torch.long, device=device)
            pos = torch.zeros((len(flat), width_t), dtype=torch.long, device=device)
            for k, (_, (toks, _, _), sh) in enumerate(flat):
                ids[k, :len(toks) - sh] = torch.tensor(toks[sh:], device=device)
                mask[k, :sh] = 1
                mask[k, width_p:width_p + len(toks) - sh] = 1
                pos[k] = torch.arange(sh, sh + width_t, device=device)
            stored.clear()
            embeds = base.get_input_embeddings()(ids).detach().requires_grad_(True)
            if width_p:
                hidden = base(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=True,
                              **{cache_kw: cache}).last_hidden_state
            else:
                hidden = base(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
            # log-likelihood of each row's continuation, read at the positions that predict it
            r_idx, p_idx, t_idx = [], [], []
            for k, (_, (toks, cont, _), sh) in enumerate(flat):
                n_ctx = len(toks) - len(cont)
                for j, tok in enumerate(cont):
                    r_idx.append(k)
                    p_idx.append(n_ctx - 1 + j - sh)
                    t_idx.append(tok)
            logits = head(hidden[torch.tensor(r_idx), torch.tensor(p_idx)]).float()
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            picked = torch.log_softmax(logits, dim=-1)[torch.arange(len(t_idx)), torch.tensor(t_idx, device=device)]
            row_ll = torch.zeros(len(flat), dtype=torch.float32, device=device).index_add(
                0, torch.tensor(r_idx, device=device), picked)
            objs = []
            start = 0
            for p in batch:
                m = len(rows[p])
                ll = row_ll[start:start + m]
                if target == "majority":
                    objs.append(ll[0])
                else:
                    v = torch.as_tensor(np.asarray(values[p], dtype=np.float32), device=device)
                    objs.append((torch.softmax(ll, dim=0) * v).sum())
                start += m
            total = torch.stack(objs).sum()
            layers = sorted(stored)
            grads = torch.autograd.grad(total, [stored[l] for l in layers])
            with torch.no_grad():
                for l, g in zip(layers, grads):
                    ga = (g * stored[l]).float()  # (rows, positions, neurons)
                    start = 0
                    for p, sh in members:
                        m = len(rows[p])
                        if target == "majority":
                            at_pos = torch.tensor(rows[p][0][2], device=device) - sh
                            score = ga[start, at_pos].max(dim=0).values
                        else:
                            n1 = rows[p][0][2][0] - sh
                            score = ga[start:start + m, n1].sum(dim=0)
                        vec = score.double().cpu().numpy()
                        sums[codes[p], l] += vec
                        if full is not None:
                            full[p, l] = vec
                        start += m
            for p, o in zip(batch, objs):
                objective[p] = float(o.detach())
            counts += np.bincount(codes[batch], minlength=len(names))
            stored.clear()
            if progress is not None:
                progress(len(batch))
    return Attribution(model=str(name), site=site, target=target, group_names=names, sums=sums, counts=counts,
                       objective=objective, full=full,
                       meta={"skipped": int(sum(1 for r in rows if not r))})


# ---- selections -----------------------------------------------------------------------------------
def _top(scores: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask of the top ``share`` of ``scores`` (at least one neuron; NaN never selected)."""
    flat = np.where(np.isnan(scores), -np.inf, scores).reshape(-1)
    n = max(1, int(round(share * flat.size)))
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:n]] = True
    return keep.reshape(scores.shape) & ~np.isnan(scores)


def _check_share(share: float, name: str) -> float:
    if not 0.0 < float(share) <= 1.0:
        raise InputError(f"{name} must be in (0, 1]", value=share)
    return float(share)


def culture_general(cultural: np.ndarray, control: np.ndarray, *, share: float = 0.01,
                    control_share: float = 0.01, model: str = "", site: str = DEFAULT_SITE) -> pd.DataFrame:
    """Culture-general neurons: top ``share`` of (cultural - control) scores, minus the top
    ``control_share`` of the control scores themselves (neurons that react to the country
    sentence whatever the question).

    Parameters
    ----------
    cultural, control : ndarray (layers, neurons)
        Mean attribution over the cultural prompts and over the control prompts.

    Returns
    -------
    pandas.DataFrame
        model, site, layer, neuron, condition ("general"), score (cultural - control).
    """
    cultural, control = np.asarray(cultural, float), np.asarray(control, float)
    if cultural.shape != control.shape:
        raise InputError(f"cultural and control scores differ in shape: {cultural.shape} vs {control.shape}")
    diff = cultural - control
    chosen = _top(diff, _check_share(share, "share")) & ~_top(control, _check_share(control_share, "control_share"))
    layer, neuron = np.nonzero(chosen)
    return pd.DataFrame({"model": model, "site": site, "layer": layer.astype(np.int64), "neuron": neuron.astype(np.int64),
                         "condition": "general", "score": diff[layer, neuron]})[list(NEURON_COLUMNS)]


def culture_specific(scores: np.ndarray, countries: Sequence[str], *, share: float = 0.003, z_min: float = 0.5,
                     exclude: pd.DataFrame | None = None, model: str = "", site: str = DEFAULT_SITE) -> pd.DataFrame:
    """Culture-specific neurons per country: the top ``share`` of the country's scores whose
    z-score across countries ((s_c - mean) / sd over countries, ddof 1) is at least ``z_min``.

    Parameters
    ----------
    scores : ndarray (countries, layers, neurons)
        Mean attribution per country (optionally minus the country's control scores).
    exclude : DataFrame, optional
        Neurons (layer, neuron) left out, e.g. the culture-general ones.

    Returns
    -------
    pandas.DataFrame
        model, site, layer, neuron, condition (country), score, z.
    """
    scores = np.asarray(scores, float)
    if scores.ndim != 3 or scores.shape[0] != len(countries):
        raise InputError(f"scores must be (countries, layers, neurons) with {len(countries)} countries; got {scores.shape}")
    if len(countries) < 2:
        raise InputError("culture-specific neurons need at least 2 countries (z-scores across countries)")
    _check_share(share, "share")
    mean = scores.mean(axis=0)
    sd = scores.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, (scores - mean) / sd, 0.0)
    out = []
    ban = np.zeros(scores.shape[1:], dtype=bool)
    if exclude is not None and len(exclude):
        ban[exclude["layer"].to_numpy(int), exclude["neuron"].to_numpy(int)] = True
    for c, country in enumerate(countries):
        chosen = _top(scores[c], share) & (z[c] >= z_min) & ~ban
        layer, neuron = np.nonzero(chosen)
        out.append(pd.DataFrame({"model": model, "site": site, "layer": layer.astype(np.int64),
                                 "neuron": neuron.astype(np.int64), "condition": str(country),
                                 "score": scores[c][layer, neuron], "z": z[c][layer, neuron]}))
    return pd.concat(out, ignore_index=True)


def layer_distribution(selection: pd.DataFrame, n_layers: int) -> pd.DataFrame:
    """Selected neurons per layer and condition: condition, layer, n, share (of the condition's selection)."""
    conds = sorted(selection["condition"].unique()) if len(selection) else []
    rows = []
    for cond in conds:
        part = selection[selection["condition"] == cond]
        per = np.bincount(part["layer"].to_numpy(int), minlength=n_layers)
        for layer in range(n_layers):
            rows.append({"condition": cond, "layer": layer, "n": int(per[layer]),
                         "share": float(per[layer] / max(len(part), 1))})
    return pd.DataFrame(rows, columns=["condition", "layer", "n", "share"])
