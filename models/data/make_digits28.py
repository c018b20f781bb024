"""Write digits28.npz: scikit-learn's 1,797 8×8 digits (shipped with it, no download) at 28×28.

Each image is scaled to [0, 1], enlarged four times (every pixel a 4×4 block: 32×32) and cut to
its middle 28×28, the size models/autoencoder.model takes.  Arrays: ``x`` (1797, 1, 28, 28)
float32 and ``y`` (1797,) int64, the digits.  ``--size 32`` keeps the whole 32×32 (the size
models/lenet.model takes; any size up to 32 is the middle of it).

    python models/data/make_digits28.py [--out digits28.npz] [--size 28]
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits


def make(out: str, size: int = 28) -> None:
    if not 1 <= size <= 32:
        raise SystemExit(f"error: --size {size}: the enlarged images are 32×32, give a size from 1 to 32")
    ds = load_digits()
    images = ds.images.astype(np.float32) / 16.0                           # (N, 8, 8) in [0, 1]
    big = np.kron(images, np.ones((1, 4, 4), dtype=np.float32))            # (N, 32, 32)
    lo = (32 - size) // 2
    np.savez(out, x=big[:, None, lo:lo + size, lo:lo + size], y=ds.target.astype(np.int64))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digits28.npz")
    p.add_argument("--size", type=int, default=28)
    a = p.parse_args()
    make(a.out, a.size)
