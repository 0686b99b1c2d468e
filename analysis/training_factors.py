"""Does alignment grow with size, multilingual training and instruction tuning? Alignment per
model x category regressed on log10(parameters), multilingual and instruction tuning (OLS, HC3;
fitted only where the models differ enough), the pairwise model comparisons (Steiger's z, Zou's
CI, Holm-adjusted) and alignment against size with the fitted line.

    python analysis/training_factors.py                             # the two embedded models, synthetic data
    python analysis/training_factors.py --wvs WVS7.csv --models smollm2-135m gemma3-270m /path/m1 /path/m2
    python analysis/training_factors.py --runs studies/s --metadata models.csv

``--metadata FILE.csv`` (columns model, and any of params, multilingual, instruction_tuned,
family) overrides what the runs recorded about each model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import wvsalign as wa

import common


def with_metadata(models: pd.DataFrame, path: str | None) -> pd.DataFrame:
    """The report's models table with the columns of a metadata CSV replacing the recorded values."""
    if not path:
        return models
    meta = pd.read_csv(path)
    if "model" not in meta.columns:
        raise SystemExit(f"{path}: expected a column 'model' (and params, multilingual, instruction_tuned)")
    models = models.copy()
    for col in [c for c in meta.columns if c != "model"]:
        given = models["model"].map(meta.set_index("model")[col])
        models[col] = given.where(given.notna(), models.get(col))
    models["log10_params"] = np.log10(pd.to_numeric(models["params"], errors="coerce"))
    return models


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], default_out="analysis_out/training_factors")
    p.add_argument("--metadata", metavar="FILE.csv", help="model metadata overriding the recorded values")
    args = p.parse_args(argv)
    data = common.load(common.run_dirs(args))
    print(common.human_note(data))
    models = with_metadata(data.models, args.metadata)
    main_table = wa.report.alignment_table(data.scores)
    tables = [main_table]
    sizes = wa.report.size_regressions(main_table.data, models)
    fits, rows = sizes.fits, sizes.rows
    for note in sizes.notes:
        print(f"regression {note}")
    line = None
    if fits:
        regressions = wa.report.regression_table(fits)
        tables.append(regressions)
        print(regressions.to_markdown())
        size_only = wa.report.tables.SIZE_REGRESSIONS[0][0]
        if size_only in fits:
            line = wa.report.tables.size_line(fits[size_only], rows.dropna(subset=["log10_params"]))
    comparisons = wa.report.comparison_table(data.scores)
    if comparisons is None:
        print("one model only: no pairwise comparisons")
    else:
        tables.append(comparisons)
        print(comparisons.to_markdown())
    figures = {"alignment_heatmap": wa.report.plot_alignment_heatmap(main_table.data)}
    sized = rows.dropna(subset=["log10_params"])
    if len(sized):
        figures["alignment_vs_size"] = wa.report.plot_alignment_vs_size(sized, line)
    common.write(args.out, tables, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
