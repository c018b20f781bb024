"""Write shapes.npz: generated grey 32×32 images of a rectangle or a disk on noise, with the mask
of the shape, for segmentation (models/unet.model).

Arrays: ``x`` (N, 1, 32, 32) float32 in [0, 1] and ``y`` (N, 32, 32) int64: 1 on the shape, 0
elsewhere.  The same --seed gives the same file.

    python models/data/make_shapes.py [--out shapes.npz] [--n 512] [--seed 0]
"""

import argparse

import numpy as np

SIZE = 32


def make(out: str, n: int = 512, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    masks = np.zeros((n, SIZE, SIZE), dtype=np.int64)
    for i in range(n):
        if rng.random() < 0.5:  # a rectangle
            r0, c0 = rng.integers(0, SIZE - 8, size=2)
            h, w = rng.integers(6, SIZE // 2, size=2)
            masks[i, r0:r0 + h, c0:c0 + w] = 1
        else:  # a disk
            r, c = rng.integers(8, SIZE - 8, size=2)
            radius = rng.integers(4, 9)
            masks[i] = (rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2
    brightness = rng.uniform(0.5, 1.0, size=(n, 1, 1))
    images = np.clip(masks * brightness + rng.normal(0, 0.15, size=masks.shape), 0, 1).astype(np.float32)
    np.savez(out, x=images[:, None], y=masks)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="shapes.npz")
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    make(a.out, a.n, a.seed)
