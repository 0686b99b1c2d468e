"""Which conclusions survive the prompt format? The alignment analysis repeated under every
option order, label style and instruction wording of the runs, a verdict per model x category
(the same conclusion under every variant or not), and how far each format factor moves answers
compared with the real between-country differences.

    python analysis/robustness.py                                   # embedded models, synthetic data
    python analysis/robustness.py --wvs WVS7.csv --models smollm2-135m
    python analysis/robustness.py --runs runs/formats               # runs with several variants
"""
from __future__ import annotations

import pandas as pd

import wvsalign as wa

import common


def verdict(rows: pd.DataFrame, alpha: float = 0.05) -> str:
    """"positive" / "negative" / "not significant" when every variant agrees, else "depends on format"."""
    kinds = {("positive" if r.estimate > 0 else "negative") if r.p < alpha else "not significant"
             for r in rows.itertuples()}
    return kinds.pop() if len(kinds) == 1 else "depends on format"


def variants_table(variant_scores: pd.DataFrame):
    """Alignment per model x category under each prompt variant (:func:`wvsalign.stats.alignment`)."""
    data = wa.stats.alignment(variant_scores, by="category")
    varying = [c for c in wa.contracts.VARIANT_COLUMNS if c in data.columns and data[c].nunique() > 1]
    data["variant"] = data[varying].astype(str).agg(" / ".join, axis=1) if varying else "single variant"
    cells = data.assign(cell=[wa.report.tables.fmt_ci(r.estimate, r.ci_low, r.ci_high, p=r.p)
                              for r in data.itertuples()])
    display = cells.pivot_table(index=["model", "group"], columns="variant", values="cell", aggfunc="first")
    display["conclusion"] = data.groupby(["model", "group"]).apply(verdict)
    display = display.reset_index().rename(columns={"group": "category"})
    display.columns.name = None
    return wa.report.Table("alignment_by_variant", "Alignment per category under each prompt variant", data,
                           display, "Pearson r [95% CI]; conclusion: the same sign and significance (p < .05) under "
                           f"every variant, or not. {wa.report.tables.STAR_NOTE}.")


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], default_out="analysis_out/robustness")
    p.add_argument("--option-orders", default="original,reversed")
    p.add_argument("--label-styles", default="letter", help="letter (number labels on reversed scales are refused)")
    p.add_argument("--instructions", default="default,survey")
    args = p.parse_args(argv)
    dirs = common.run_dirs(args, option_orders=args.option_orders, label_styles=args.label_styles,
                           instructions=args.instructions)
    data = common.load(dirs)
    print(common.human_note(data))
    table = variants_table(data.variant_scores)
    print(table.display[["model", "category", "conclusion"]].to_markdown(index=False))
    tables, figures = [table], {}
    effects = wa.report.format_table(data.variant_scores)
    if effects is None:
        print("no prompt-format factor varies in these runs: no format effects")
    else:
        tables.append(effects)
        print(effects.to_markdown())
        figures["format_robustness"] = wa.report.plot_format_robustness(effects.data)
    common.write(args.out, tables, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
