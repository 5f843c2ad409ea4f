"""Does every interval, p-value and seed count the study reports keep its level?

    python benchmarks/study_calibration.py [--reps N] [--ns 3 5 10 20 30 64]
                                           [--parts summary compare ...]

For each figure the package reports with a level (the checks in
``benchmarks/calibration/``), simulates ``reps`` studies at each number of seeds
under four scenarios with a known truth (``calibration/scenarios.py``: normal
scores, t(4) scores, one black-swan seed in 16, per-example correctness from a
logistic model) and prints how often the promise held, next to the level the
package states at that number of seeds. A figure more than 3 Monte-Carlo
standard errors on the wrong side of its stated level is marked ``!``; the
last line counts them. Fixed seeds: the same table on every run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration.checks import keeps_level  # noqa: E402
from calibration.scenarios import NS  # noqa: E402

PARTS = ("summary", "compare", "noise", "attribution", "ensembles")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--ns", type=int, nargs="+", default=list(NS))
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{args.reps} simulated studies per cell; '!' = more than 3 Monte-Carlo standard "
          "errors on the wrong side of the stated level\n")
    width = 12
    header = f"{'figure':58} {'kind':12} {'scenario':10} " + " ".join(
        f"{'n=' + str(n):>{width}}" for n in args.ns)
    failures = cells = 0
    for part in args.parts:
        module = importlib.import_module(f"calibration.{part}")
        started = time.perf_counter()
        print(f"[{part}]")
        print(header)
        for index, check in enumerate(module.CHECKS):
            for scenario in check.scenarios:
                texts = []
                for n in args.ns:
                    stated = check.stated(n)
                    rng = np.random.default_rng([index, n, hash_of(scenario), hash_of(part)])
                    hits = None if stated is None else check.run(scenario, n, args.reps, rng)
                    if hits is None:
                        texts.append(f"{'-':>{width}}")
                        continue
                    observed = hits / args.reps
                    ok = keeps_level(check.kind, observed, stated, args.reps)
                    failures += not ok
                    cells += 1
                    texts.append(f"{observed:.3f}/{stated:.3f}".rjust(width - 1)
                                 + ("!" if not ok else " "))
                print(f"{check.name[:58]:58} {check.kind:12} {scenario:10} " + " ".join(texts))
        print(f"({time.perf_counter() - started:.0f} s)\n")
    print(f"{failures} of {cells} figures off their stated level by more than 3 Monte-Carlo "
          "standard errors.")
    return 0


def hash_of(text: str) -> int:
    """A stable number for a name (Python's hash() of a str changes per process)."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")


if __name__ == "__main__":
    sys.exit(main())
