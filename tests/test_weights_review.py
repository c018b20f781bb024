"""Pretrained weights, the cases a review found: tied tensors saved under one name (safetensors'
save_model, as Hugging Face writes them), a --strategy fsdp run's checkpoint as the starting
weights, --quiet, rename collisions found by graphc check, and a .pt given to --weights."""

import os
import subprocess
import sys
import warnings

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


def in_folder(d, fn, *args):
    cwd = os.getcwd()
    os.chdir(d)
    try:
        return fn(*args)
    finally:
        os.chdir(cwd)


def test_a_sharded_checkpoint_is_read_whole_as_pretrained_weights(tie, capsys):
    """best.pt of a --strategy fsdp run holds no weights: they are in the shards directory it
    names. The script reads them (renames and partial loads apply as to any state_dict)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    d, script, _ = tie
    in_folder(d, script.main, ["--out", "fsdp", "--strategy", "fsdp", "--pretrained", "none", "--max-steps", "2",
                               "--device", "cpu", "--quiet", "--seed", "5"])
    ckpt = torch.load(d / "fsdp" / "best.pt", weights_only=True)
    assert ckpt["model"] is None and ckpt["shards"]  # the weights are in the shards alone
    m = script.Tie()
    capsys.readouterr()
    assert script.load_pretrained(m, str(d / "fsdp" / "best.pt"), True, (), True) == ([], [], [])
    assert "tensors loaded from" in capsys.readouterr().out and m.head.weight is m.tok.weight
    ref = script.Tie()  # torch's own reader of the shards
    state = {"model": get_model_state_dict(ref)}
    with warnings.catch_warnings():  # one process reading shards, as intended
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(d / "fsdp" / ckpt["shards"]))
    set_model_state_dict(ref, state["model"])
    assert not torch.equal(ref.enc.weight, script.Tie().enc.weight)  # trained: not a fresh model's
    for k, v in ref.state_dict().items():
        assert torch.equal(m.state_dict()[k], v), k
    # a partial load with a rename, from the same shards
    m = script.Tie()
    missing, unexpected, _ = script.load_pretrained(m, str(d / "fsdp" / "best.pt"), False, (("enc.", "other."),),
                                                    True)
    assert missing == ["enc.weight", "enc.bias"] and unexpected == ["other.weight", "other.bias"]
    assert torch.equal(m.tok.weight, ref.tok.weight)
    # the shards directory gone: one line that says what to do
    import shutil

    shutil.copy(d / "fsdp" / "best.pt", d / "lone.pt")
    with pytest.raises(script.DataError, match="is a sharded checkpoint .--strategy fsdp., but its shards"):
        script.load_pretrained(script.Tie(), str(d / "lone.pt"), True, (), True)


def test_check_finds_two_tensors_the_renames_give_one_name(tie):
    """graphc check reports at the rename pair what the script would stop on."""
    d, script, state = tie
    write_safetensors(d / "dup.safetensors", {**state, "old.weight": state["enc.weight"] + 1,
                                              "old.bias": state["enc.bias"]})
    src = TIE.replace('"FILE"', '"dup.safetensors", strict=false, rename=[("x.", "y."), ("old.", "enc.")]')
    (d / "dup.model").write_text(src)
    proc = run_graphc("check", "dup.model", cwd=d)
    line = next(i for i, t in enumerate(src.splitlines(), 1) if "rename=" in t)
    col = src.splitlines()[line - 1].index('("old.", "enc.")') + 1
    assert proc.returncode == 1, proc.stdout
    assert (f"dup.model:{line}:{col}: error: the renames give 'enc.weight' and 'old.weight' of dup.safetensors the "
            "same name 'enc.weight' (and 1 more): the training script would stop  [invalid-train]") in proc.stdout
    assert proc.stdout.count("error:") == 1
    with pytest.raises(script.DataError, match="the renames give 'enc.weight' and 'old.weight' the same name"):
        script.load_pretrained(script.Tie(), str(d / "dup.safetensors"), False, (("x.", "y."), ("old.", "enc.")),
                               True)
    # a prefix that keeps the names apart passes both
    src = src.replace('("old.", "enc.")', '("old.", "spare.")')
    (d / "dup.model").write_text(src)
    proc = run_graphc("check", "dup.model", cwd=d)
    assert proc.returncode == 0 and "[weights-partial]" in proc.stdout, proc.stdout


@pytest.mark.parametrize("zipped", [True, False])
def test_a_pt_file_given_to_check_weights_says_where_it_is_checked(tie, zipped):
    d, _, state = tie
    f = d / f"w{int(zipped)}.pt"
    torch.save(state, f, _use_new_zipfile_serialization=zipped)
    assert set(torch.load(f, weights_only=True)) == set(state)  # a state_dict torch reads
    proc = run_graphc("check", "tie.model", "--weights", f.name, cwd=d)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert (f"{f.name} is a zip or pickle file (as torch.save writes), not a safetensors file" in proc.stderr
            and "checked when the training script starts" in proc.stderr and "header of" not in proc.stderr)


def test_check_finds_a_tied_tensor_with_two_values(tie):
    """Both names of a tie in the file with different values: an error at the tie (the script stops too)."""
    d, script, state = tie
    bad = {**state, "head.weight": state["head.weight"] + 1}
    write_safetensors(d / "two.safetensors", bad)
    proc = run_graphc("check", "tie.model", "--weights", "two.safetensors", cwd=d)
    line = next(i for i, t in enumerate(TIE.splitlines(), 1) if t.strip().startswith("tie "))
    assert proc.returncode == 1 and (f"tie.model:{line}:5: error: two.safetensors gives 'tok.weight' and "
                                     "'head.weight' different values, but the model ties them") in proc.stdout, proc.stdout
    with pytest.raises(script.DataError, match="are one tensor in Tie"):
        script.load_pretrained(script.Tie(), str(d / "two.safetensors"), True, (), True)
    write_safetensors(d / "same.safetensors", state)  # the same values twice: fine for both
    assert run_graphc("check", "tie.model", "--weights", "same.safetensors", cwd=d).returncode == 0
    script.load_pretrained(script.Tie(), str(d / "same.safetensors"), True, (), True)
