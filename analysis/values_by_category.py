"""Whose values per topic? The core method's table (alignment per WVS category x model, Pearson r
of model and human mean scores with 95% CIs) and its heatmap, plus model vs human mean scores
per country.

    python analysis/values_by_category.py                          # embedded models, synthetic data
    python analysis/values_by_category.py --wvs WVS7.csv --models smollm2-135m /path/to/model
    python analysis/values_by_category.py --runs runs/demo studies/demo
"""
from __future__ import annotations

import wvsalign as wa

import common


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], default_out="analysis_out/values_by_category").parse_args(argv)
    data = common.load(common.run_dirs(args))
    print(common.human_note(data))
    table = wa.report.alignment_table(data.scores)
    print(table.to_markdown())
    common.write(args.out, [table], {
        "alignment_heatmap": wa.report.plot_alignment_heatmap(table.data),
        "model_vs_human": wa.report.plot_model_vs_human(wa.report.category_means(data.scores)),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
