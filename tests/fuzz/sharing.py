"""Differential fuzzing of sharing and tying against torch.

A drawn model applies a labelled layer (or a block holding one) a second time to an input of a
drawn width, and may tie two layers' weights.  graphc's verdict is compared with torch's:

- a second use is accepted exactly when torch runs the one module on the second input (its
  in_features equal the input's width); graphc then says the output shapes torch gives;
- a tie is accepted exactly when the two tensors have one shape (torch would also run some ties of
  two shapes, computing another model than the one written: graphc's documented rule);
- an accepted model's parameter count is torch's, each shared or tied tensor once.

    python -m tests.fuzz.sharing [--cases 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Case:
    n1: int          # width of input a
    n2: int          # width of input b
    k1: int          # the shared layer's out_features
    k2: int          # the second layer's out_features
    block: bool      # the shared layer is inside a block use
    tie: bool        # tie u.weight = t.weight

    def source(self) -> str:
        shared = "t: Tower(K1)" if self.block else "t: Linear(K1)"
        tie = "    tie u.weight = t.linear.weight\n" if self.block and self.tie else \
            "    tie u.weight = t.weight\n" if self.tie else ""
        tower = "block Tower(k) {\n    input x\n    y = x -> linear: Linear(k) -> Tanh\n    output y\n}\n\n" \
            if self.block else ""
        return (f"const K1 = {self.k1}\n{tower}model M {{\n    input a: [B, {self.n1}]\n    input b: [B, {self.n2}]\n"
                f"    f = a -> {shared}\n    g = b -> t\n    h = f -> u: Linear({self.k2})\n{tie}"
                f"    output g, h\n}}\n")


CASES = st.builds(Case, st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(1, 6),
                  st.booleans(), st.booleans())


def torch_verdict(c: Case):
    """(runs, output shapes, parameter count) of the same network written in torch."""
    import torch
    from torch import nn

    t = nn.Linear(c.n1, c.k1)
    u = nn.Linear(c.k1, c.k2)
    if c.tie and tuple(u.weight.shape) != tuple(t.weight.shape):
        return False, None, None  # graphc's rule: tied tensors have one shape
    if c.tie:
        u.weight = t.weight
    body = nn.Sequential(t, nn.Tanh()) if c.block else t
    m = nn.ModuleList([body, u])
    a, b = torch.randn(2, c.n1), torch.randn(2, c.n2)
    try:
        g, h = body(b), u(body(a))
    except RuntimeError:
        return False, None, None
    return True, [tuple(g.shape), tuple(h.shape)], sum(p.numel() for p in m.parameters())


def compare(c: Case) -> list[str]:
    """The disagreements between graphc and torch on one case (empty: they agree)."""
    from graphc.api import compile_source
    from graphc.shapes import substitute

    comp = compile_source(c.source(), "fuzz.model")
    runs, shapes, count = torch_verdict(c)
    if comp.ok != runs:
        return [f"graphc {'accepts' if comp.ok else 'rejects'} what torch {'runs' if runs else 'rejects'}: "
                f"{[str(d) for d in comp.errors]}"]
    if not comp.ok:
        return []
    out = []
    prog = comp.program
    got = [tuple(substitute(d, {"B": 2}) for d in prog.type_of(ref).shape) for _, ref in prog.outputs]
    if got != shapes:
        out.append(f"graphc says outputs {got}, torch gives {shapes}")
    if comp.summary().total_params != count:
        out.append(f"graphc counts {comp.summary().total_params} parameters, torch {count}")
    m = comp.to_module()
    if sum(p.numel() for p in m.parameters()) != count:
        out.append("the generated module's parameter count is not torch's")
    if c.tie and (m.u.weight is not (m.t.linear.weight if c.block else m.t.weight)):
        out.append("the tie did not make one tensor")
    return out


def main(argv=None) -> int:
    from hypothesis import HealthCheck, given, seed, settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    stats = {"cases": 0, "accepted": 0, "disagree": 0}
    failures: list[str] = []

    @settings(max_examples=args.cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @seed(args.seed)
    @given(CASES)
    def run(c):
        stats["cases"] += 1
        problems = compare(c)
        stats["accepted"] += torch_verdict(c)[0]
        if problems:
            stats["disagree"] += 1
            failures.append(f"{c}: {problems}")

    run()
    print(f"{stats['cases']} cases, {stats['accepted']} accepted by both, {stats['disagree']} disagree "
          f"(seed {args.seed})")
    for f in failures[:20]:
        print("DISAGREE", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
