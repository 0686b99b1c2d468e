"""Time ``wvsalign report`` on a 2-model x 239-item x 55-country study (target: under 30 s).

The study is made first (not timed) from synthetic human data and synthetic model answers
(:mod:`wvsalign.report.testing`; two models of different size, so the size regression and
its figure are drawn too); then the whole report (tables, figures, report.html) is timed,
with the default n_boot=2000 and n_perm=9999, and each stage's time printed.

    python benchmarks/bench_report.py [--countries 55] [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import wvsalign as wa
from wvsalign.report import build, data as report_data, runs
from wvsalign.report.testing import synthetic_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=55, help="countries of the default set (default: 55)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    countries = wa.Countries.load().resolve(["default"])[: args.countries]
    bank = wa.ItemBank.wvs7()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            human = wa.synthetic_human(bank, countries, seed=0)
        study = synthetic_study(Path(tmp) / "study", [
            {"model": "small", "params": 135_000_000, "noise": 0.7, "seed": 1},
            {"model": "large", "params": 1_700_000_000, "noise": 0.4, "seed": 2},
        ], human)
        made = time.perf_counter() - t0
        n_items, n_countries = human["item_id"].nunique(), human["country"].nunique()
        print(f"study: 2 models x {n_items} items x {n_countries} countries (made in {made:.1f} s, not timed)")
        for i in range(args.repeat):
            t = time.perf_counter()
            loaded = runs.load_runs([study])
            t_load = time.perf_counter() - t
            combined = report_data.combine(loaded)
            t_combine = time.perf_counter() - t - t_load
            notes: list[str] = []
            tables, extra = build.build_tables(combined, notes=notes)
            t_tables = time.perf_counter() - t - t_load - t_combine
            t_rep, cpu = time.perf_counter(), time.process_time()
            rep = wa.report([study], out=Path(tmp) / f"report{i}")
            total_report, cpu = time.perf_counter() - t_rep, time.process_time() - cpu
            print(f"run {i + 1}: read {t_load:.2f} s, combine (mean scores) {t_combine:.2f} s, "
                  f"tables {t_tables:.2f} s")
            print(f"run {i + 1}: wa.report end to end (read, tables, figures, html): {total_report:.2f} s wall, "
                  f"{cpu:.2f} s CPU "
                  f"({len(rep.tables)} tables, {len(rep.figures)} figures, "
                  f"report.html {rep.html.stat().st_size / 1e6:.1f} MB); target < 30 s")
            print(f"machine load when measured (1-min load average): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
