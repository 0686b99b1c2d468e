"""Named hook sites on a model's MLP neurons (stable strings, like TransformerLens' hook names).

A *neuron* is one channel of an MLP's intermediate layer (SmolLM2-135M: 30 layers x 1536,
Gemma 3 270M: 18 x 2048). Sites:

* ``down_in`` (default): the input of the down projection, ``act(gate(x)) * up(x)`` in gated
  MLPs (Llama/SmolLM2, Gemma 3, Qwen2, Mistral) and ``act(c_fc(x))`` in GPT-2 style MLPs;
* ``act``: the activation module's output, ``act(gate(x))`` (GPT-2: ``act(c_fc(x))``, the same
  tensor as ``down_in``);
* ``gate``: the gate projection's output before the activation (gated MLPs only);
* ``up``: the up projection's output (gated MLPs only).

:func:`list_sites` names the sites a model has; :func:`resolve_site` gives, per layer, the
module to hook and whether the site is that module's input or output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: every site name, in the order :func:`list_sites` lists them
SITES = ("down_in", "act", "gate", "up")
#: the default site
DEFAULT_SITE = "down_in"

#: per MLP style: site -> (submodule attribute, "input" | "output")
_STYLE_SITES: dict[str, dict[str, tuple[str, str]]] = {
    "gated": {
        "down_in": ("down_proj", "input"),
        "act": ("act_fn", "output"),
        "gate": ("gate_proj", "output"),
        "up": ("up_proj", "output"),
    },
    "gpt2": {
        "down_in": ("c_proj", "input"),
        "act": ("act", "output"),
    },
}


@dataclass(frozen=True)
class SitePoint:
    """Where one layer's site is read: ``module``'s input or output (last dimension = neurons)."""

    layer: int
    module: Any
    io: str  # "input" | "output"


def unwrap(model: Any) -> Any:
    """The torch module of ``model`` (a ``LoadedModel`` or a backend with ``.model``, or the module itself)."""
    if hasattr(model, "parameters") and hasattr(model, "named_modules"):
        return model
    inner = getattr(model, "model", None)
    if inner is None or not hasattr(inner, "parameters"):
        raise InputError(f"expected a torch model or an object with a .model torch model, got {type(model).__name__}")
    return inner


_base = unwrap


def decoder_layers(model: Any) -> list[Any]:
    """The decoder blocks of a causal LM (``model.model.layers`` or GPT-2's ``transformer.h``).

    Raises
    ------
    InputError
        When no list of blocks with an ``mlp`` is found.
    """
    model = _base(model)
    candidates = []
    base = getattr(model, "base_model", model)
    for owner in (base, model, getattr(base, "language_model", None), getattr(model, "model", None)):
        if owner is None:
            continue
        for attr in ("layers", "h"):
            blocks = getattr(owner, attr, None)
            if blocks is not None:
                candidates.append(blocks)
    for blocks in candidates:
        blocks = list(blocks)
        if blocks and all(hasattr(b, "mlp") for b in blocks):
            return blocks
    raise InputError(f"cannot find the decoder blocks of {type(model).__name__}: expected model.model.layers or "
                     "transformer.h, each with an .mlp")


def mlp_style(mlp: Any) -> str:
    """"gated" (gate_proj/up_proj/down_proj/act_fn) or "gpt2" (c_fc/act/c_proj)."""
    if all(hasattr(mlp, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")):
        return "gated"
    if all(hasattr(mlp, a) for a in ("c_fc", "c_proj", "act")):
        return "gpt2"
    raise InputError(f"unsupported MLP {type(mlp).__name__}: expected gate_proj/up_proj/down_proj/act_fn "
                     "(Llama, Gemma 3, Qwen2, Mistral) or c_fc/act/c_proj (GPT-2)")


def list_sites(model: Any) -> list[str]:
    """The site names ``model`` has, default first.

    Examples
    --------
    >>> list_sites(llama_model)   # doctest: +SKIP
    ['down_in', 'act', 'gate', 'up']
    >>> list_sites(gpt2_model)    # doctest: +SKIP
    ['down_in', 'act']
    """
    style = mlp_style(decoder_layers(model)[0].mlp)
    return [s for s in SITES if s in _STYLE_SITES[style]]


def n_neurons(model: Any) -> list[int]:
    """Neurons per layer (the MLP's intermediate size of every layer)."""
    out = []
    for block in decoder_layers(model):
        mlp = block.mlp
        if mlp_style(mlp) == "gated":
            out.append(int(mlp.down_proj.in_features))
        else:
            w = mlp.c_proj.weight  # Conv1D: (in, out)
            out.append(int(w.shape[0]))
    return out


def resolve_site(model: Any, site: str = DEFAULT_SITE) -> list[SitePoint]:
    """Per layer, the module to hook for ``site`` and whether the site is its input or output.

    Raises
    ------
    InputError
        For a site the model does not have, or an activation module shared by several layers
        (its hook would fire once per layer).
    """
    blocks = decoder_layers(model)
    style = mlp_style(blocks[0].mlp)
    table = _STYLE_SITES[style]
    if site not in table:
        raise InputError(f"site {site!r} does not exist on {type(_base(model)).__name__}; expected one of "
                         f"{[s for s in SITES if s in table]}", value=site)
    attr, io = table[site]
    points = [SitePoint(i, getattr(b.mlp, attr), io) for i, b in enumerate(blocks)]
    if len({id(p.module) for p in points}) != len(points):
        raise InputError(f"the {attr} module is shared between layers of {type(_base(model)).__name__}; "
                         f"site {site!r} cannot be told apart per layer")
    return points
