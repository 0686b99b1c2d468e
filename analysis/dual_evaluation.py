"""Dual evaluation: prompt language x cultural context ("cultural-linguistic synergy") of a study.

Prints, per model: the synergy table (alignment with country c asked in c's own language minus
asked in English / in the other languages, paired bootstrap over items), the mixed model's
same_language effect, the variance decomposition of the language x country grid, GlobalOpinionQA's
three conditions side by side, and the alignment of every (language, country) cell.

    wvsalign study run data/studies/dual_evaluation.yaml --out studies/dual
    python analysis/dual_evaluation.py studies/dual [--n-boot 2000] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import warnings

from wvsalign.study import Study
from wvsalign.study.dual import dual_evaluation, format_dual


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a study directory (wvsalign study run ... --out DIR)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    study = Study.load(args.study)
    with warnings.catch_warnings(record=True) as caught:  # statsmodels / bootstrap notices stay out of the terminal
        warnings.simplefilter("always")
        result = dual_evaluation(study, n_boot=args.n_boot, seed=args.seed)
    if study.spec.synthetic:
        print("NOTE: the human side is SYNTHETIC WVS-format data: these figures only demonstrate the method\n")
    print(format_dual(result))
    notes = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:140]}" for w in caught})
    if notes:
        print(f"\n({len(notes)} distinct warning(s) while fitting, e.g. {notes[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
