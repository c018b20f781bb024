"""Run the differential fuzzing at scale and print the figures.

    python -m tests.fuzz.run [--cases 10000] [--seed 0]

Draws configurations for every layer kind that has a strategy (valid and
invalid alike), compares graphc with torch on each, and prints per-kind counts
of agreements and the total.  Exit status 1 if any case disagrees.
"""

from __future__ import annotations

import argparse
import sys
import time

from hypothesis import HealthCheck, given, seed, settings

from tests.fuzz.harness import compare
from tests.fuzz.strategies import STRATEGIES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", action="append", help="only these kinds")
    args = ap.parse_args(argv)
    kinds = sorted(args.kind or STRATEGIES)
    per = {k: [0, 0, 0] for k in kinds}  # cases, accepted by both, disagreements
    failures = []
    t0 = time.perf_counter()
    each = max(1, -(-args.cases // len(kinds)))
    def runner(kind):
        @settings(max_examples=each, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @seed(args.seed)
        @given(STRATEGIES[kind])
        def run(case):
            params, shapes, dtype = case
            out = compare(kind, params, shapes, dtype)
            per[kind][0] += 1
            per[kind][1] += out.accepted
            if not out.ok:
                per[kind][2] += 1
                if len(failures) < 20:
                    failures.append(f"{kind} {params} {shapes} {dtype}: {out}")

        return run

    for kind in kinds:
        runner(kind)()
    total = sum(v[0] for v in per.values())
    bad = sum(v[2] for v in per.values())
    print(f"{'kind':24} {'cases':>7} {'both ran':>9} {'disagree':>9}")
    for k in kinds:
        c, a, d = per[k]
        print(f"{k:24} {c:7d} {a:9d} {d:9d}")
    print(f"\n{total} cases, {total - bad} agree with torch, {bad} disagree "
          f"({time.perf_counter() - t0:.0f} s, seed {args.seed})")
    for f in failures:
        print("DISAGREE", f)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
