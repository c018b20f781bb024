"""Text classification from a CSV file: ``text_csv("reviews.csv", text=..., label=..., length=T)``.

The generated script's ids are compared with a tokenizer and vocabulary written here
independently (character by character, with collections.Counter); validation data reuses
the training file's vocabulary and classes; an Embedding -> mean -> Linear model learns a
two-class CSV through the generated script, its checkpoint keeping the vocabulary; and
the static checks against the model's input, Embedding and output."""

import csv
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import build_scripts, import_generated

from graphc.api import compile_source

ROOT = Path(__file__).resolve().parent.parent

torch = pytest.importorskip("torch")

CLF = """model Clf {{
    input words: {dtype}[B, {t}]
    scores = words -> Embedding({e}, 16) -> mean(dim=1) -> Linear({c})
    output scores
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.02)
        epochs = {epochs}
        batch_size = 16
        seed = 0
    }}
}}
"""


def clf(data='text_csv("reviews.csv", text="review", label="sentiment", length=8, vocab_size=50)', t=8, e=52,
        c=2, dtype="long", epochs=1):
    return CLF.format(data=data, t=t, e=e, c=c, dtype=dtype, epochs=epochs)


def errors(src):
    return [(d.code, d.span.line, d.message, d.hint) for d in compile_source(src, "m.model").errors]


def write_csv(path, rows, header=("id", "review", "sentiment")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])


def words_by_hand(text):
    """The documented tokenizer, written without regular expressions: lowercase, runs of letters,
    digits and apostrophes, apostrophes at either end dropped."""
    out, word = [], ""
    for ch in text.lower() + " ":
        if ch.isalpha() or ch.isdigit() or ch == "'":
            word += ch
        else:
            if word.strip("'"):
                out.append(word.strip("'"))
            word = ""
    return out


def ids_by_hand(texts, length, vocab_size, min_count, vocab_texts=None):
    counts = Counter(w for t in (vocab_texts or texts) for w in words_by_hand(t))
    kept = [w for w, n in counts.items() if n >= min_count]
    kept.sort(key=lambda w: (-counts[w], w))
    index = {w: i + 2 for i, w in enumerate(kept[:vocab_size])}
    rows = []
    for t in texts:
        ids = [index.get(w, 1) for w in words_by_hand(t)][:length]
        rows.append(ids + [0] * (length - len(ids)))
    return rows, kept[:vocab_size]


TEXTS = [
    "Don't waste your time... it's BAD, bad, bad!",
    "A 'masterpiece'? Rock'n'roll & naïve café-culture: 10/10",
    "snake_case words, e-mail and ÜBER großartig",
    "",
    "good good GOOD good film; the plot's fine",
    '"Quoted, with a comma\nand a newline" bad film',
    "''' 'tis 90s' rock'n'roll film",
]
LABELS = ["neg", "pos", "pos", "neg", "pos", "neg", "pos"]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("textcsv")
    return import_generated(build_scripts(tmp, clf(), "clf"), "gen_textcsv")


@pytest.mark.parametrize("length,vocab_size,min_count", [(8, 50, 1), (3, 4, 1), (20, 3, 2), (1, 100, 3)])
def test_ids_equal_a_tokenizer_written_by_hand(gen, tmp_path, length, vocab_size, min_count):
    write_csv(tmp_path / "r.csv", [[i, t, lab] for i, (t, lab) in enumerate(zip(TEXTS, LABELS, strict=True))])
    gen.DATA_INFO.clear()
    x, y = gen._text_csv(str(tmp_path / "r.csv"), "review", "sentiment", length, vocab_size, min_count)
    want, vocab = ids_by_hand(TEXTS, length, vocab_size, min_count)
    assert x.dtype == torch.long and x.tolist() == want
    assert gen.DATA_INFO["words"] == vocab and gen.DATA_INFO["classes"] == ["neg", "pos"]
    assert y.tolist() == [["neg", "pos"].index(v) for v in LABELS]


def test_the_tokenizer_by_hand_on_its_own(gen):
    for t in TEXTS:
        assert gen._words(t) == words_by_hand(t)
    assert words_by_hand("Rock'n'roll 'tis, DON'T!") == ["rock'n'roll", "tis", "don't"]


