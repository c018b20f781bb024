"""In-memory regression and binary targets must give the output's number of values a sample: the
script compares them when it starts (one line) instead of failing in the loss's reshape, and takes
exactly what torch's reshape takes."""
import json

import pytest
from conftest import build_scripts, import_generated

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

SRC = """model R {{
    input x: [B, 4]
    y = x -> Linear({n}){tail}
    output y
    train {{
        data = npz("d.npz")
        loss = {loss}
        optimizer = SGD(lr=0.1)
        epochs = 1
    }}
}}
"""


@pytest.mark.parametrize("n,tail,loss,y_shape,ok", [
    (3, "", "MSELoss()", (40, 3), True),
    (3, "", "MSELoss()", (40, 2), False),
    (3, "", "MSELoss()", (40,), False),
    (12, " -> Unflatten(1, (3, 4))", "MSELoss()", (40, 12), True),  # reshape takes 12 values as (3, 4)
    (1, "", "BCEWithLogitsLoss()", (40,), True),
    (1, "", "BCEWithLogitsLoss()", (40, 2), False),
])
def test_target_values_a_sample_against_the_output(tmp_path, monkeypatch, n, tail, loss, y_shape, ok):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, y_shape).astype("float32")
    np.savez(tmp_path / "d.npz", x=rng.random((40, 4), dtype=np.float32), y=y)
    src = SRC.format(n=n, tail=tail, loss=loss)
    stem = f"r{n}_{len(y_shape)}_{y_shape[-1]}_{int(ok)}"  # the script imports its module by name
    script = build_scripts(tmp_path, src.replace("model R", f"model R{stem}"), stem)
    out_shape = (32, 3, 4) if tail else (32, n)
    try:  # what torch does with one batch's targets in the loss's reshape
        torch.from_numpy(y[:32]).reshape(out_shape)
        torch_takes = True
    except RuntimeError:
        torch_takes = False
    assert torch_takes == ok
    monkeypatch.chdir(tmp_path)
    mod = import_generated(script, f"train_{stem}")
    if ok:
        mod.main(["--out", "run", "--quiet"])
        rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
        assert rec["epoch"] == 1 and rec["train_loss"] == rec["train_loss"]
    else:
        per = int(np.prod(y_shape[1:]))
        with pytest.raises(mod.DataError, match=rf"training data has targets of shape \(32,( \d+)?\), {per} values? "
                                                 rf"a sample, but the model's output gives {n} a sample"):
            mod.main(["--out", "run", "--quiet"])
