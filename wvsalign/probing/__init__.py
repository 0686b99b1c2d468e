"""Neuron probing: which MLP neurons carry a model's cultural answers, and what ablating them
does to alignment per country.

* sites and capture (:mod:`.sites`, :mod:`.capture`): named sites ``down_in`` (default),
  ``act``, ``gate``, ``up``; activations at each prompt's answer position, memory-bounded;
* key neurons (:mod:`.key_neurons`): per-prompt top-k per layer, sets per condition,
  specialised-neuron shares, key-neuron counts against alignment;
* attribution (:mod:`.attribution`, :mod:`.control`): gradient x activation for the
  human-majority option (or the mean score), culture-general and culture-specific neurons,
  the shipped control items;
* ablation (:mod:`.ablation`, :mod:`.effects`): zero or mean-replace a set while scoring or
  generating, :class:`AblatedBackend` for the normal runner, random sets matched per layer;
* workflows over a backend (:mod:`.api`) and the CLI ``wvsalign probe`` (:mod:`.commands`).

Names are imported lazily so that ``import wvsalign.probing`` does not import torch.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "SITES": ".sites",
    "DEFAULT_SITE": ".sites",
    "list_sites": ".sites",
    "n_neurons": ".sites",
    "capture": ".capture",
    "collect_activations": ".capture",
    "Activations": ".capture",
    "key_neurons": ".key_neurons",
    "specialised_share": ".key_neurons",
    "k_sweep": ".key_neurons",
    "counts_vs_alignment": ".key_neurons",
    "attribute": ".attribution",
    "Attribution": ".attribution",
    "majority_targets": ".attribution",
    "culture_general": ".attribution",
    "culture_specific": ".attribution",
    "layer_distribution": ".attribution",
    "load_control_items": ".control",
    "control_prompts": ".control",
    "control_accuracy": ".control",
    "ablate": ".ablation",
    "random_matched": ".ablation",
    "neuron_set_sha256": ".ablation",
    "AblatedBackend": ".ablation",
    "alignment_changes": ".effects",
    "random_comparison": ".effects",
    "activations": ".api",
    "key_neuron_analysis": ".api",
    "attribution_analysis": ".api",
    "ablation_study": ".api",
    "load_probe_folder": ".summary",
    "neuron_summary": ".summary",
    "ablation_summary": ".summary",
    "ablation_by_country": ".summary",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
