"""Summaries over finished ``wvsalign probe`` output folders, one model per folder.

A model's folder holds the output folders of its probe commands (any names, found by the
``command`` of their ``probe.yaml``): ``probe key-neurons``, ``probe attribute`` and ``probe
ablate``. The summaries read only those files (no model work), so they can be rebuilt at any
time and compared across models::

    wvsalign probe key-neurons ... --out probes/smollm2/key
    wvsalign probe attribute   ... --out probes/smollm2/attribute
    wvsalign probe ablate      ... --out probes/smollm2/ablate
    wvsalign probe summary probes/smollm2 probes/gemma3 --out probes/summary
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

from ..errors import InputError
from .figures import layer_kind

COMMANDS = {"probe key-neurons": "key", "probe attribute": "attribute", "probe ablate": "ablate"}


@dataclass
class ProbeFolder:
    """The probe outputs of one model: ``parts`` maps ``key``/``attribute``/``ablate`` to a folder."""

    path: Path
    model: str
    parts: dict[str, Path] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def read(self, part: str, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """``name`` (CSV or parquet by suffix; only ``columns`` of a parquet file when given) from the
        ``part`` folder, or None when the part or the file is absent."""
        path = self.parts[part] / name if part in self.parts else None
        if path is None or not path.exists():
            return None
        if name.endswith(".parquet"):
            return pd.read_parquet(path, columns=None if columns is None else list(columns))
        return pd.read_csv(path)

    @property
    def synthetic(self) -> bool:
        """True when any of the folder's runs used synthetic human data."""
        return any(bool(r.get("synthetic_human", False)) for r in self.records.values())


