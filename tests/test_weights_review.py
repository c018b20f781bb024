"""Pretrained weights, the cases a review found: tied tensors saved under one name (safetensors'
save_model, as Hugging Face writes them), a --strategy fsdp run's checkpoint as the starting
weights, --quiet, rename collisions found by graphc check, and a .pt given to --weights."""

import os
import subprocess
import sys

import pytest
from conftest import MODELS, import_generated, run_graphc
from test_weights_check import write_safetensors

torch = pytest.importorskip("torch")

TIE = """
model Tie {
    input tokens: long[B, 8]
    logits = tokens -> tok: Embedding(20, 6) -> enc: Linear(6) -> head: Linear(20, bias=false)
    output logits
    tie head.weight = tok.weight

    train {
        data = npz("tok.npz")
        loss = CrossEntropyLoss()
        pretrained = weights("FILE")
        epochs = 1
    }
}
"""


@pytest.fixture(scope="module")
def tie(tmp_path_factory):
    """A folder with tie.model built into gen/ (its module and training script, imported), a
    token data set, and the weights of a seeded Tie: (folder, script module, state_dict)."""
    d = tmp_path_factory.mktemp("tie")
    (d / "tie.model").write_text(TIE.replace("FILE", "tie.safetensors"))
    proc = run_graphc("build", "tie.model", "-o", "gen", cwd=d)  # the file is not there yet
    g = torch.Generator().manual_seed(0)
    import numpy as np

    np.savez(d / "tok.npz", x=torch.randint(0, 20, (16, 8), generator=g).numpy(),
             y=torch.randint(0, 20, (16, 8), generator=g).numpy())
    assert (d / "gen" / "train_tie.py").is_file(), proc.stdout + proc.stderr
    script = import_generated(d / "gen" / "train_tie.py", "train_tie_review")
    torch.manual_seed(3)
    state = {k: v.clone() for k, v in script.Tie().state_dict().items()}
    return d, script, state


def saved_with_save_model(d, state, name="tie.safetensors"):
    """The file safetensors.torch.save_model writes for a Tie holding ``state``: one name of the tie."""
    st = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open

    m = import_generated(d / "gen" / "tie.py", "tie_module_review").Tie()
    m.load_state_dict(state)
    st.save_model(m, str(d / name))
    with safe_open(str(d / name), "pt") as f:
        keys = set(f.keys())
    assert keys == {"enc.weight", "enc.bias", "head.weight"}  # tok.weight is the same tensor: left out
    return d / name


def test_check_accepts_a_tied_tensor_under_either_name(tie):
    d, _, state = tie
    saved_with_save_model(d, state)
    proc = run_graphc("check", "tie.model", cwd=d)  # the pretrained file, compared statically
    assert proc.returncode == 0 and "error" not in proc.stdout, proc.stdout
    for kept in ("tok.weight", "head.weight"):  # a file with the other name, and one with both
        write_safetensors(d / "one.safetensors", {k: v for k, v in state.items() if k != kept})
        proc = run_graphc("check", "tie.model", "--weights", "one.safetensors", cwd=d)
        assert proc.returncode == 0, proc.stdout
    write_safetensors(d / "both.safetensors", state)
    assert run_graphc("check", "tie.model", "--weights", "both.safetensors", cwd=d).returncode == 0
    # neither name: still missing, at the line of the layer that owns it
    write_safetensors(d / "none.safetensors", {k: v for k, v in state.items() if not k.endswith("weight")
                                               or k.startswith("enc")})
    proc = run_graphc("check", "tie.model", "--weights", "none.safetensors", cwd=d)
    assert proc.returncode == 1 and "has no tensor 'tok.weight'" in proc.stdout
    # the shipped GPT, its weights as Hugging Face saves them (lm_head.weight ties wte.weight)
    st = pytest.importorskip("safetensors.torch")
    from graphc.api import compile

    gpt = compile(MODELS / "gpt.model").to_module()
    st.save_model(gpt, str(d / "gpt_hf.safetensors"))
    proc = run_graphc("check", MODELS / "gpt.model", "--weights", d / "gpt_hf.safetensors")
    assert proc.returncode == 0, proc.stdout


def test_a_tied_tensor_loads_from_either_name(tie, capsys):
    d, script, state = tie
    f = saved_with_save_model(d, state)
    torch.save(state, d / "tie.pt")  # torch.save(state_dict): both names, one value
    for path in (f, d / "tie.pt"):
        for strict in (True, False):
            m = script.Tie()
            missing, unexpected, resized = script.load_pretrained(m, str(path), strict, (), True)
            assert (missing, unexpected, resized) == ([], [], [])
            assert m.head.weight is m.tok.weight  # still one tensor
            for k, v in state.items():
                assert torch.equal(m.state_dict()[k], v), k
            out = capsys.readouterr().out
            assert "all of them" in out and "initial values" not in out, out
    # torch's own loader agrees on what the file holds
    st = pytest.importorskip("safetensors.torch")
    ref = script.Tie()
    st.load_model(ref, str(f))
    assert all(torch.equal(ref.state_dict()[k], v) for k, v in state.items())


def test_a_tied_tensor_with_two_values_in_the_file_is_an_error(tie):
    d, script, state = tie
    bad = dict(state)
    bad["head.weight"] = state["head.weight"] + 1
    torch.save(bad, d / "two.pt")
    with pytest.raises(script.DataError, match="'tok.weight' and 'head.weight' are one tensor in Tie"):
        script.load_pretrained(script.Tie(), str(d / "two.pt"), False, (), True)


def test_the_training_script_starts_from_a_save_model_file(tie):
    d, _, state = tie
    saved_with_save_model(d, state)
    proc = subprocess.run([sys.executable, str(d / "gen" / "train_tie.py"), "--out", "run", "--device", "cpu",
                           "--max-steps", "1"], capture_output=True, text=True, cwd=d, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pretrained: 4 of the model's 4 tensors loaded from tie.safetensors (safetensors), all of them" in proc.stdout
    assert "tok.weight (the file's head.weight)" in proc.stdout


def test_export_reads_a_tied_tensor_under_one_name(tie):
    from graphc.interop.weights import WeightsError, load_into

    d, script, state = tie
    f = saved_with_save_model(d, state, "exp.safetensors")
    m = script.Tie()
    assert load_into(m, str(f)) == "safetensors"
    assert torch.equal(m.tok.weight, state["tok.weight"]) and m.head.weight is m.tok.weight
    bad = dict(state)
    bad["tok.weight"] = state["tok.weight"] * 2
    torch.save(bad, d / "bad.pt")
    with pytest.raises(WeightsError, match="are one tensor in the model"):
        load_into(script.Tie(), str(d / "bad.pt"))
