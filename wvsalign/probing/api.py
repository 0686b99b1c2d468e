"""The probing workflows over a backend: activations, key neurons, attribution, ablation.

Each function takes a :class:`~wvsalign.inference.backend.Backend` with a torch ``.model``
(the HF backend), model-neutral prompts (:func:`wvsalign.build_prompts`) and, where alignment
or human-majority options are needed, the human table and item bank, and returns tidy tables.

>>> from wvsalign.inference import load_backend
>>> from wvsalign.probing import api
>>> backend = load_backend("smollm2-135m")
>>> acts = api.activations(backend, prompts)                       # doctest: +SKIP
>>> res = api.attribution_analysis(backend, prompts, human, bank)  # doctest: +SKIP
>>> study = api.ablation_study(backend, prompts, human, bank, res["general"], n_random=10)  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .sites import DEFAULT_SITE


def condition_labels(prompts: pd.DataFrame) -> list[str]:
    """The condition of each prompt: its country (``NONE`` for the default template), prefixed
    with the language (``de|JPN``) when the prompts have more than one language."""
    countries = prompts["country"].astype(str)
    if "language" in prompts.columns and prompts["language"].nunique() > 1:
        return (prompts["language"].astype(str) + "|" + countries).tolist()
    return countries.tolist()


def prepare(backend: Any, prompts: pd.DataFrame) -> tuple[pd.DataFrame, list[Any]]:
    """Render ``prompts`` for the backend's model and encode them (the scoring rule's requests)."""
    rendered = backend.render(prompts)
    return rendered, backend.requests(rendered)


def human_table(bank: Any, countries: Sequence[str], *, wvs: str | None = None, seed: int = 0,
                min_n: int = 30) -> pd.DataFrame:
    """The human table: answer shares per country x item from a WVS-7 file, or SYNTHETIC
    WVS-format data (marked ``attrs["synthetic"]``) when ``wvs`` is None."""
    if wvs is None:
        from ..survey.synthetic import synthetic_human

        out = synthetic_human(bank, list(countries), seed=seed, min_n=min_n)
        out.attrs["synthetic"] = True
        return out
    from ..survey import read_wvs

    return read_wvs(wvs, items=bank, countries=list(countries)).distributions(min_n=min_n)


def _pad_id(backend: Any) -> int:
    return int(getattr(getattr(backend, "tokenizer", None), "pad_token_id", None) or 0)


def activations(backend: Any, prompts: pd.DataFrame, *, site: str = DEFAULT_SITE, k: int = 5,
                keep_all: bool = False, batch_size: int = 16, progress: Callable[[int], None] | None = None) -> Any:
    """:func:`~wvsalign.probing.capture.collect_activations` for model-neutral prompts, grouped by condition."""
    from .capture import collect_activations

    rendered, requests = prepare(backend, prompts)
    return collect_activations(backend.model, requests, site=site, k=k, groups=condition_labels(rendered),
                               keep_all=keep_all, batch_size=batch_size, model_name=backend.name,
                               pad_token_id=_pad_id(backend), progress=progress)


def score_prompts(backend: Any, prompts: pd.DataFrame, run_dir: str | Path | None = None, *,
                  progress: bool = False) -> pd.DataFrame:
    """The probs table through the normal runner (a resumable run directory when ``run_dir`` is given)."""
    from ..inference.runner import score

    return score(prompts, backend, run_dir, progress=progress)


def key_neuron_analysis(backend: Any, prompts: pd.DataFrame, human: pd.DataFrame | None = None, bank: Any = None, *,
                        k: int = 5, site: str = DEFAULT_SITE, reference: str | None = "NONE", min_share: float = 0.0,
                        acts: Any = None, probs: pd.DataFrame | None = None, batch_size: int = 16,
                        progress: Callable[[int], None] | None = None,
                        scoring_progress: bool = False) -> dict[str, Any]:
    """Key neurons per condition, specialised shares against ``reference`` (the default template's
    condition ``NONE`` when present), and, with the human table, key-neuron counts against each
    country's alignment (Pearson r, Fisher CI)."""
    from ..stats import alignment, mean_scores
    from . import key_neurons as kn

    acts = acts if acts is not None else activations(backend, prompts, site=site, k=k, batch_size=batch_size,
                                                     progress=progress)
    table = kn.key_neurons(acts, k=k, min_share=min_share)
    ref = reference if reference in set(acts.group_names) else None
    out: dict[str, Any] = {"activations": acts, "key_neurons": table, "counts": kn.key_counts(table),
                           "specialised": kn.specialised_table(table, acts.n_layers, ref)}
    if human is not None:
        probs = probs if probs is not None else score_prompts(backend, prompts, progress=scoring_progress)
        scores = mean_scores(probs, human, bank)
        out["alignment"] = alignment(scores, by="country")
        joined, corr = kn.counts_vs_alignment(out["counts"], out["alignment"])
        out["counts_alignment"], out["correlation"] = joined, corr
    return out


