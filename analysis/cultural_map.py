"""Where do models sit on the Inglehart-Welzel map? The map is fitted on respondents (the WVS
file, or SYNTHETIC respondents), countries and models are placed on it, and each model's
cultural distance to every country is tabled.

    python analysis/cultural_map.py                                 # embedded models, synthetic data
    python analysis/cultural_map.py --wvs WVS7.csv --models smollm2-135m gemma3-270m
    python analysis/cultural_map.py --runs runs/map                 # runs that asked the map's items
"""
from __future__ import annotations

import wvsalign as wa
from wvsalign.report.culture import map_respondents

import common

#: the map's items that are in the item bank (the default --items of this script)
MAP_ITEMS = "Q8,Q14,Q15,Q17,Q45,Q46,Q57,Q164,Q182,Q184,Q209,Q254"


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], default_out="analysis_out/cultural_map",
                         items=MAP_ITEMS).parse_args(argv)
    data = common.load(common.run_dirs(args))
    print(common.human_note(data))
    respondents, where = map_respondents(data.runs[0], sorted(data.human["country"].unique()))
    if respondents is None:
        print(where)
        return 1
    positions, distances, notes = wa.report.culture_positions(respondents, data.probs)
    print(f"map fitted on {where}")
    for note in notes:
        print(note)
    tables = []
    if distances is not None:
        table = wa.report.cultural_distance_table(distances)
        tables.append(table)
        print(table.to_markdown())
    positions_table = wa.report.Table("map_positions", "Positions on the Inglehart-Welzel map", positions,
                                      positions.round(3).astype(str))
    common.write(args.out, tables + [positions_table], {"culture_map": wa.report.plot_culture_map(positions)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
