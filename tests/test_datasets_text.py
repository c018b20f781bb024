"""Character-level language modelling: ``text("file", context=T)`` and ``shakespeare()``.

The generated script's windows are compared with windows cut by hand from the text; the
vocabulary saved with the checkpoint with the text's sorted characters; the static checks
with the model's input and output; and models/char_rnn.model and models/gpt.model train a
few steps on the shipped passage, offline."""

import subprocess
import sys

import pytest
from conftest import MODELS, build_scripts, import_generated

from graphc.api import compile_source
from graphc.components.datasets_text import shipped_text

torch = pytest.importorskip("torch")

LM = """model LM {{
    input text: {dtype}[B, {t}]
    logits = text -> {body} -> Linear({v})
    output logits
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        epochs = 1
        batch_size = 4
    }}
}}
"""

TEXT = "It is a truth universally acknowledged, that a single man\nin possession of a good fortune...\n" * 3


def errors(src):
    return [(d.code, d.span.line, d.message) for d in compile_source(src, "m.model").errors]


def lm(data='text("input.txt", context=8)', t=8, v=40, dtype="long", body="Embedding(40, 8) -> GRU(16)"):
    return LM.format(data=data, t=t, v=v, dtype=dtype, body=body)


def run(script, *args, cwd):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_windows_and_next_characters_as_cut_by_hand(tmp_path):
    mod = import_generated(build_scripts(tmp_path, lm(), "lm"), "gen_lm_windows")
    vocab = sorted(set(TEXT))
    for context, stride in ((8, 8), (5, 3), (1, 1)):
        x, y = mod._text_windows(TEXT, context, stride, "t")
        starts = range(0, len(TEXT) - context, stride)
        assert x.tolist() == [[vocab.index(c) for c in TEXT[s:s + context]] for s in starts]
        assert y.tolist() == [[vocab.index(c) for c in TEXT[s + 1:s + context + 1]] for s in starts]
        assert mod.DATA_INFO["vocabulary"] == "".join(vocab)
    with pytest.raises(mod.DataError, match="t has 3 characters: a window of context=3 needs 4"):
        mod._text_windows("abc", 3, 3, "t")


def test_trains_and_saves_the_vocabulary_with_the_checkpoint(tmp_path):
    (tmp_path / "input.txt").write_text(TEXT, encoding="utf-8")
    script = build_scripts(tmp_path, lm(), "lm")
    r = run(script, "--out", "run", "--max-steps", "3", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["data_info"]["vocabulary"] == "".join(sorted(set(TEXT)))
    # --top-k 1 samples greedily: the argmax of the model's scores for the last position, each
    # window the last 8 ids, a short prompt padded on the left with id 0
    r = run(script, "--sample", "12", "--prompt", "It is", "--top-k", "1", "--checkpoint", "run/last.pt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    vocab = "".join(sorted(set(TEXT)))
    model = import_generated(script.parent / "lm.py", "gen_lm_sample").LM()
    model.load_state_dict(ckpt["model"])
    model.eval()
    ids = [0, 0, 0] + [vocab.index(c) for c in "It is"]
    with torch.no_grad():
        for _ in range(12):
            ids.append(int(model(torch.tensor([ids[-8:]]))[0, -1, :len(vocab)].argmax()))
    assert r.stdout == "It is" + "".join(vocab[i] for i in ids[8:]) + "\n"
    r = run(script, "--sample", "5", "--prompt", "Zebra", "--checkpoint", "run/last.pt", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: the prompt holds characters the model never saw: 'Zb'\n"
    r = run(script, "--out", "run2", cwd=tmp_path / "run")  # no input.txt there: one line
    assert r.returncode == 2 and r.stderr.startswith("error: cannot read input.txt: ")
    assert len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ static checks
def test_a_model_that_fits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "input.txt").write_text(TEXT, encoding="utf-8")
    assert errors(lm()) == []
    assert errors(lm(t="T")) == []  # a symbolic length takes any context


@pytest.mark.parametrize("kw,want", [
    ({"dtype": "", "body": "Unflatten(1, (8, 1))"}, "text() gives character ids, but input 'text' is float32"),
    ({"t": 9}, "text(context=8) gives windows of 8 characters (N, 8), but input 'text' is (B, 9)"),
])
def test_the_input_is_checked(kw, want):
    assert ("data-mismatch", 6, want) in errors(lm(**kw))


def test_the_vocabulary_is_checked_when_the_file_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n = len(set(TEXT))
    assert errors(lm(v=n - 1)) == []  # not there yet: the script checks the labels when it runs
    (tmp_path / "input.txt").write_text(TEXT, encoding="utf-8")
    assert errors(lm(v=n)) == []
    assert errors(lm(v=n - 1)) == [("data-mismatch", 6, f"input.txt has {n} distinct characters, but output "
                                    f"'logits' (B, 8, {n - 1}) scores {n - 1}")]
    want = len(set(shipped_text()))
    assert errors(lm(data="shakespeare(context=8)", v=want - 1))[0][2].endswith(f"scores {want - 1}")


def test_one_label_per_sample_is_refused():
    src = lm(body="Embedding(40, 8) -> Flatten")
    (code, line, msg), = errors(src)
    assert (code, line) == ("data-mismatch", 6)
    assert msg.startswith("text() has a label per character (the next one), so the model must give (B, T, V)")


# ------------------------------------------------------------------ the models
@pytest.mark.parametrize("stem,cls", [("char_rnn", "CharRNN"), ("gpt", "GPT")])
def test_shipped_models_train_offline(tmp_path, stem, cls):
    comp = compile_source((MODELS / f"{stem}.model").read_text(), f"{stem}.model")
    assert comp.ok, comp.diagnostics
    script = build_scripts(tmp_path, (MODELS / f"{stem}.model").read_text(), stem)
    r = run(script, "--out", "run", "--epochs", "1", "--max-steps", "1", "--batch-size", "2", "--quiet",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["data_info"]["vocabulary"] == "".join(sorted(set(shipped_text())))
    model = getattr(import_generated(script.parent / f"{stem}.py", f"gen_{stem}_smoke"), cls)()
    model.load_state_dict(ckpt["model"])