def control_targets(rendered: pd.DataFrame, items: Sequence[Any] | None = None) -> np.ndarray:
    """Per control prompt, the index of the right option in presented order."""
    from .control import load_control_items

    items = load_control_items() if items is None else items
    right = {it.item_id: it.answer_code for it in items}
    return np.array([list(map(int, codes)).index(right[i]) for i, codes in zip(rendered["item_id"], rendered["codes"])],
                    dtype=np.int64)


def attribution_analysis(backend: Any, prompts: pd.DataFrame, human: pd.DataFrame, bank: Any = None, *,
                         target: str = "majority", site: str = DEFAULT_SITE, general_share: float = 0.01,
                         control_share: float = 0.01, specific_share: float = 0.003, z_min: float = 0.5,
                         control_items: Sequence[Any] | None = None, batch_size: int = 32,
                         progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Gradient x activation on the survey prompts and on the control items asked with the same
    templates and countries; culture-general and culture-specific selections and their layer distribution.

    Culture-specific scores are each country's cultural minus its control attribution.
    """
    from ..survey.items import ItemBank
    from . import attribution as at
    from .control import control_prompts

    bank = bank if bank is not None else ItemBank.wvs7()
    rendered, requests = prepare(backend, prompts)
    groups = condition_labels(rendered)
    if target == "majority":
        targets = at.majority_targets(rendered, human)
        if (targets < 0).all():
            raise InputError("no prompt has a human answer for its country and item; check the human table's countries")
        cult = at.attribute(backend.model, requests, targets=targets, site=site, groups=groups, batch_size=batch_size,
                            model_name=backend.name, pad_token_id=_pad_id(backend), progress=progress)
    else:
        cult = at.attribute(backend.model, requests, target="mean_score", values=at.option_values(rendered, bank),
                            site=site, groups=groups, batch_size=batch_size, model_name=backend.name,
                            pad_token_id=_pad_id(backend), progress=progress)
    countries = sorted(set(rendered["country"]))
    templates = sorted(set(prompts["template"])) if "template" in prompts.columns else ["persona"]
    cprompts = control_prompts(countries, items=control_items, templates=templates)
    crendered, crequests = prepare(backend, cprompts)
    ctrl = at.attribute(backend.model, crequests, targets=control_targets(crendered, control_items), site=site,
                        groups=condition_labels(crendered), batch_size=batch_size, model_name=backend.name,
                        pad_token_id=_pad_id(backend), progress=progress)
    general = at.culture_general(cult.overall_mean(), ctrl.overall_mean(), share=general_share,
                                 control_share=control_share, model=backend.name, site=site)
    common = [c for c in cult.group_names if c in ctrl.group_names and c != "NONE"]
    specific = pd.DataFrame(columns=["model", "site", "layer", "neuron", "condition", "score", "z"])
    if len(common) >= 2:
        cm, km = cult.means(), ctrl.means()
        scores = np.stack([cm[cult.group_names.index(c)] - km[ctrl.group_names.index(c)] for c in common])
        specific = at.culture_specific(scores, common, share=specific_share, z_min=z_min, exclude=general,
                                       model=backend.name, site=site)
    n_layers = cult.sums.shape[1]
    selections = pd.concat([general.assign(z=np.nan), specific], ignore_index=True)
    layers = at.layer_distribution(selections.assign(
        condition=np.where(selections["condition"] == "general", "general", "specific:" + selections["condition"])),
        n_layers)
    return {"cultural": cult, "control": ctrl, "general": general, "specific": specific, "layers": layers,
            "thresholds": {"general_share": general_share, "control_share": control_share,
                           "specific_share": specific_share, "z_min": z_min, "target": target, "site": site}}


def ablation_study(backend: Any, prompts: pd.DataFrame, human: pd.DataFrame, bank: Any, neurons: Any, *,
                   mode: str = "zero", site: str = DEFAULT_SITE, means: np.ndarray | None = None, n_random: int = 10,
                   seed: int = 0, out: str | Path | None = None, control: bool = True, ci: str = "fisher",
                   n_boot: int = 2000, progress: bool = False,
                   echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score the prompts unablated, with ``neurons`` ablated, and with ``n_random`` random sets
    matched per layer in count; alignment changes per country, category and overall, where the
    real change falls among the random ones, overlapping-correlation tests of the real ablation
    against the unablated run, and control-item accuracy for each condition.

    With ``out``, every condition is a resumable run directory under ``out/runs/`` (the neuron
    set's sha256 is in its identity), so an interrupted study resumes.
    """
    from . import effects
    from .ablation import AblatedBackend, neuron_frame, normalise_neurons, random_matched
    from .control import control_prompts
    from .sites import n_neurons

    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise InputError("n_random must be a non-negative integer", value=n_random)
    say = echo or (lambda _m: None)
    widths = n_neurons(backend.model)
    real = normalise_neurons(neurons, widths)
    if not real:
        raise InputError("the neuron set to ablate is empty")
    conditions: dict[str, Any] = {"base": backend, "ablated": AblatedBackend(backend, real, mode, site=site, means=means,
                                                                            label="ablated")}
    sets = {"ablated": real}
    for s in range(n_random):
        rnd = random_matched(real, widths, seed + s)
        sets[f"random-{seed + s}"] = rnd
        conditions[f"random-{seed + s}"] = AblatedBackend(backend, rnd, mode, site=site, means=means,
                                                          label=f"random-{seed + s}")
    root = Path(out) / "runs" if out is not None else None
    cprompts = control_prompts(sorted(set(prompts["country"])), templates=sorted(set(prompts["template"]))) \
        if control else None
    probs, cprobs = {}, {}
    for i, (name, be) in enumerate(conditions.items()):
        say(f"[{i + 1}/{len(conditions)}] scoring {name}")
        tag = name if name == "base" else f"{name}-{be.sha256[:12]}"
        probs[name] = score_prompts(be, prompts, None if root is None else root / tag, progress=progress)
        if cprompts is not None:
            cprobs[name] = score_prompts(be, cprompts, None if root is None else root / f"control-{tag}",
                                         progress=progress)
    changes = effects.alignment_changes(probs, human, bank, ci=ci, n_boot=n_boot, seed=seed)
    randoms = [c for c in conditions if c.startswith("random-")]
    result = {"changes": changes, "random": effects.random_comparison(changes, real="ablated", randoms=randoms),
              "compare": effects.compare_with_base(probs, human, bank, condition="ablated"),
              "sets": pd.concat([neuron_frame(v).assign(condition=k) for k, v in sets.items()], ignore_index=True),
              "probs": probs}
    if cprobs:
        result["control"] = effects.control_changes(cprobs)
    return result