def test_numeric_labels_are_sorted_as_numbers_and_validation_reuses_the_vocabulary(gen, tmp_path):
    write_csv(tmp_path / "t.csv", [[0, "a b c", "10"], [1, "b c", "9"], [2, "c", " 2"]])
    write_csv(tmp_path / "v.csv", [[0, "c b a z z", "9"], [1, "zz", "10"]])
    gen.DATA_INFO.clear()
    x, y = gen._text_csv(str(tmp_path / "t.csv"), "review", "sentiment", 4, 10, 1)
    assert gen.DATA_INFO["classes"] == ["2", "9", "10"] and y.tolist() == [2, 1, 0]
    assert gen.DATA_INFO["words"] == ["c", "b", "a"] and x.tolist()[0] == [4, 3, 2, 0]
    xv, yv = gen._text_csv(str(tmp_path / "v.csv"), "review", "sentiment", 4, 10, 1)  # the training vocabulary
    assert xv.tolist() == [[2, 3, 4, 1], [1, 0, 0, 0]] and yv.tolist() == [1, 2]
    write_csv(tmp_path / "w.csv", [[0, "a", "11"]])
    with pytest.raises(gen.DataError, match=r"has labels the training data has not: \['11'\]"):
        gen._text_csv(str(tmp_path / "w.csv"), "review", "sentiment", 4, 10, 1)
    gen.DATA_INFO.clear()
    with pytest.raises(gen.DataError, match=r"^cannot read .*missing.csv: "):
        gen._text_csv(str(tmp_path / "missing.csv"), "review", "sentiment", 4, 10, 1)
    with pytest.raises(gen.DataError, match=r"has no column 'text' \(columns: \['id', 'review', 'sentiment'\]\)"):
        gen._text_csv(str(tmp_path / "t.csv"), "text", "sentiment", 4, 10, 1)
    (tmp_path / "e.csv").write_text("review,sentiment\n")
    with pytest.raises(gen.DataError, match=r"e.csv has a header but no rows"):
        gen._text_csv(str(tmp_path / "e.csv"), "review", "sentiment", 4, 10, 1)
    (tmp_path / "s.csv").write_text("review,sentiment\ngood,pos\nbad\n")
    with pytest.raises(gen.DataError, match=r"s.csv: row 3 has 1 values, but the header has 2"):
        gen._text_csv(str(tmp_path / "s.csv"), "review", "sentiment", 4, 10, 1)
    with pytest.raises(gen.DataError, match=r"the checkpoint has no vocabulary"):
        gen._text_csv_features(str(tmp_path / "t.csv"), "review", 4)


# ------------------------------------------------------------------ training
POS = ["great", "superb", "loved", "wonderful", "brilliant"]
NEG = ["awful", "boring", "hated", "terrible", "dull"]
NOISE = ["the", "film", "plot", "actors", "was", "and", "a", "it", "story", "music", "scene", "ending"]


