"""CSV and text files as spreadsheets write them (issue 18 review): a UTF-8 byte-order mark
(Excel's "CSV UTF-8") is not part of the first column's name, blank rows are skipped, and a
text without a label or an empty number is an error naming its row.  Expected values come
from Python's csv module reading the same file (``encoding="utf-8-sig"``), never from graphc."""

import csv
from pathlib import Path

import pytest
from conftest import build_scripts, import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")

TEXT_MODEL = """model Clf {{
    input words: long[B, 8]
    scores = words -> Embedding(52, 8) -> mean(dim=1) -> Linear({c})
    output scores
    train {{
        data = text_csv("{path}", text="review", label="sentiment", length=8, vocab_size=50)
        loss = CrossEntropyLoss()
        epochs = 1
    }}
}}
"""

NUM_MODEL = """model Reg {{
    input x: [B, 3]
    logits = x -> Linear(2)
    output logits
    train {{
        data = csv("{path}", target="{target}")
        loss = CrossEntropyLoss()
        epochs = 1
    }}
}}
"""

CHAR_MODEL = """model Chars {
    input x: long[B, 4]
    logits = x -> Embedding(16, 8) -> Linear(16)
    output logits
    train {
        data = text("t.txt", context=4)
        loss = CrossEntropyLoss()
        epochs = 1
    }
}
"""


