"""Write topics.npz: sequences of token ids for sequence classification (models/lstm_classifier.model
with --classes 2, models/transformer_classifier.model with 4): each sequence is filler words with a
few keywords of several topics mixed in; its label is the topic with the most keywords in it.

Every topic has its own 20 keywords (ids 1 to 20 × classes); the filler words are the ids after
them, below --vocab; 0 is never used (padding).  A sequence holds 4 to 6 keywords of its topic and
up to 3 of the other topics, at random places, so a model must find and count them: a bag of words
can learn it, position by position it cannot be guessed.  Arrays: ``x`` (N, T) int64 ids and ``y``
(N,) int64 topics 0 to classes-1, every topic equally often.  The same --seed gives the same file.

    python models/data/make_topics.py [--out topics.npz] [--classes 4] [--n 2000] [--length 16]
                                      [--vocab 1000] [--seed 0]
"""

import argparse

import numpy as np

KEYWORDS = 20  # per topic


def make(out: str, classes: int = 4, n: int = 2000, length: int = 16, vocab: int = 1000, seed: int = 0) -> None:
    first_filler = 1 + KEYWORDS * classes
    if classes < 2 or vocab <= first_filler or length < 10:
        raise SystemExit(f"error: --classes {classes}, --vocab {vocab}, --length {length}: need at least 2 "
                         f"classes, a vocabulary above {first_filler} (the keywords) and sequences of 10 or more")
    rng = np.random.default_rng(seed)
    x = rng.integers(first_filler, vocab, size=(n, length))
    y = np.arange(n) % classes
    rng.shuffle(y)
    for i in range(n):
        own = rng.integers(4, 7)
        others = rng.integers(0, 4)
        other_topics = rng.choice([c for c in range(classes) if c != y[i]], size=others)
        topics = np.concatenate([np.full(own, y[i]), other_topics])
        places = rng.choice(length, size=len(topics), replace=False)
        x[i, places] = 1 + topics * KEYWORDS + rng.integers(0, KEYWORDS, size=len(topics))
    np.savez(out, x=x.astype(np.int64), y=y.astype(np.int64))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="topics.npz")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--length", type=int, default=16)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    make(a.out, a.classes, a.n, a.length, a.vocab, a.seed)