def reviews(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = [rng.choice(NOISE) for _ in range(rng.randint(3, 9))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randint(0, len(words)), rng.choice(POS if label else NEG).upper())
        rows.append([i, " ".join(words) + rng.choice([".", "!", "..."]), "positive" if label else "negative"])
    return rows


def held_out_by_hand(n, fraction, seed):
    """(validation rows, training rows) as docs/training.md says val_split draws them: a seeded
    permutation, its first round(n * fraction) held out."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(n * fraction))
    return order[:n_val], order[n_val:]


def test_the_rows_that_train_are_the_splits(tmp_path):
    mod = import_generated(build_scripts(tmp_path, clf(), "a"), "gen_textcsv_rows")
    assert list(mod._training_rows(50, 7)) == held_out_by_hand(50, 0.2, 7)[1]
    x, y = torch.arange(50), torch.arange(50)
    assert mod.split(x, y, 0.2, 7)[0].tolist() == held_out_by_hand(50, 0.2, 7)[1]
    src = clf().replace("        epochs", '        val_data = text_csv("val.csv", text="review", label="sentiment", '
                                          'length=8)\n        epochs')
    mod = import_generated(build_scripts(tmp_path, src, "b"), "gen_textcsv_rows_val")
    assert list(mod._training_rows(50, 7)) == list(range(50))  # validation data given: every row trains


def test_an_embedding_mean_linear_model_learns_two_classes(tmp_path, capsys):
    rows = reviews(240, 0)
    train = held_out_by_hand(240, 0.2, 0)[1]
    held = next(i for i in range(240) if i not in train)
    rows[held][1] += " zyzzyva zyzzyva zyzzyva"  # a word of a validation row only: not in the vocabulary
    write_csv(tmp_path / "reviews.csv", rows)
    script = build_scripts(tmp_path, clf(epochs=15), "clf")
    r = subprocess.run([sys.executable, str(script), "--out", "run", "--quiet"], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    texts = [rows[i][1] for i in train]  # the vocabulary counts the rows that train
    ids, vocab = ids_by_hand(texts, 8, 50, 1)
    assert "zyzzyva" not in vocab and "zyzzyva" in ids_by_hand([t for _, t, _ in rows], 8, 50, 1)[1]
    assert ckpt["data_info"]["words"] == vocab and ckpt["data_info"]["classes"] == ["negative", "positive"]
    model = import_generated(script.parent / "clf.py", "gen_textcsv_model").Clf()
    model.load_state_dict(ckpt["model"])
    model.eval()
    test = reviews(200, 1)  # new reviews, ids from the training vocabulary
    x = torch.tensor(ids_by_hand([t for _, t, _ in test], 8, 50, 1, vocab_texts=texts)[0])
    y = torch.tensor([lab == "positive" for _, _, lab in test]).long()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.95, accuracy
    # --predict: new texts (no label column) as ids of the checkpoint's vocabulary, the class names printed
    write_csv(tmp_path / "new.csv", [[i, t] for i, t, _ in test[:6]], header=("id", "review"))
    r = subprocess.run([sys.executable, str(script), "--predict", "run/last.pt", "--data", "new.csv"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with torch.no_grad():
        p = model(x[:6]).softmax(1)
    lines = r.stdout.splitlines()
    assert lines[0] == "row,class,class_name,p_0,p_1"
    for i, line in enumerate(lines[1:]):
        row, cls, name, p0, p1 = line.split(",")
        assert (int(row), int(cls), name) == (i, int(p[i].argmax()), ["negative", "positive"][int(p[i].argmax())])
        assert torch.allclose(torch.tensor([float(p0), float(p1)]), p[i], atol=1e-5)
    # --eval --data: a labelled file read with the same vocabulary
    write_csv(tmp_path / "test.csv", test)
    r = subprocess.run([sys.executable, str(script), "--eval", "run/last.pt", "--data", "test.csv"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"accuracy {accuracy:.4f}  samples 200" in r.stdout, r.stdout
    # graphc predict checks the text column before the script runs: one line, exit code 2
    from graphc.cli import main

    (tmp_path / "clf.model").write_text(clf(epochs=15))
    (tmp_path / "bad.csv").write_text("text\nso good\n")
    code = main(["predict", str(tmp_path / "clf.model"), "--checkpoint", str(tmp_path / "run" / "last.pt"),
                 "--data", str(tmp_path / "bad.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        f"graphc: error: {tmp_path / 'bad.csv'} has no column 'review' (its columns: 'text'): the model reads the "
        "texts of column 'review', as in training"]


# ------------------------------------------------------------------ static checks
def test_a_model_that_fits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert errors(clf(c=3)) == []  # no file yet: the classes are counted when the script runs
    write_csv(tmp_path / "reviews.csv", reviews(10, 0))
    assert errors(clf()) == []
    assert errors(clf(t="T")) == []  # a symbolic length takes any
    assert errors(clf(e=1000)) == []


@pytest.mark.parametrize("kw,want", [
    ({"dtype": "float32", "body": "Linear(16)"}, "text_csv() gives word ids, but input 'words' is float32"),
    ({"t": 9}, "text_csv(length=8) gives 8 word ids per text (N, 8), but input 'words' is (B, 9)"),
    ({"e": 51}, "text_csv(vocab_size=50) gives ids up to 51 (0 pads, 1 is an unknown word, the 50 words are "
                "2..51), but the Embedding reading input 'words' has num_embeddings=51"),
])
def test_the_input_is_checked(kw, want):
    body = kw.pop("body", None)
    src = clf(**kw)
    found = errors(src if body is None else src.replace("Embedding(52, 16) -> mean(dim=1)", body))
    assert any(e[:3] == ("data-mismatch", 6, want) for e in found), found


def test_the_embedding_hint_gives_both_fixes():
    (_, _, _, hint), = errors(clf(e=30))
    assert hint == "use Embedding(52, ...) or pass vocab_size=28"


def test_the_file_is_checked_when_it_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = clf(data='text_csv("reviews.csv", text="body", label="sentiment", length=8, vocab_size=50)')
    assert errors(src) == []  # not there yet: the script reports it when it runs
    write_csv(tmp_path / "reviews.csv", reviews(10, 0))
    assert errors(src) == [("data-mismatch", 6, "reviews.csv has no column 'body' (its columns: 'id', 'review', "
                            "'sentiment')", "pass text=NAME, naming its columns")]
    src = clf(data='text_csv("reviews.csv", text="reviews", label="label", length=8, vocab_size=50)')
    assert errors(src)[0][2:] == ("reviews.csv has no column 'reviews' or 'label' (its columns: 'id', 'review', "
                                  "'sentiment')", "pass text=\"review\" and label=NAME, naming its columns")
    found = errors(clf(c=3))
    assert [e[:3] for e in found] == [("loss-mismatch", 7, "text_csv() has 2 classes, but output 'scores' gives "
                                       "3 scores (B, 3)")]


def test_scores_per_word_are_refused(tmp_path):
    src = clf().replace("-> mean(dim=1) ", "")
    found = errors(src)
    assert any(code == "data-mismatch" and line == 6 and msg.startswith(
        "text_csv() has one class label per text, so the model must give (B, C) class scores, but output "
        "'scores' is (B, 8, 2)") for code, line, msg, _ in found), found


def test_the_docs_example_checks(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    example = text.split("**Text classification.**")[1].split("```\n")[1]
    assert example.startswith("model Sentiment {")
    monkeypatch.chdir(tmp_path)
    assert errors(example) == []
    write_csv(tmp_path / "reviews.csv", reviews(10, 0))  # two classes, as the example's Linear(2)
    assert errors(example) == []
    assert [e[2] for e in errors(example.replace("Embedding(20002", "Embedding(20001"))] == [
        "text_csv(vocab_size=20000) gives ids up to 20001 (0 pads, 1 is an unknown word, the 20000 words are "
        "2..20001), but the Embedding reading input 'words' has num_embeddings=20001"]
