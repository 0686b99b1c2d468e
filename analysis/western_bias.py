"""Whose opinions does a model hold? Western vs non-Western and per cultural zone (alignment
inside minus outside, bootstrap CIs, permutation p), and the default-persona ranking: the
countries whose people the model's answers without any country named are closest to.

    python analysis/western_bias.py                                # embedded models, synthetic data
    python analysis/western_bias.py --wvs WVS7.csv --models smollm2-135m gemma3-270m
    python analysis/western_bias.py --runs runs/a runs/b           # runs made with templates persona,default
"""
from __future__ import annotations

import wvsalign as wa

import common


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], default_out="analysis_out/western_bias",
                         templates="persona,default").parse_args(argv)
    data = common.load(common.run_dirs(args))
    print(common.human_note(data))
    country = wa.report.country_table(data.scores)
    bias = wa.report.bias_table(country.data)
    tables = [country, bias]
    if (data.scores["country"] == wa.contracts.NO_COUNTRY).any():
        tables.append(wa.report.tables.ranking_table(data.scores))
    else:
        print("no default-persona answers (template 'default') in these runs: no ranking")
    for table in tables[1:]:
        print(table.title)
        print(table.to_markdown())
    common.write(args.out, tables, {
        "alignment_by_country": wa.report.plot_country_alignment(country.data),
        "bias": wa.report.plot_bias(bias.data),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
