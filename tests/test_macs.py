"""MACs agree with torch's FlopCounterMode (FLOPs = 2 × MACs for conv, linear and matmul)."""

from pathlib import Path

import pytest

from conftest import MODELS, import_generated
from graphc.api import compile

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

FILES = sorted(MODELS.glob("*.model")) + sorted((Path(__file__).parent / "cases").glob("*.model"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_total_macs_equal_flop_counter(path, tmp_path):
    comp = compile(path)
    assert comp.ok, comp.diagnostics
    gen = tmp_path / f"{path.stem}.py"
    gen.write_text(comp.python_source())
    mod = import_generated(gen, f"macs_{path.stem}")
    model = getattr(mod, mod.__all__[0])().eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*mod.example_inputs(batch_size=1))
    assert counter.get_total_flops() == 2 * comp.summary().total_macs
