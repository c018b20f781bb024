"""One run of `graphc check` reports every independent mistake (issue 19): the later steps of a
chain after one that failed, each bad value of a call that also has an unknown argument, and the
use of a block an error inside it came from."""

from graphc.api import compile_source


def errors(src: str) -> list[tuple[int, int, str, str]]:
    return [(d.span.line, d.span.col, d.code, d.message) for d in compile_source(src, "t.model").errors]


def test_five_typos_in_one_chain_are_five_errors_in_one_run():
    src = ("model M {\n    input x: [B, 3, 16]\n"
           "    y = x -> Linr(4) -> Conv1d(4, 1, strde=2) -> RLU -> Conv1d(8, 3, paddin=1) -> Flaten\n"
           "    output y\n}\n")
    got = errors(src)
    assert [(c, m.split("'")[1]) for _, _, c, m in got] == [
        ("unknown-layer", "Linr"), ("unknown-argument", "strde"), ("unknown-layer", "RLU"),
        ("unknown-argument", "paddin"), ("unknown-layer", "Flaten")]
    assert [col for _, col, _, _ in got] == [14, 38, 50, 70, 83]


def test_steps_after_a_failed_one_are_not_shape_checked():
    """Conv1d(4, 1) after an unknown layer would need its input's shape: nothing is said of it,
    nor of the Linear whose in_features would not fit an unknown input."""
    src = ("model M {\n    input x: [B, 3, 16]\n"
           "    y = x -> Linr(4) -> Conv1d(4, 1) -> Linear(10, in_features=999)\n    output y\n}\n")
    assert [c for _, _, c, _ in errors(src)] == ["unknown-layer"]


def test_an_undefined_source_still_has_its_steps_checked():
    src = "model M {\n    input x: [B, 4]\n    y = xx -> Linear(3, bais=false)\n    output y\n}\n"
    assert [c for _, _, c, _ in errors(src)] == ["undefined-name", "unknown-argument"]


def test_an_unknown_argument_does_not_hide_bad_values_in_the_same_call():
    src = ("model M {\n    input image: [B, 1, 8, 8]\n    y = image -> Flatten -> Linear(10)\n    output y\n"
           "    train {\n        data = digits()\n        loss = CrossEntropyLoss()\n"
           "        optimizer = AdamW(lr=-3e-3, weight_decay=-1e-4, betaz=3)\n        epochs = 0\n"
           "        epoch = 3\n    }\n}\n")
    got = [(line, c, m.split(":")[0]) for line, _, c, m in errors(src)]
    assert got == [(8, "invalid-argument", "AdamW lr=-0.003"), (8, "invalid-argument", "AdamW weight_decay=-0.0001"),
                   (8, "unknown-argument", "AdamW has no argument 'betaz'"),
                   (9, "invalid-argument", "train epochs=0"),
                   (10, "unknown-argument", "the training section has no setting 'epoch'")]


def test_an_error_inside_a_block_names_the_use():
    src = ("block Basic(c, s) {\n    input x\n    y = x -> Conv2d(c, 3, stride=s, padding=1) -> BatchNorm2d\n"
           "    z = add(y, x)\n    output z\n}\n\nmodel M {\n    input x: [B, 16, 32, 32]\n"
           "    a = x -> Basic(16, 1)\n    b = a -> layer2: Basic(32, 2)\n    c = x -> Basic(16, 1)\n"
           "    d = c -> Basic(32, 1)\n    output b, d\n}\n")
    got = errors(src)
    assert [(line, c) for line, _, c, _ in got] == [(4, "shape-mismatch"), (4, "shape-mismatch")]
    assert got[0][3].endswith("(in layer2, the Basic at line 11)")
    assert got[1][3].endswith("(in basic_2, the Basic at line 13)")