def write(path: Path, rows, bom=False) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def by_csv_module(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def errors(src):
    return [(d.span.line, d.message, d.hint) for d in compile_source(src, "m.model").errors]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """One generated script of each reader: text_csv, csv (with --predict's _feature_csv) and text."""
    tmp = tmp_path_factory.mktemp("csvreview")
    return {
        "text": import_generated(build_scripts(tmp, TEXT_MODEL.format(c=2, path="r.csv"), "tc"), "gen_csvr_tc"),
        "num": import_generated(build_scripts(tmp, NUM_MODEL.format(path="n.csv", target="t"), "num"),
                                "gen_csvr_num"),
    }


REVIEWS = [["review", "sentiment", "id"], ["good film", "pos", "0"], ["Bad, bad film", "neg", "1"],
           ["good", "pos", "2"]]


# ------------------------------------------------------------------ the byte-order mark
def test_a_byte_order_mark_is_not_part_of_the_first_column(gen, tmp_path, monkeypatch):
    path = write(tmp_path / "bom.csv", REVIEWS, bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfreview,")  # what Excel's "CSV UTF-8" writes
    rows = by_csv_module(path)
    g = gen["text"]
    g.DATA_INFO.clear()
    x, y = g._text_csv(str(path), "review", "sentiment", 8, 50, 1)
    classes = sorted({r["sentiment"] for r in rows})
    assert g.DATA_INFO["classes"] == classes
    assert y.tolist() == [classes.index(r["sentiment"]) for r in rows]
    assert x.shape == (3, 8) and x[0, :2].tolist() == [g.DATA_INFO["words"].index(w) + 2 for w in ("good", "film")]
    monkeypatch.chdir(tmp_path)
    assert errors(TEXT_MODEL.format(c=2, path="bom.csv")) == []  # was: no column 'review' (its columns: '\ufeffreview')
    assert [e[1] for e in errors(TEXT_MODEL.format(c=3, path="bom.csv"))] == [
        "text_csv() has 2 classes, but output 'scores' gives 3 scores (B, 3)"]


def test_numbers_with_a_byte_order_mark(gen, tmp_path):
    path = write(tmp_path / "n.csv", [["t", "a", "b", "c"], ["1", "2", "3", "4"], ["0", "5", "6", "7"]], bom=True)
    rows = by_csv_module(path)
    x, y = gen["num"]._read_csv(str(path), "t")  # the target is the first column: '\ufefft' before
    assert x.tolist() == [[int(r[k]) for k in "abc"] for r in rows]
    assert y.tolist() == [int(r["t"]) for r in rows]
    feats = gen["num"]._feature_csv(str(path), "t")  # --predict: the target column is left out
    assert feats.tolist() == x.tolist()


def test_graphc_predict_counts_the_columns_of_a_file_with_a_byte_order_mark(tmp_path):
    from graphc.cli_predict import _feature_shapes

    path = write(tmp_path / "n.csv", [["t", "a", "b", "c"], ["1", "2", "3", "4"]], bom=True)
    comp = compile_source(NUM_MODEL.format(path="train.csv", target="t"), "m.model")
    spec = comp.trained.training
    assert _feature_shapes(path, spec) == {"x": (None, len(by_csv_module(path)[0]) - 1)}


def test_a_text_file_with_a_byte_order_mark(tmp_path, monkeypatch):
    from graphc.components.datasets_text import file_vocabulary

    (tmp_path / "t.txt").write_text("abcab cab", encoding="utf-8-sig")
    assert (tmp_path / "t.txt").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert file_vocabulary(str(tmp_path / "t.txt")) == "".join(sorted(set("abcab cab")))
    monkeypatch.chdir(tmp_path)
    g = import_generated(build_scripts(tmp_path, CHAR_MODEL, "chars"), "gen_csvr_chars")
    assert g._read_text("t.txt") == "abcab cab"


# ------------------------------------------------------------------ blank rows and empty labels
def test_text_csv_skips_blank_rows_and_keeps_an_empty_text(gen, tmp_path):
    rows = [*REVIEWS, ["", "", ""], ["", "", "9"], [], ["", "neg", "3"]]
    path = write(tmp_path / "b.csv", rows)
    g = gen["text"]
    g.DATA_INFO.clear()
    x, y = g._text_csv(str(path), "review", "sentiment", 8, 50, 1)
    kept = [r for r in by_csv_module(path) if r["review"].strip() or r["sentiment"].strip()]
    assert g.DATA_INFO["classes"] == ["neg", "pos"]  # no class ''
    assert y.tolist() == [["neg", "pos"].index(r["sentiment"]) for r in kept]
    assert x[-1].tolist() == [0] * 8  # an empty text with a label: all padding


def test_a_text_without_a_label_names_its_row(gen, tmp_path, monkeypatch):
    rows = [*REVIEWS, ["a quoted\nreview over two lines", "pos", "4"], ["no label here", " ", "5"]]
    path = write(tmp_path / "e.csv", rows)
    with open(path, newline="", encoding="utf-8") as f:  # the row and line, as the csv module counts them
        reader = csv.reader(f)
        starts = []
        for _ in reader:
            starts.append(reader.line_num)
    row, line = len(rows), starts[-2] + 1
    assert (row, line) == (6, 7)
    g = gen["text"]
    g.DATA_INFO.clear()
    want = f"e.csv: row {row} (line {line}) has a text but no label (column 'sentiment' is empty)"
    with pytest.raises(g.DataError, match=want.replace("(", r"\(").replace(")", r"\)")):
        g._text_csv(str(path), "review", "sentiment", 8, 50, 1)
    monkeypatch.chdir(tmp_path)
    assert errors(TEXT_MODEL.format(c=2, path="e.csv")) == [
        (6, want, "give it its class, or remove the row (a row with neither is skipped)")]
    write(tmp_path / "f.csv", [*REVIEWS, ["x", "", "7"]])  # one line per row: no line number besides
    assert errors(TEXT_MODEL.format(c=2, path="f.csv"))[0][1] == (
        "f.csv: row 5 has a text but no label (column 'sentiment' is empty)")


def test_csv_skips_blank_rows_and_names_an_empty_value(gen, tmp_path):
    rows = [["a", "b", "c", "t"], ["1", "2", "3", "0"], ["", "", "", ""], [], ["4", "5", "6", "1"], [" ", "", "", ""]]
    path = write(tmp_path / "n.csv", rows)
    x, y = gen["num"]._read_csv(str(path), "t")
    kept = [r for r in by_csv_module(path) if any(v.strip() for v in r.values())]
    assert x.tolist() == [[int(r[k]) for k in "abc"] for r in kept] and y.tolist() == [int(r["t"]) for r in kept]
    write(path, [["a", "b", "c", "t"], ["1", "2", "3", "0"], ["4", "", "6", "1"]])
    with pytest.raises(gen["num"].DataError, match=r"n.csv: row 3, column 'b': '' is not a number"):
        gen["num"]._read_csv(str(path), "t")
    write(path, [["a", "b", "c", "t"], ["1", "2", "3"]])
    with pytest.raises(gen["num"].DataError, match=r"n.csv: row 2 has 3 values, but the header has 4"):
        gen["num"]._read_csv(str(path), "t")


# ------------------------------------------------------------------ a newline in a file name
def test_an_error_about_a_file_with_a_newline_in_its_name_is_one_line(gen, tmp_path, graphc_cli):
    odd = tmp_path / "a\nb.csv"
    write(odd, [["review", "label"], ["ok", "pos"]])
    with pytest.raises(gen["num"].DataError) as e:  # the script's error line
        gen["num"]._read_csv(str(odd), "t")
    assert "\n" not in str(e.value) and f"{repr(str(odd))[1:-1]} has no column 't'" in str(e.value)
    (tmp_path / "m.model").write_text(TEXT_MODEL.format(c=2, path="a\\nb.csv"), encoding="utf-8")
    proc = graphc_cli("check", "m.model", cwd=tmp_path)  # graphc check's diagnostic
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        "m.model:6:16: error: a\\nb.csv has no column 'sentiment' (its columns: 'review', 'label')"
        "  [data-mismatch]")


def test_csv_columns_are_checked_when_the_file_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = NUM_MODEL.format(path="n.csv", target="label")
    assert errors(src) == []  # not there yet: the script reports it when it runs
    path = write(tmp_path / "n.csv", [["a", "b", "c", "lab"], ["1", "2", "3", "0"]], bom=True)
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    assert errors(src) == [(6, f"n.csv has no column 'label' (its columns: {', '.join(map(repr, header))})",
                            'pass target="lab", naming its target column')]
    assert errors(NUM_MODEL.format(path="n.csv", target="lab")) == []
    write(path, [["a", "b", "c", "d", "lab"], ["1", "2", "3", "4", "0"]], bom=True)
    feats = len(by_csv_module(path)[0]) - 1  # 4
    assert errors(NUM_MODEL.format(path="n.csv", target="lab")) == [
        (6, f"n.csv has {feats} feature columns (every column but 'lab'), but input 'x' is (B, 3)",
         f"declare input x: [B, {feats}], or give the file its columns")]


@pytest.mark.parametrize("command", [("check",), ("fmt",), ("summary",)])
def test_graphc_reports_a_file_name_with_a_newline_on_one_line(tmp_path, graphc_cli, command):
    """The location of a diagnostic and graphc's own usage errors escape the name as repr() does."""
    odd = tmp_path / "no\nsuch.model"
    proc = graphc_cli(*command, str(odd), cwd=tmp_path)
    assert proc.returncode != 0
    first = (proc.stdout or proc.stderr).splitlines()[0]
    assert repr(str(odd))[1:-1] in first and first.count(repr(str(odd))[1:-1]) >= 1, first
    assert "such.model" in first  # the whole name on the first line
