"""StochasticDepth against torchvision's own function, written here as the reference (torchvision
is not a dependency): same RNG seed, same output, in train and eval modes, p = 0 and p = 1 included."""

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402


def torchvision_stochastic_depth(input, p, mode, training=True):
    """torchvision.ops.stochastic_depth, verbatim (torchvision/ops/stochastic_depth.py)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ["batch", "row"]:
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


def _module(p, mode, shape):
    dims = ", ".join(str(d) for d in shape)
    src = f"""model Drop {{
    input x: [{dims}]
    y = x -> Linear({shape[-1]}) -> StochasticDepth({p}, '{mode}') -> add(x)
    output y
}}
"""
    comp = compile_source(src)
    assert comp.ok, comp.diagnostics
    return comp.to_module(), comp.python_source()


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(16, 3), (8, 2, 3, 3)])
def test_matches_torchvision_in_train_and_eval(p, mode, shape):
    model, _ = _module(p, mode, shape)
    x = torch.randn(shape)
    for training in (True, False):
        model.train(training)
        for seed in (0, 1, 7):
            torch.manual_seed(seed)
            got, after = model(x), torch.rand(3)
            h = model.linear(x)
            torch.manual_seed(seed)
            want = torchvision_stochastic_depth(h, p, mode, training) + x
            assert torch.equal(got, want)
            assert torch.equal(after, torch.rand(3))  # the RNG advanced exactly as torchvision's

def test_rows_are_dropped_independently_and_survivors_scaled():
    model, src = _module(0.5, "row", (64, 4))
    assert "import torchvision" not in src and "bernoulli_(0.5).div_(0.5)" in src
    model.train()
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    branch = model(x) - x
    h = model.linear(x)
    kept = [(b == 0).all() or torch.allclose(b, 2 * hr) for b, hr in zip(branch, h)]
    assert all(kept)
    assert 0 < sum(bool((b == 0).all()) for b in branch) < 64
