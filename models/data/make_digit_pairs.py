"""Write digit_pairs.npz: pairs of scikit-learn's 8×8 digits (shipped with it, no download), half
of them two images of the same digit, for models/siamese.model.

Arrays: ``left`` and ``right`` (N, 1, 8, 8) float32 in [0, 1], and ``y`` (N,) float32: 1 when the
two show the same digit, else 0.  The same --seed gives the same file.

    python models/data/make_digit_pairs.py [--out digit_pairs.npz] [--n 2000] [--seed 0]
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits


def make(out: str, n: int = 2000, seed: int = 0) -> None:
    ds = load_digits()
    images = (ds.images.astype(np.float32) / 16.0)[:, None]
    rng = np.random.default_rng(seed)
    by_digit = [np.flatnonzero(ds.target == d) for d in range(10)]
    left, right = rng.integers(0, len(images), size=n), np.empty(n, dtype=np.int64)
    same = np.arange(n) % 2 == 0
    for i in range(n):
        d = ds.target[left[i]]
        if not same[i]:
            d = (d + rng.integers(1, 10)) % 10  # another digit
        right[i] = rng.choice(by_digit[d])
    np.savez(out, left=images[left], right=images[right], y=same.astype(np.float32))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digit_pairs.npz")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    make(a.out, a.n, a.seed)
