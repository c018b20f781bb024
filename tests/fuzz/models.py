"""Differential fuzzing of whole models: `graphc check`'s verdict against torch running the model.

    python -m tests.fuzz.models [--cases 20000] [--seed 0] [--only I] [--show N]

Each case (tests/fuzz/wholemodel.py) is a random ``.model`` text and the same network written in
torch, run as the generated code would run it (train mode; a train section's loss and backward
as the generated script computes them).  Per case:

- a **false negative**: check passes, but torch fails, or computes another model than the one
  written (an in-place step that changes what a later step reads, or the caller's input), or the
  generated module fails, or its output shapes and dtypes are not torch's, or graphc's inferred
  ones are not;
- a **false positive**: check fails where torch runs.  Each is classified by the rule that
  refused it; the rules graphc keeps on purpose are in ``RULES`` (and docs/testing.md), any other
  is reported.

Exit status 1 on any false negative or unexplained false positive.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings

import torch

from graphc.api import compile_source
from graphc.shapes import substitute
from tests.fuzz.wholemodel import B, make_case

# graphc's deliberate refusals of models torch runs, by diagnostic code and a phrase of the message
# (docs/testing.md, "Whole models": each with the reason)
RULES = {
    ("shape-nonpositive", "empty tensor"): "the 0-size rule: graphc refuses empty tensors",
    ("inplace-overwrite", "reads first"): "an in-place layer's input has no other reader, even one "
                                          "whose backward does not need it",
    ("inplace-overwrite", "also output"): "an in-place layer's input is not also an output",
    ("inplace-overwrite", "the model's input"): "an in-place layer never takes the model's input (even where, as "
                                               "Dropout(0.0), it changes nothing)",
    ("inplace-overwrite", "reads afterwards"): "an in-place layer's input has no other reader, even "
                                               "where the values happen not to change (ReLU of positive "
                                               "values, LayerNorm of one feature)",
    ("shape-mismatch", "attn_mask must be"): "an attention mask has the shape the attention needs, even "
                                             "where torch ignores it (MultiheadAttention with is_causal=true "
                                             "and need_weights=False drops attn_mask)",
    ("shape-mismatch", "attention weights (B, B"): "a written size is not taken for the symbolic batch: a "
                                                  "mask of 10 where B, broadcast into the sequence, is 10 "
                                                  "in the run",
    ("invalid-argument", "makes the causal mask itself"): "is_causal=true and an attn_mask are not given "
                                                         "together: torch's math path (and every 3-d "
                                                         "input) refuses them, its CPU kernel for 4-d "
                                                         "inputs runs them",
    ("loss-mismatch", "one target per sample, but output"): "one target per sample is an output of (B,) or "
                                                           "(B, 1) (torch's MSELoss runs on (B, 1, 1))",
    ("loss-mismatch", "needs one score per sample"): "a binary loss takes (B,) or (B, 1) (torch runs (B, 1, 1))",
    ("inplace-overwrite", "through the view Flatten"): "Flatten and reshape count as views (torch copies "
                                                        "a non-contiguous input instead)",
    ("torch-order", ""): "PyTorch's positional order read as graphc's where both fit",
    ("loss-mismatch", "classes, but output"): "the training checks: class scores as many as the data "
                                               "set's classes (torch runs CrossEntropyLoss on more)",
    ("loss-mismatch", "is a regression loss"): "the training checks: no regression loss on class labels",
    ("loss-mismatch", "is for two classes"): "the training checks: a binary loss on two classes only",
    ("loss-mismatch", "needs class labels"): "the training checks: a binary loss on 0/1 labels only",
    ("shape-symbolic", ""): "a rule that needs a concrete size",
}


def rule_of(diags) -> str | None:
    for d in diags:
        for (code, phrase), why in RULES.items():
            if d.code == code and phrase in d.message:
                return f"{code}: {why}"
    return None


def _types(comp):
    prog = comp.program
    out = []
    for _, ref in prog.outputs:
        t = prog.type_of(ref)
        out.append((tuple(int(substitute(d, {"B": B})) for d in t.shape), t.dtype))
    return out


def compare(seed: int, i: int) -> tuple[str, str, str]:
    """(outcome, detail, source): outcome is agree-accept, agree-reject, false-negative,
    false-positive (rule in detail) or unexplained-false-positive."""
    case = make_case(seed, i)
    comp = compile_source(case.source, "fuzz.model")
    errors = comp.errors
    runs, why, outs = case.prog.verdict()
    if errors and not runs:
        return "agree-reject", "", case.source
    if errors:
        rule = rule_of(errors)
        first = f"{errors[0].span.line}:{errors[0].span.col} [{errors[0].code}] {errors[0].message}"
        return ("false-positive", rule, case.source) if rule else \
            ("unexplained-false-positive", first, case.source)
    if not runs:
        return "false-negative", f"torch: {why}", case.source
    want = [(tuple(o.shape), str(o.dtype).replace("torch.", "")) for o in outs]
    got = _types(comp)
    if got != want:
        return "false-negative", f"graphc infers {got}, torch gives {want}", case.source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = comp.to_module()
            m.train()
            torch.manual_seed(1)
            res = m(*[case.prog.inputs[n].clone() for n, _ in comp.program.root.inputs])
    except Exception as e:  # noqa: BLE001
        return "false-negative", f"the generated module fails: {type(e).__name__}: {e}", case.source
    res = res if isinstance(res, tuple) else (res,)
    gen = [(tuple(o.shape), str(o.dtype).replace("torch.", "")) for o in res]
    if gen != want:
        return "false-negative", f"the generated module gives {gen}, torch {want}", case.source
    try:  # and in eval mode, for inference (Dropout off, running statistics, attention's fast path)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            m.eval()
            res = m(*[case.prog.inputs[n].clone() for n, _ in comp.program.root.inputs])
    except Exception as e:  # noqa: BLE001
        return "false-negative", f"the generated module fails in eval mode: {type(e).__name__}: {e}", case.source
    res = res if isinstance(res, tuple) else (res,)
    if [(tuple(o.shape), str(o.dtype).replace("torch.", "")) for o in res] != want:
        return "false-negative", "the generated module's eval-mode outputs are not torch's", case.source
    return "agree-accept", "", case.source


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", type=int, help="run case I alone and print it")
    ap.add_argument("--show", type=int, default=5, help="print up to N sources of each failing kind")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.only is not None:
        out, detail, src = compare(args.seed, args.only)
        print(src)
        print(out, detail)
        return 0 if out in ("agree-accept", "agree-reject", "false-positive") else 1
    counts: collections.Counter = collections.Counter()
    rules: collections.Counter = collections.Counter()
    shown: collections.Counter = collections.Counter()
    t0 = time.perf_counter()
    for i in range(args.cases):
        out, detail, src = compare(args.seed, i)
        counts[out] += 1
        if out == "false-positive":
            rules[detail] += 1
        elif out in ("false-negative", "unexplained-false-positive") and shown[out] < args.show:
            shown[out] += 1
            print(f"--- case {i}: {out}: {detail}\n{src}")
        if (i + 1) % 1000 == 0:
            print(f"[{i + 1:,} cases, {time.perf_counter() - t0:.0f} s] " +
                  ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())), flush=True)
    dt = time.perf_counter() - t0
    print(f"graphc whole-model differential run: seed {args.seed}, {args.cases:,} cases, {dt:.0f} s")
    for k in ("agree-accept", "agree-reject", "false-positive", "false-negative", "unexplained-false-positive"):
        print(f"{k:28} {counts[k]:7,}")
    for rule, n in rules.most_common():
        print(f"  {n:6,}  {rule}")
    return 1 if counts["false-negative"] or counts["unexplained-false-positive"] else 0


if __name__ == "__main__":
    sys.exit(main())
