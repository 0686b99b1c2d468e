"""The scoring rule: which tokens are scored for each answer option, and the probs table.

For a prompt with context ``text`` and options whose answers are the strings
``continuations`` (the exact text that follows ``text`` for each option):

1. **Tokens.** The context is tokenised with the tokenizer's own special tokens (a BOS
   token where the tokenizer adds one), except that no second BOS is added to a text that
   already starts with the BOS string (chat templates such as Gemma's write it themselves).
   Each continuation is tokenised on its own, without special tokens, so that an option is
   scored on the same tokens whatever the context. The prompt builder ends every ``text``
   at a token boundary (after a newline or a colon), where this equals tokenising
   ``text + continuation`` and splitting it (lm-evaluation-harness's rule); the naive
   reference (:func:`naive_logprobs`) scores exactly the same tokens.
2. **Label tokens alone, unless one is a prefix of another.** An option's raw score is the
   log-likelihood of its continuation tokens (the sum of their log-probabilities; one token
   for most labels, several for "10" = '1', '0' under SmolLM2's and Gemma 3's tokenizers).
   Where one option's tokens are a prefix of another's ('1' and '10' on a 10-point scale),
   the probability of '1' would include the mass of '10'. For such label sets only, every
   option of the prompt is scored as ``continuation + label_end`` (the end-of-turn string of
   a chat prompt such as ``<|im_end|>``, or the delimiter a plain prompt asks for such as
   ``"\\n"``): '1' then means "1 and nothing more". Label sets without such prefixes are
   scored on the label tokens alone. ``scored_with_end`` records which rule applied.
3. **Normalisation.** Log-softmax over the vocabulary in float32 at every scored
   position; the per-option log-likelihoods (``logprob``, summed in float64) are normalised
   over the options: ``prob = exp(logprob - logsumexp(logprobs))``. ``valid_mass`` is the
   probability mass the model put on the valid answers before normalising (the sum over
   options of ``exp(logprob)``); a small value means the model ignores the answer format.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import tables
from ..errors import InputError

#: version of the rule above; recorded with every run so that changed rules are not mixed
SCORING_RULE = "wvsalign-scoring-1"

#: variant columns of a prompt copied into the probs table when present (template is a probs column already)
VARIANT_COLUMNS = tuple(c for c in tables.VARIANT_COLUMNS if c != "template")

#: columns of the probs table, in order
PROBS_COLUMNS = ("model", "prompt_id", "item_id", "country", "template", "code", "label", "prob",
                 "logprob", "valid_mass", "scored_with_end") + VARIANT_COLUMNS


@dataclass(frozen=True)
class ScoringRequest:
    """Token ids to score for one prompt: the context and one continuation per option."""

    prompt_id: str
    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]
    scored_with_end: bool

    @property
    def n_options(self) -> int:
        return len(self.continuations)

    @property
    def length(self) -> int:
        """Tokens of the longest context + continuation sequence."""
        return len(self.context) + max(len(c) for c in self.continuations)


def check_prompts(prompts: pd.DataFrame, *, source: str | None = None, table: str = "prompts") -> None:
    """Raise :class:`InputError` unless ``prompts`` satisfies the ``table`` contract of
    :mod:`wvsalign.tables` (``"prompts"``: model-neutral; ``"rendered"``: rendered for a model)
    with unique prompt ids."""
    tables.check(prompts, table, source=source)
    dup = prompts["prompt_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("prompt ids must be unique", file=source, column="prompt_id", row=row,
                         value=prompts["prompt_id"].iloc[row])


def tokenize(tokenizer: Any, texts: Sequence[str], *, special_tokens: bool = True) -> list[tuple[int, ...]]:
    """Token ids of ``texts`` by the rule of this module.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    texts : sequence of str
    special_tokens : bool
        True: as a prompt context (the tokenizer's special tokens, but no second BOS for a text
        that already starts with the BOS string); False: bare pieces (continuations).

    Returns
    -------
    list of tuple of int
    """
    bos = getattr(tokenizer, "bos_token", None) or None
    texts = [str(t) for t in texts]
    if not special_tokens:
        groups = {False: texts}
    else:
        groups = {True: [t for t in texts if not (bos and t.startswith(bos))],
                  False: [t for t in texts if bos and t.startswith(bos)]}
    encoded: dict[tuple[str, bool], tuple[int, ...]] = {}
    for special, group in groups.items():
        unique = list(dict.fromkeys(group))
        if unique:
            ids = tokenizer(unique, add_special_tokens=special)["input_ids"]
            encoded.update({(t, special): tuple(int(i) for i in x) for t, x in zip(unique, ids)})
    if not special_tokens:
        return [encoded[(t, False)] for t in texts]
    return [encoded[(t, not (bos and t.startswith(bos)))] for t in texts]


class _Encoder:
    """Contexts and (cached) continuation strings tokenised by a backend or a tokenizer."""

    def __init__(self, encoder: Any) -> None:
        from .backend import Backend

        if isinstance(encoder, Backend):
            self._encode = encoder.encode
        else:
            self._encode = lambda texts, special_tokens=True: tokenize(encoder, texts, special_tokens=special_tokens)
        self._cache: dict[str, tuple[int, ...]] = {}

    def contexts(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        return list(self._encode(texts, special_tokens=True))

    def piece(self, text: str) -> tuple[int, ...]:
        if text not in self._cache:
            self._cache[text] = tuple(self._encode([text], special_tokens=False)[0])
        return self._cache[text]


def _is_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def _has_prefix_pair(seqs: Sequence[tuple[int, ...]]) -> bool:
    ordered = sorted(seqs)  # a prefix sorts right before the sequences that extend it
    return any(_is_prefix(a, b) for a, b in zip(ordered, ordered[1:]))


def encode_requests(
    prompts: pd.DataFrame,
    encoder: Any,
    *,
    context_length: int | None = None,
    source: str | None = None,
) -> list[ScoringRequest]:
    """Token ids to score for every rendered prompt (one :class:`ScoringRequest` per row, same order).

    Parameters
    ----------
    prompts : DataFrame
        Prompts rendered for the model (the ``rendered`` contract: ``text``, ``continuations``,
        ``label_end``), e.g. ``backend.render(build_prompts(...))``.
    encoder : Backend or transformers tokenizer
        Whose tokens: a :class:`~wvsalign.inference.backend.Backend` (its ``encode``) or a
        tokenizer (:func:`tokenize`).
    context_length : int, optional
        The model's context window; longer prompts are refused.
    source : str, optional
        Named in error messages.

    Returns
    -------
    list of ScoringRequest

    Raises
    ------
    InputError
        For a prompt whose options cannot be told apart, whose continuation is empty, or that is
        longer than ``context_length`` tokens.
    """
    check_prompts(prompts, source=source, table="rendered")
    enc = _Encoder(encoder)
    contexts = enc.contexts([str(t) for t in prompts["text"]])
    requests = []
    cols = {c: prompts[c].tolist() for c in ("prompt_id", "continuations", "label_end")}
    for row, (pid, conts, end, ctx) in enumerate(zip(cols["prompt_id"], cols["continuations"], cols["label_end"], contexts)):
        conts = [str(c) for c in list(conts)]
        if len(conts) < 2:
            raise InputError("a prompt needs at least two continuations", file=source, column="continuations", row=row, value=pid)
        if len(ctx) == 0:
            raise InputError("the prompt text is empty", file=source, column="text", row=row, value=pid)
        toks = [enc.piece(c) for c in conts]
        if any(len(t) == 0 for t in toks):
            raise InputError("a continuation is empty", file=source, column="continuations", row=row, value=conts)
        with_end = _has_prefix_pair(toks)
        if with_end:
            end = "" if end is None or (isinstance(end, float) and np.isnan(end)) else str(end)
            if not end:
                raise InputError(
                    f"prompt {pid}: one option's tokens are a prefix of another's ({conts}) and label_end is empty, "
                    "so the options cannot be scored apart; give the prompt a label_end (end of turn or delimiter)",
                    file=source, column="label_end", row=row,
                )
            toks = [enc.piece(c + end) for c in conts]
            if _has_prefix_pair(toks):
                raise InputError(
                    f"prompt {pid}: options {conts} stay indistinguishable even followed by label_end {end!r}",
                    file=source, column="continuations", row=row,
                )
        req = ScoringRequest(str(pid), ctx, tuple(toks), with_end)
        if context_length is not None and req.length > context_length:
            raise InputError(
                f"prompt {pid} (item {prompts['item_id'].iloc[row]}, country {prompts['country'].iloc[row]}) is "
                f"{req.length} tokens with its longest answer, longer than the model's context of {context_length} tokens; "
                "shorten the template or use a model with a longer context",
                file=source, row=row,
            )
        requests.append(req)
    return requests


# ---- reference and normalisation ---------------------------------------------------------
def naive_logprobs(model: Any, requests: Sequence[ScoringRequest]) -> list[np.ndarray]:
    """Reference scores: one forward pass per prompt x option, no batching, no shared prefixes.

    Returns, per request, the log-likelihood of each option's continuation (float64 sums of
    float32 log-softmax values), the quantity the fast engine computes.
    """
    import torch

    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for req in requests:
            scores = np.empty(req.n_options, dtype=np.float64)
            n = len(req.context)
            for j, cont in enumerate(req.continuations):
                ids = torch.tensor([req.context + cont], device=device)
                logits = model(input_ids=ids, use_cache=False).logits[0, n - 1 : n - 1 + len(cont)]
                logp = torch.log_softmax(logits.float(), dim=-1)
                picked = logp[torch.arange(len(cont), device=device), torch.tensor(cont, device=device)]
                scores[j] = float(np.sum(picked.cpu().numpy().astype(np.float64)))
            out.append(scores)
    return out


def normalise(logprobs: np.ndarray) -> tuple[np.ndarray, float]:
    """Option probabilities (normalised over the options) and the valid mass before normalising."""
    lp = np.asarray(logprobs, dtype=np.float64)
    top = lp.max()
    total = top + np.log(np.exp(lp - top).sum())
    return np.exp(lp - total), float(np.exp(total))


def probs_frame(
    prompts: pd.DataFrame,
    requests: Sequence[ScoringRequest],
    logprobs: Sequence[np.ndarray],
    model_name: str,
) -> pd.DataFrame:
    """The probs table (one row per prompt x option, options in presented order)."""
    if not (len(prompts) == len(requests) == len(logprobs)):
        raise ValueError("prompts, requests and logprobs must have the same length")
    bad = [i for i, (codes, labels, r) in enumerate(zip(prompts["codes"], prompts["labels"], requests))
           if not (len(list(codes)) == len(list(labels)) == r.n_options)]
    if bad:
        raise InputError("codes, labels and continuations must have the same length", column="codes", row=bad[0],
                         value=prompts["prompt_id"].iloc[bad[0]])
    counts = np.array([r.n_options for r in requests], dtype=np.int64)
    idx = np.repeat(np.arange(len(prompts)), counts)
    lp = np.concatenate([np.asarray(x, dtype=np.float64) for x in logprobs]) if len(requests) else np.empty(0)
    probs, masses = [], []
    for x in logprobs:
        p, m = normalise(x)
        probs.append(p)
        masses.append(m)
    frame = pd.DataFrame({
        "model": np.full(len(idx), model_name, dtype=object),
        "prompt_id": prompts["prompt_id"].to_numpy()[idx],
        "item_id": prompts["item_id"].to_numpy()[idx],
        "country": prompts["country"].to_numpy()[idx],
        "template": prompts["template"].to_numpy()[idx],
        "code": np.concatenate([np.asarray(list(c), dtype=np.int64) for c in prompts["codes"]]) if len(prompts) else np.empty(0, np.int64),
        "label": np.concatenate([np.asarray([str(v) for v in c], dtype=object) for c in prompts["labels"]]) if len(prompts) else np.empty(0, object),
        "prob": np.concatenate(probs) if probs else np.empty(0),
        "logprob": lp,
        "valid_mass": np.repeat(np.asarray(masses, dtype=np.float64), counts),
        "scored_with_end": np.repeat(np.array([r.scored_with_end for r in requests], dtype=bool), counts),
    })
    for col in VARIANT_COLUMNS:
        frame[col] = prompts[col].to_numpy()[idx] if col in prompts.columns else None
    return frame
