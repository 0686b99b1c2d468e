"""CLI subcommands of the survey stage: ``items``, ``countries``, ``human``, ``synthetic``.

Registered by ``wvsalign.cli`` (``register(subparsers)``). Nothing heavy is imported here:
each handler imports what it needs when it runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


#: default of ``wvsalign human --min-n``
MIN_N = 30
#: flags of ``wvsalign human`` that apply to one source only: flag -> (attribute, source flag)
_SOURCE_ONLY = {
    "--min-n": ("min_n", "--wvs"),
    "--weight": ("weight", "--wvs"),
    "--keep-missing": ("keep_missing", "--wvs"),
    "--renormalise": ("renormalise", "--aggregates"),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the survey subcommands to the ``wvsalign`` parser."""
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "items",
        help="list the WVS-7 survey items (questions) of the item bank",
        description="List the WVS-7 value questions that wvsalign asks: id, category, scale, number of options, topic.",
        epilog="examples:\n  wvsalign items\n  wvsalign items --category religion,ethics\n  wvsalign items --ids Q1,Q46 --format json",
        formatter_class=fmt,
    )
    p.add_argument("--category", metavar="CATS", help="comma-separated category slugs or WVS section names (default: all)")
    p.add_argument("--ids", metavar="IDS", help="comma-separated item ids, e.g. Q1,Q46 (default: all)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    p.set_defaults(handler=_items)

    p = sub.add_parser(
        "countries",
        help="list countries of the registry or of a named country set",
        description="List the WVS-7/EVS countries wvsalign knows (ISO3 code, WVS code, name, cultural zone, ...).",
        epilog="examples:\n  wvsalign countries\n  wvsalign countries --set default\n  wvsalign countries --sets",
        formatter_class=fmt,
    )
    p.add_argument("--set", metavar="NAME", help="list only the members of this country set (see --sets)")
    p.add_argument("--sets", action="store_true", help="list the named country sets with their rules and sizes")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    p.set_defaults(handler=_countries)

    p = sub.add_parser(
        "human",
        help="compute the weighted answer shares per country x item from a WVS file",
        description=(
            "Read a WVS-7 respondent file (.csv, .sav, .dta or .parquet, as downloaded from the WVS site) and write\n"
            "the weighted share of each answer option per country and item (the 'human' table) to a parquet file.\n"
            "Or convert a published table of shares (--aggregates)."
        ),
        epilog=(
            "examples:\n"
            "  wvsalign human --wvs WVS_Cross-National_Wave_7_csv_v6_0.csv --out human.parquet\n"
            "  wvsalign human --wvs wvs7.sav --countries USA,JPN,DEU --items Q1,Q46 --out human.parquet\n"
            "  wvsalign human --aggregates shares.csv --out human.parquet"
        ),
        formatter_class=fmt,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--wvs", metavar="FILE", help="WVS-7 respondent file (.csv, .sav, .dta, .parquet)")
    src.add_argument("--aggregates", metavar="FILE", help="table of shares per country, item, option (.csv, .parquet)")
    p.add_argument("--out", metavar="PATH", required=True, help="output file: .parquet, or .csv (written as CSV); missing parent folders are created")
    p.add_argument("--items", metavar="IDS", help="comma-separated item ids (default: every item of the bank)")
    p.add_argument(
        "--countries", metavar="CODES",
        help="comma-separated ISO3 codes, names or set names (default: all). With --wvs and both --items and "
        "--countries given, an item column the file lacks or a country with no valid answer to an item is an "
        "error; otherwise it is left out with a warning",
    )
    # defaults None: a flag of the other source is an error, not silently ignored (see _human)
    p.add_argument(
        "--min-n", type=int, default=None, metavar="N",
        help=f"with --wvs: drop a country x item with fewer valid answers (default: {MIN_N})",
    )
    p.add_argument(
        "--keep-missing", nargs="?", const="all", default=None, metavar="CODES",
        help="with --wvs: keep negative WVS codes as answer options: all (no value) or e.g. --keep-missing=-1,-2 "
        "(default: treat as missing)",
    )
    p.add_argument("--weight", default=None, metavar="COLUMN", help="with --wvs: weight column, or 'none' (default: W_WEIGHT, then S018)")
    p.add_argument("--renormalise", action="store_true", help="with --aggregates: rescale shares that do not sum to 1")
    p.set_defaults(handler=_human, human_parser=p)

    p = sub.add_parser(
        "synthetic",
        help="write a SYNTHETIC respondent file in the WVS-7 layout (for demos and tests)",
        description=(
            "Generate synthetic respondents in the WVS-7 column layout (country codes, weights, Q-columns with\n"
            "missing codes) from documented country-level latent values. The data is NOT real survey data and is\n"
            "labelled SYNTHETIC (a SYNTHETIC column, the .sav/.dta file label)."
        ),
        epilog="examples:\n  wvsalign synthetic --out demo.csv\n  wvsalign synthetic --out demo.sav --countries USA,JPN --n 500 --seed 1",
        formatter_class=fmt,
    )
    p.add_argument("--out", metavar="FILE", required=True, help="output file: .csv, .sav, .dta or .parquet")
    p.add_argument("--countries", metavar="CODES", help="comma-separated ISO3 codes, names or set names (default: the default set)")
    p.add_argument("--items", metavar="IDS", help="comma-separated item ids (default: every item of the bank)")
    p.add_argument("--n", type=int, default=1200, metavar="N", help="respondents per country (default: 1200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--sep", default=",", help="CSV delimiter (default: ,)")
    p.set_defaults(handler=_synthetic)


def _print_frame(frame, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(json.dumps(frame.to_dict(orient="records"), indent=1, ensure_ascii=False, default=str))
    else:
        print(frame.to_string(index=False))


def _items(args: argparse.Namespace) -> int:
    from .items import ItemBank

    bank = ItemBank.wvs7().filter(categories=args.category, ids=args.ids)
    frame = bank.to_frame()
    if args.format == "table":
        _print_frame(frame[["item_id", "category", "scale", "n_options", "topic"]], "table")
        print(f"{len(bank)} item(s) in {len(bank.categories)} categor{'y' if len(bank.categories) == 1 else 'ies'}")
        return 0
    frame["options"] = [" | ".join(f"{c}={lab}" for c, lab in opts) for opts in frame["options"]] if args.format == "csv" else frame["options"]
    frame["scores"] = [{int(k): v for k, v in s.items()} for s in frame["scores"]]
    keep = ["item_id", "category", "topic", "stem", "scale", "n_options", "options", "scores", "reverse", "high_score_means"]
    out = frame[keep]
    if args.format == "csv":
        out = out.assign(scores=[";".join(f"{k}={v:.4g}" for k, v in s.items()) for s in out["scores"]])
    _print_frame(out, args.format)
    return 0


def _countries(args: argparse.Namespace) -> int:
    from .countries import Countries

    registry = Countries.load()
    if args.sets:
        frame = registry.sets_frame()
        if args.format == "table":
            for row in frame.itertuples():
                print(f"{row.set} ({row.n} countries): {row.rule}")
            return 0
        _print_frame(frame, args.format)
        return 0
    codes = registry.set(args.set) if args.set else None
    frame = registry.to_frame(codes)
    if args.format == "table":
        _print_frame(frame[["iso3", "wvs_alpha", "iso_numeric", "name", "zone", "western", "continent", "languages"]], "table")
        print(f"{len(frame)} countr{'y' if len(frame) == 1 else 'ies'}" + (f" in set {args.set!r}: {registry.set_rule(args.set)}" if args.set else ""))
        return 0
    _print_frame(frame, args.format)
    return 0


def _human(args: argparse.Namespace) -> int:
    from .._io import check_output_path, write_csv_atomic, write_parquet_atomic
    from ..errors import InputError
    from .distributions import DataWarning, dropped_cells
    from .items import ItemBank

    source = "--wvs" if args.wvs else "--aggregates"
    for flag, (attr, needs) in _SOURCE_ONLY.items():
        if needs != source and getattr(args, attr) not in (None, False):
            args.human_parser.error(f"{flag} applies only with {needs}, not with {source}")
    out = check_output_path(args.out, "--out", suffixes=(".parquet", ".csv"))  # before any work
    source_file = Path(args.wvs or args.aggregates)
    if out.exists() and source_file.exists() and out.resolve() == source_file.resolve():
        raise InputError(f"--out {out} is the input file; expected another path (the input is never overwritten)")
    min_n = MIN_N if args.min_n is None else args.min_n
    if min_n < 1:
        raise InputError(f"--min-n {min_n}: expected a positive number of valid answers per country x item")
    _check_selection(args)
    bank = ItemBank.wvs7().filter(ids=args.items) if args.items else ItemBank.wvs7()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        if args.aggregates:
            from .aggregates import read_aggregates

            human = read_aggregates(args.aggregates, renormalise=args.renormalise)
            if args.items:
                human = human[human["item_id"].isin(bank.ids)].reset_index(drop=True)
            if args.countries:
                from .countries import Countries

                human = human[human["country"].isin(Countries.load().resolve(args.countries))].reset_index(drop=True)
        else:
            from .readers import read_wvs

            data = read_wvs(
                args.wvs, items=bank if args.items else None, countries=args.countries,
                weight="W_WEIGHT" if args.weight is None else args.weight, keep_missing=args.keep_missing,
                strict=bool(args.items and args.countries),  # both named: unasked cells are errors
            )
            human = data.distributions(min_n=min_n)
    for w in caught:
        if issubclass(w.category, DataWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:  # not ours to swallow: issue it again under the filters in force outside
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if human.empty:
        raise InputError(
            (f"no country x item has at least --min-n {min_n} valid answers" if args.wvs else "no rows left")
            + f"; nothing written to {args.out} (expected a lower --min-n or other --countries/--items)"
        )
    (write_csv_atomic if out.suffix.lower() == ".csv" else write_parquet_atomic)(human, out)
    n_countries, n_items = human["country"].nunique(), human["item_id"].nunique()
    label = "SYNTHETIC " if human.attrs.get("synthetic") else ""
    print(f"wrote {len(human)} rows ({n_countries} countries x {n_items} items) of {label}human shares to {args.out}")
    dropped = dropped_cells(human)
    if len(dropped):
        print(f"left out {len(dropped)} country x item cell(s): {dropped['reason'].value_counts().to_dict()}")
    return 0


def _check_selection(args: argparse.Namespace) -> None:
    """An empty --items or --countries ("" or ",") is an error, not 'all'."""
    from ..errors import InputError

    for flag in ("items", "countries"):
        given = getattr(args, flag, None)
        if given is not None and not [v for v in given.split(",") if v.strip()]:
            raise InputError(f"--{flag} {given!r} is empty; name at least one, or leave --{flag} out for all")


def _synthetic(args: argparse.Namespace) -> int:
    from .._io import check_output_path
    from ..errors import InputError
    from .items import ItemBank
    from .synthetic import write_synthetic

    check_output_path(args.out, "--out", suffixes=(".csv", ".sav", ".dta", ".parquet"))
    if args.n < 1:
        raise InputError(f"--n {args.n}: expected a positive number of respondents per country")
    if args.sep in (None, "") or len(args.sep) != 1 or args.sep in '."\'\r\n' or args.sep.isalnum() or args.sep in "-+":
        raise InputError(f"--sep {args.sep!r}: expected one character that cannot occur in a number or a name, "
                         "e.g. ',' ';' '|' or a tab")
    _check_selection(args)
    bank = ItemBank.wvs7().filter(ids=args.items) if args.items else None
    path = write_synthetic(args.out, bank, args.countries, n_per_country=args.n, seed=args.seed, sep=args.sep)
    print(f"wrote SYNTHETIC WVS-format respondents (seed {args.seed}, {args.n} per country) to {path}")
    return 0
