"""Write reverse.npz: a sequence-to-sequence task for models/seq2seq.model: the target is the
source reversed (``--task sort``: the source sorted).

Source tokens are ids 3 to 3 + --tokens - 1 (0 is padding, 1 begins a target, 2 is unused).  The
decoder reads the target shifted right by one step, starting with 1 (teacher forcing), and learns
the next token at every position.  Arrays: ``src`` (N, S) and ``tgt`` (N, S) int64, the inputs of
the model's names, and ``y`` (N, S) int64, the target itself.  The same --seed gives the same file.

    python models/data/make_reverse.py [--out reverse.npz] [--task reverse|sort] [--n 4000]
                                       [--length 8] [--tokens 20] [--seed 0]
"""

import argparse

import numpy as np

BOS, FIRST = 1, 3


def make(out: str, task: str = "reverse", n: int = 4000, length: int = 8, tokens: int = 20, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    src = rng.integers(FIRST, FIRST + tokens, size=(n, length))
    y = src[:, ::-1] if task == "reverse" else np.sort(src, axis=1)
    tgt = np.concatenate([np.full((n, 1), BOS), y[:, :-1]], axis=1)
    np.savez(out, src=src.astype(np.int64), tgt=tgt.astype(np.int64), y=np.ascontiguousarray(y, dtype=np.int64))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="reverse.npz")
    p.add_argument("--task", choices=["reverse", "sort"], default="reverse")
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--length", type=int, default=8)
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    make(a.out, a.task, a.n, a.length, a.tokens, a.seed)
