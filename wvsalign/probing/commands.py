"""CLI: ``wvsalign probe {activations,key-neurons,attribute,ablate}`` (a thin layer over :mod:`.api`).

Every subcommand writes tidy tables (model, site, layer, neuron, condition, score, ...) as
parquet/CSV into ``--out`` and a ``probe.yaml`` with its settings and the backend's identity.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EPILOG = """examples:
  wvsalign probe activations --model smollm2-135m --demo --countries USA,JPN,DEU --out probes/acts
  wvsalign probe key-neurons --demo --templates persona,default --out probes/key
  wvsalign probe attribute --demo --out probes/attr            # culture-general/specific neurons
  wvsalign probe ablate --demo --neurons probes/attr/culture_general.parquet --random 10 --out probes/ablate

Without --wvs the human side (alignment, human-majority options) is SYNTHETIC WVS-format data."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m", help="registry name, local folder or .gguf (default smollm2-135m)")
    p.add_argument("--backend", default="hf", help="backend kind (default hf; probing needs a torch model)")
    p.add_argument("--wvs", metavar="FILE", help="WVS-7 data file; default: synthetic human data")
    p.add_argument("--items", metavar="IDS", help="item ids (default: all 239, or the demo subset with --demo)")
    p.add_argument("--categories", metavar="NAMES", help="category slugs")
    p.add_argument("--demo", action="store_true", help="two items per category (24 items)")
    p.add_argument("--countries", default="default", help="ISO3 codes, names or set names (default: the 55 of 'default')")
    p.add_argument("--templates", default="persona", help="prompt templates (comma-separated; default persona)")
    p.add_argument("--site", default="down_in", help="down_in (default), act, gate, up (gated MLPs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, mps or auto")
    p.add_argument("--dtype", help="float32, bfloat16, float16 or auto")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=16,
                   help="prompts per prefix-sharing group (capture), rows per pass (attribution); default 16")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def register(subparsers: Any) -> None:
    """Add ``probe`` and its subcommands."""
    probe = subparsers.add_parser("probe", help="neuron probing: activations, key neurons, attribution, ablation",
                                  description="Which MLP neurons carry a model's cultural answers, and what ablating "
                                              "them does to alignment per country.",
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = probe.add_subparsers(dest="probe_command", metavar="STEP")
    probe.set_defaults(handler=lambda args: (probe.print_help(), 2)[1])

    a = sub.add_parser("activations", help="top-k neurons per prompt and layer, mean activations per condition")
    _common(a)
    a.add_argument("--k", type=int, default=5, help="top neurons per prompt and layer (default 5)")
    a.set_defaults(handler=_activations)

    k = sub.add_parser("key-neurons", help="key neurons per condition, specialised shares, counts vs alignment")
    _common(k)
    k.add_argument("--k", type=int, default=5)
    k.add_argument("--min-share", dest="min_share", type=float, default=0.0,
                   help="a key neuron is in the top-k of more than this share of a condition's prompts (default 0: any)")
    k.add_argument("--reference", default="NONE", help="condition A of the specialised shares (default NONE: the "
                                                        "default template; add it with --templates persona,default)")
    k.set_defaults(handler=_key_neurons)

    t = sub.add_parser("attribute", help="gradient x activation; culture-general and culture-specific neurons")
    _common(t)
    t.add_argument("--target", choices=("majority", "mean_score"), default="majority")
    t.add_argument("--general-share", dest="general_share", type=float, default=0.01)
    t.add_argument("--control-share", dest="control_share", type=float, default=0.01)
    t.add_argument("--specific-share", dest="specific_share", type=float, default=0.003)
    t.add_argument("--z-min", dest="z_min", type=float, default=0.5)
    t.set_defaults(handler=_attribute)

    b = sub.add_parser("ablate", help="ablate a neuron set; alignment change vs random sets matched per layer")
    _common(b)
    b.add_argument("--neurons", required=True, metavar="FILE", help="parquet/CSV with layer, neuron (and condition)")
    b.add_argument("--condition", help="keep only rows of this condition (e.g. general, or a country)")
    b.add_argument("--mode", choices=("zero", "mean"), default="zero")
    b.add_argument("--means", metavar="FILE", help="activations_mean.parquet of 'probe activations' (mode mean)")
    b.add_argument("--random", type=int, default=10, help="random sets matched per layer (default 10)")
    b.add_argument("--ci", choices=("fisher", "bootstrap"), default="fisher")
    b.set_defaults(handler=_ablate)

    s = sub.add_parser("summary", help="tables and a figure over finished probe outputs, one folder per model")
    s.add_argument("folders", nargs="+", metavar="DIR",
                   help="a model's folder holding its key-neurons / attribute / ablate outputs")
    s.add_argument("--out", metavar="DIR", help="write the tables (CSV, Markdown) and summary.png here")
    s.set_defaults(handler=_summary)


# ---- shared steps ---------------------------------------------------------------------------
def _setup(args: Any) -> tuple[Any, Any, Any, list[str], Path]:
    from ..inference.backend import load_backend
    from ..pipeline import RunConfig, select_items
    from ..prompts import build_prompts
    from ..survey.countries import Countries

    config = RunConfig(items=args.items, categories=args.categories, demo=bool(args.demo), countries=args.countries,
                       templates=args.templates, seed=args.seed)
    bank = select_items(config)
    countries = Countries.load().resolve(config.countries)
    prompts = build_prompts(bank, countries, templates=config.templates, seed=config.seed)
    backend = load_backend(args.model, args.backend, device=args.device, dtype=args.dtype, progress=not args.quiet)
    if not hasattr(backend, "model"):
        from ..errors import InputError

        raise InputError(f"backend {args.backend!r} has no torch model; probing needs the hf backend", value=args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return backend, bank, prompts, countries, out


def _human(args: Any, bank: Any, countries: list[str]) -> Any:
    import sys
    import warnings

    from ..survey.distributions import DataWarning
    from .api import human_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        human = human_table(bank, countries, wvs=args.wvs, seed=args.seed)
    for w in caught:  # data notes as one line each; other warnings go back to the filters in force
        if issubclass(w.category, DataWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if args.wvs is None and not args.quiet:
        print("NOTE: no --wvs file: the human side is SYNTHETIC WVS-format data (not real survey answers)")
    return human


def _record(out: Path, args: Any, backend: Any, extra: dict[str, Any] | None = None) -> None:
    import yaml

    from .._io import write_text_atomic

    settings = {k: v for k, v in vars(args).items() if k not in ("handler",) and not callable(v)}
    from ..inference.runner import versions

    record = {"command": f"probe {args.probe_command}", "settings": settings, "backend": backend.identity(),
              "versions": versions()}
    record.update(extra or {})
    write_text_atomic(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), out / "probe.yaml")


def _progress(args: Any, total: int, what: str):
    if args.quiet:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=what, unit="prompt", leave=False)
    return bar.update


def _n_control(prompts: Any) -> int:
    """How many control prompts the attribution adds (the control items x the prompts' countries x templates)."""
    from .control import load_control_items

    templates = prompts["template"].nunique() if "template" in prompts.columns else 1
    return len(load_control_items()) * prompts["country"].nunique() * templates


def _show(title: str, frame: Any, n: int = 12) -> None:
    print(title)
    print(frame.head(n).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


# ---- handlers ---------------------------------------------------------------------------------
def _activations(args: Any) -> int:
    from .._io import write_parquet_atomic
    from .api import activations

    backend, bank, prompts, countries, out = _setup(args)
    acts = activations(backend, prompts, site=args.site, k=args.k, batch_size=args.batch_size,
                       progress=_progress(args, len(prompts), "activations"))
    write_parquet_atomic(acts.topk_frame(), out / "activations_topk.parquet")
    write_parquet_atomic(acts.mean_frame(), out / "activations_mean.parquet")
    _record(out, args, backend, {"prompts": len(prompts), "layers": acts.n_layers, "neurons_per_layer": acts.width})
    print(f"activations at {args.site} of {len(prompts)} prompts ({acts.n_layers} layers x {acts.width} neurons) -> "
          f"{out}/activations_topk.parquet, activations_mean.parquet")
    return 0


def _key_neurons(args: Any) -> int:
    from .._io import write_csv_atomic, write_parquet_atomic
    from .api import key_neuron_analysis

    backend, bank, prompts, countries, out = _setup(args)
    human = _human(args, bank, countries)
    res = key_neuron_analysis(backend, prompts, human, bank, k=args.k, site=args.site, reference=args.reference,
                              min_share=args.min_share, batch_size=args.batch_size,
                              progress=_progress(args, len(prompts), "activations"), scoring_progress=not args.quiet)
    write_parquet_atomic(res["key_neurons"], out / "key_neurons.parquet")
    write_csv_atomic(res["counts"], out / "key_counts.csv")
    write_csv_atomic(res["specialised"], out / "specialised.csv")
    write_csv_atomic(res["alignment"], out / "alignment_by_country.csv")
    write_csv_atomic(res["counts_alignment"], out / "key_counts_alignment.csv")
    write_csv_atomic(res["correlation"], out / "correlation.csv")
    _record(out, args, backend, {"synthetic_human": args.wvs is None})
    _show("key-neuron count vs alignment across countries (Pearson r, Fisher 95% CI):",
          res["correlation"][["estimate", "ci_low", "ci_high", "p", "n"]])
    if len(res["specialised"]):
        _show(f"specialised-neuron share against {args.reference}:", res["specialised"])
    return 0


def _attribute(args: Any) -> int:
    from .._io import write_csv_atomic, write_parquet_atomic
    from .api import attribution_analysis

    backend, bank, prompts, countries, out = _setup(args)
    human = _human(args, bank, countries)
    res = attribution_analysis(backend, prompts, human, bank, target=args.target, site=args.site,
                               general_share=args.general_share, control_share=args.control_share,
                               specific_share=args.specific_share, z_min=args.z_min, batch_size=args.batch_size,
                               progress=_progress(args, len(prompts) + _n_control(prompts), "attribution"))
    write_parquet_atomic(res["cultural"].frame(), out / "attribution.parquet")
    write_parquet_atomic(res["control"].frame(), out / "attribution_control.parquet")
    write_parquet_atomic(res["general"], out / "culture_general.parquet")
    write_parquet_atomic(res["specific"], out / "culture_specific.parquet")
    write_csv_atomic(res["layers"], out / "layer_distribution.csv")
    from .figures import layer_figure, save

    save(layer_figure(res["layers"], title=f"{backend.name}: culture neurons per layer ({args.site})"),
         out / "layer_distribution.png")
    _record(out, args, backend, {"thresholds": res["thresholds"], "synthetic_human": args.wvs is None,
                                 "layers": int(res["cultural"].sums.shape[1]),
                                 "neurons_per_layer": int(res["cultural"].sums.shape[2])})
    n_spec = res["specific"].groupby("condition").size()
    print(f"culture-general neurons: {len(res['general'])}; culture-specific: {len(res['specific'])} over "
          f"{len(n_spec)} countries -> {out}/")
    gen = res["layers"][res["layers"]["condition"] == "general"]
    _show("culture-general neurons per layer:", gen[gen["n"] > 0][["layer", "n", "share"]], n=40)
    return 0


def _read_neurons(args: Any) -> Any:
    import pandas as pd

    from ..errors import InputError

    path = Path(args.neurons)
    if not path.exists():
        raise InputError("no such file", file=path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if args.condition is not None:
        if "condition" not in frame.columns:
            raise InputError("--condition given but the file has no condition column", file=path, column="condition")
        frame = frame[frame["condition"].astype(str) == args.condition]
        if frame.empty:
            raise InputError(f"no rows of condition {args.condition!r}", file=path, column="condition")
    return frame


def _means(args: Any, n_layers: int, width: int) -> Any:
    import numpy as np
    import pandas as pd

    from ..errors import InputError

    if args.mode != "mean":
        return None
    if not args.means:
        raise InputError("--mode mean needs --means FILE (activations_mean.parquet of 'wvsalign probe activations')")
    frame = pd.read_parquet(args.means)
    if frame.empty or not {"layer", "neuron", "score", "n"} <= set(frame.columns):
        raise InputError("expected columns layer, neuron, score, n", file=args.means)
    weighted = frame.assign(w=frame["score"] * frame["n"]).groupby(["layer", "neuron"])[["w", "n"]].sum()
    means = np.zeros((n_layers, width))
    idx = weighted.index.to_frame(index=False)
    means[idx["layer"].to_numpy(int), idx["neuron"].to_numpy(int)] = (weighted["w"] / weighted["n"]).to_numpy()
    return means


def _ablate(args: Any) -> int:
    from .._io import write_csv_atomic, write_parquet_atomic
    from .api import ablation_study
    from .sites import n_neurons

    neurons = _read_neurons(args)
    backend, bank, prompts, countries, out = _setup(args)
    widths = n_neurons(backend.model)
    human = _human(args, bank, countries)
    res = ablation_study(backend, prompts, human, bank, neurons, mode=args.mode, site=args.site,
                         means=_means(args, len(widths), max(widths)), n_random=args.random, seed=args.seed, out=out,
                         ci=args.ci, progress=not args.quiet, echo=None if args.quiet else print)
    write_csv_atomic(res["changes"], out / "ablation_alignment.csv")
    write_csv_atomic(res["random"], out / "ablation_random.csv")
    write_csv_atomic(res["compare"], out / "ablation_compare.csv")
    write_parquet_atomic(res["sets"], out / "ablation_sets.parquet")
    if "control" in res:
        write_csv_atomic(res["control"], out / "ablation_control.csv")
    from .figures import ablation_figure, save

    save(ablation_figure(res["changes"], group_by="category",
                         title=f"{backend.name}: alignment change, ablated set vs {args.random} random sets"),
         out / "ablation_effect.png")
    _record(out, args, backend, {"synthetic_human": args.wvs is None})
    overall = res["random"][res["random"]["group_by"].isin(["overall", "category"])]
    _show("alignment change of the ablation vs random sets matched per layer:",
          overall[["group_by", "group", "base_estimate", "real_delta", "random_mean", "random_q025", "random_q975",
                   "p_random"]], n=20)
    if "control" in res:
        ctl = res["control"][res["control"]["group"] == "all"]
        _show("control-item accuracy:", ctl[["condition", "accuracy", "delta"]], n=3)
    return 0


def _summary(args: Any) -> int:
    from .._io import write_csv_atomic, write_text_atomic
    from .summary import ablation_by_country, ablation_summary, layer_shares, load_probe_folder, neuron_summary

    folders = [load_probe_folder(f) for f in args.folders]
    tables = {"neurons": neuron_summary(folders), "ablation": ablation_summary(folders),
              "ablation_by_country": ablation_by_country(folders), "layers": layer_shares(folders)}
    if any(f.synthetic for f in folders):
        print("NOTE: the human side is SYNTHETIC WVS-format data: alignment figures only demonstrate the method")
    fmt = {"float_format": lambda v: f"{v:.3g}"}
    print("neurons (key neurons: top-5 per layer; culture neurons: gradient x activation)")
    print(tables["neurons"].to_string(index=False, **fmt))
    if len(tables["ablation"]):
        print("\nablating the culture-general set vs random sets matched per layer (alignment r over country x item)")
        print(tables["ablation"].to_string(index=False, **fmt))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            write_csv_atomic(table, out / f"{name}.csv")
            write_text_atomic(table.to_markdown(index=False, floatfmt=".3g") + "\n", out / f"{name}.md")
        if len(tables["layers"]) or len(tables["ablation_by_country"]):
            from .figures import save, summary_figure

            save(summary_figure(tables["layers"], tables["ablation_by_country"]), out / "summary.png")
        print(f"tables and summary.png -> {out}/")
    return 0