def load_probe_folder(path: str | Path) -> ProbeFolder:
    """Find the probe command outputs under ``path`` (itself or its direct subfolders).

    Raises
    ------
    InputError
        When ``path`` is not a folder, holds no ``probe.yaml``, a ``probe.yaml`` is not a mapping,
        or the outputs come from different models or two runs of the same command.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError("not a folder of probe outputs", file=root)
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    parts: dict[str, Path] = {}
    records: dict[str, dict[str, Any]] = {}
    models = set()
    for folder in candidates:
        rec_path = folder / "probe.yaml"
        if not rec_path.is_file():
            continue
        try:
            record = yaml.safe_load(rec_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"unreadable YAML: {exc}", file=rec_path) from None
        if not isinstance(record, dict):
            raise InputError("expected a mapping", file=rec_path)
        part = COMMANDS.get(str(record.get("command")))
        if part is None:
            continue
        if part in parts:
            raise InputError(f"two '{record['command']}' outputs: {parts[part]} and {folder}", file=rec_path)
        parts[part], records[part] = folder, record
        models.add(str((record.get("backend") or {}).get("name", record.get("settings", {}).get("model"))))
    if not parts:
        raise InputError("no probe.yaml of 'probe key-neurons', 'probe attribute' or 'probe ablate' here or in its "
                         "subfolders", file=root)
    if len(models) != 1:
        raise InputError(f"the outputs come from different models {sorted(models)}; give one folder per model",
                         file=root)
    return ProbeFolder(root, models.pop(), parts, records)


def _neuron_count(folder: ProbeFolder) -> tuple[int, int] | None:
    """(layers, neurons per layer): recorded in the attribution's probe.yaml, or (older outputs)
    from its per-neuron table."""
    record = folder.records.get("attribute", {})
    if isinstance(record.get("layers"), int) and isinstance(record.get("neurons_per_layer"), int):
        return record["layers"], record["neurons_per_layer"]
    frame = folder.read("attribute", "attribution.parquet", columns=["layer", "neuron"])
    if frame is None or frame.empty:
        return None
    return int(frame["layer"].max()) + 1, int(frame["neuron"].max()) + 1


def neuron_summary(folders: Sequence[ProbeFolder]) -> pd.DataFrame:
    """One row per model: key neurons (dual evaluation) and culture neurons (attribution).

    Returns
    -------
    pandas.DataFrame
        model, layers, neurons (all MLP neurons at the site), countries, key_per_country (mean
        key neurons of a country persona), specialised_share (mean over countries of the
        specialised share against the default template), r_key_alignment / ci_low / ci_high / p
        (key-neuron count against the country's alignment), general (culture-general neurons),
        general_pct (of all neurons), specific (culture-specific, summed over countries),
        specific_countries (countries with at least one), specific_median (per country).
    """
    rows = []
    for f in folders:
        row: dict[str, Any] = {"model": f.model}
        shape = _neuron_count(f)
        if shape is not None:
            row["layers"], row["neurons"] = shape[0], shape[0] * shape[1]
        counts = f.read("key", "key_counts.csv")
        if counts is not None:
            persona = counts[counts["condition"].astype(str) != "NONE"]
            row["countries"] = len(persona)
            row["key_per_country"] = float(persona["n_key"].mean())
        spec = f.read("key", "specialised.csv")
        if spec is not None and len(spec):
            row["specialised_share"] = float(spec["share"].mean())
        corr = f.read("key", "correlation.csv")
        if corr is not None and len(corr):
            c = corr.iloc[0]
            row.update({"r_key_alignment": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p": c["p"]})
        general = f.read("attribute", "culture_general.parquet")
        if general is not None:
            row["general"] = len(general)
            if "neurons" in row:
                row["general_pct"] = 100.0 * len(general) / row["neurons"]
        specific = f.read("attribute", "culture_specific.parquet")
        if specific is not None:
            per = specific.groupby("condition").size()
            row["specific"] = len(specific)
            row["specific_countries"] = int((per > 0).sum())
            row["specific_median"] = float(per.median()) if len(per) else 0.0
        rows.append(row)
    cols = ["model", "layers", "neurons", "countries", "key_per_country", "specialised_share", "r_key_alignment",
            "ci_low", "ci_high", "p", "general", "general_pct", "specific", "specific_countries", "specific_median"]
    return pd.DataFrame(rows).reindex(columns=cols)


COUNTRY_COLUMNS = ["model", "country", "base_estimate", "real_delta", "n_random", "random_min", "random_median",
                   "random_max", "p_random", "outside"]


def _country_rows(model: str, random_table: pd.DataFrame) -> pd.DataFrame:
    c = random_table[random_table["group_by"] == "country"].rename(columns={"group": "country"}).copy()
    c.insert(0, "model", model)
    c["outside"] = (c["real_delta"] < c["random_min"]) | (c["real_delta"] > c["random_max"])
    return c[COUNTRY_COLUMNS]


def ablation_by_country(folders: Sequence[ProbeFolder]) -> pd.DataFrame:
    """Per model and country: alignment unablated, the real set's change, the random sets' changes.

    Returns
    -------
    pandas.DataFrame
        model, country, base_estimate, real_delta, n_random, random_min, random_median,
        random_max, p_random, outside (the real change lies outside every random change).
    """
    parts = [_country_rows(f.model, rnd) for f in folders
             if (rnd := f.read("ablate", "ablation_random.csv")) is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COUNTRY_COLUMNS)


def ablation_summary(folders: Sequence[ProbeFolder]) -> pd.DataFrame:
    """One row per model: what ablating the culture-general set did, against the random sets.

    Returns
    -------
    pandas.DataFrame
        model, ablated (neurons in the set), n_random, base_r / ablated_r / delta (overall
        alignment), random_min / random_max (overall changes of the random sets), p_random,
        countries, countries_down / countries_up (real change below / above every random
        change), median_country_delta, median_random_delta (median over countries of the random
        sets' median change), control_base / control_ablated / control_random (control-item
        accuracy unablated, ablated, mean over random sets).
    """
    rows = []
    for f in folders:
        rnd = f.read("ablate", "ablation_random.csv")
        if rnd is None:
            continue
        row: dict[str, Any] = {"model": f.model}
        sets = f.read("ablate", "ablation_sets.parquet")
        if sets is not None:
            row["ablated"] = int((sets["condition"] == "ablated").sum())
        o = rnd[rnd["group_by"] == "overall"]
        if len(o):
            o = o.iloc[0]
            row.update({"n_random": int(o["n_random"]), "base_r": o["base_estimate"], "ablated_r": o["real_estimate"],
                        "delta": o["real_delta"], "random_min": o["random_min"], "random_max": o["random_max"],
                        "p_random": o["p_random"]})
        c = _country_rows(f.model, rnd)
        row["countries"] = len(c)
        row["countries_down"] = int((c["real_delta"] < c["random_min"]).sum())
        row["countries_up"] = int((c["real_delta"] > c["random_max"]).sum())
        row["median_country_delta"] = float(c["real_delta"].median()) if len(c) else np.nan
        row["median_random_delta"] = float(c["random_median"].median()) if len(c) else np.nan
        ctl = f.read("ablate", "ablation_control.csv")
        if ctl is not None:
            allrows = ctl[ctl["group"] == "all"]
            acc = dict(zip(allrows["condition"], allrows["accuracy"]))
            row["control_base"] = acc.get("base", np.nan)
            row["control_ablated"] = acc.get("ablated", np.nan)
            randoms = [v for k, v in acc.items() if str(k).startswith("random-")]
            row["control_random"] = float(np.mean(randoms)) if randoms else np.nan
        rows.append(row)
    cols = ["model", "ablated", "n_random", "base_r", "ablated_r", "delta", "random_min", "random_max", "p_random",
            "countries", "countries_down", "countries_up", "median_country_delta", "median_random_delta",
            "control_base", "control_ablated", "control_random"]
    return pd.DataFrame(rows).reindex(columns=cols)


def layer_shares(folders: Sequence[ProbeFolder]) -> pd.DataFrame:
    """Culture-general and culture-specific neurons per layer, with the layer's relative depth.

    Returns
    -------
    pandas.DataFrame
        model, kind (culture-general / culture-specific), layer, depth (layer / (layers - 1)), n.
    """
    parts = []
    for f in folders:
        layers = f.read("attribute", "layer_distribution.csv")
        if layers is None:
            continue
        n_layers = int(layers["layer"].max()) + 1
        t = layers.assign(kind=layer_kind(layers["condition"])).groupby(["kind", "layer"], as_index=False)["n"].sum()
        t.insert(0, "model", f.model)
        t["depth"] = t["layer"] / max(n_layers - 1, 1)
        parts.append(t[["model", "kind", "layer", "depth", "n"]])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["model", "kind", "layer", "depth", "n"])
