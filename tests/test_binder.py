"""One argument binder (graphc.binder) for every call site: the same mistake gets the same code,
the same words and a span at the mistake, whether the call is a layer, a block, an initializer
(``weight_init=`` or the ``init`` section), a loss, an optimizer, a scheduler, a data set or a
train setting."""

import pytest

from graphc.api import compile_source

MODEL = "model M {{\n    input x: [B, 4]\n    y = x -> {call}\n    output y\n}}\n"
BLOCK = ("block A(c, kernel=1) {{\n    input t\n    u = t -> Linear(c)\n    output u\n}}\n"
         "model M {{\n    input x: [B, 4]\n    y = x -> {call}\n    output y\n}}\n")
WEIGHT_INIT = "model M {{\n    input x: [B, 4]\n    y = x -> Linear(3, weight_init={call})\n    output y\n}}\n"
INIT_SECTION = ("model M {{\n    input x: [B, 4]\n    y = x -> Linear(3)\n    output y\n"
                "    init {{\n        Linear = {call}\n    }}\n}}\n")


def train(key: str) -> str:
    others = {"data": "digits()", "loss": "CrossEntropyLoss()", "optimizer": "SGD(lr=0.1)",
              "scheduler": "StepLR(2)"}
    lines = [f"        {k} = {{call}}" if k == key else f"        {k} = {v}" for k, v in others.items()]
    return ("model M {{\n    input image: [B, 1, 8, 8]\n    y = image -> Flatten -> Linear(10)\n"
            "    output y\n    train {{\n" + "\n".join(lines) + "\n    }}\n}}\n")


SITES = {"layer": MODEL, "block": BLOCK, "weight_init": WEIGHT_INIT, "init_section": INIT_SECTION,
         "loss": train("loss"), "optimizer": train("optimizer"), "scheduler": train("scheduler"),
         "data": train("data")}


def twice(site: str, call: str, key: str, first: str = "positional argument 1 at column {c0} is '{key}'",
          label: str | None = None, noun: str = "argument") -> tuple:
    """A duplicate: the diagnostic is at the second ``key=``, and names where the first one is."""
    label = label or call[:call.index("(")]
    anchor = call[call.rindex(f"{key}="):].rstrip(")")
    return (site, call, anchor, "duplicate-argument",
            f"{label} gets {noun} '{key}' twice ({first.format(key=key, c0='{c0}', c1='{c1}')})",
            "remove one of them")


# site, call, the text the diagnostic starts at, code, message, hint
CASES = [
    # the same name by position and by keyword
    twice("layer", "Dropout(0.5, p=0.1)", "p"),
    twice("block", "A(3, c=4)", "c", "positional parameter 1 at column {c0} is '{key}'", "block A", "parameter"),
    twice("weight_init", "normal(0.0, mean=1.0)", "mean"),
    twice("init_section", "normal(0.0, mean=1.0)", "mean"),
    twice("loss", 'HuberLoss("sum", reduction="mean")', "reduction"),
    twice("optimizer", "SGD(0.1, lr=0.5)", "lr"),
    twice("scheduler", "StepLR(2, step_size=3)", "step_size"),
    twice("data", "digits(true, flatten=false)", "flatten"),
    # the same keyword twice
    twice("layer", "Linear(3, bias=true, bias=false)", "bias", "the first at column {c1}"),
    twice("optimizer", "SGD(lr=0.1, lr=0.5)", "lr", "the first at column {c0}"),
    twice("weight_init", "normal(std=0.1, std=0.2)", "std", "the first at column {c0}"),
    # an unknown keyword, with a did-you-mean
    ("layer", "Linear(3, bais=false)", "bais", "unknown-argument", "Linear has no argument 'bais'",
     "did you mean 'bias'?"),
    ("block", "A(3, kernal=2)", "kernal", "unknown-argument", "block A has no parameter 'kernal'",
     "did you mean 'kernel'?"),
    ("weight_init", "normal(stdev=0.1)", "stdev", "unknown-argument", "normal has no argument 'stdev'",
     "did you mean 'std'?"),
    ("init_section", "kaiming_normal(mdoe=\"fan_out\")", "mdoe", "unknown-argument",
     "kaiming_normal has no argument 'mdoe'", "did you mean 'mode'?"),
    ("loss", "CrossEntropyLoss(label_smothing=0.1)", "label_smothing", "unknown-argument",
     "CrossEntropyLoss has no argument 'label_smothing'", "did you mean 'label_smoothing'?"),
    ("optimizer", "SGD(lr=0.1, momentun=0.9)", "momentun", "unknown-argument", "SGD has no argument 'momentun'",
     "did you mean 'momentum'?"),
    ("scheduler", "StepLR(2, gama=0.5)", "gama", "unknown-argument", "StepLR has no argument 'gama'",
     "did you mean 'gamma'?"),
    ("data", "digits(flaten=true)", "flaten", "unknown-argument", "digits has no argument 'flaten'",
     "did you mean 'flatten'?"),
    ("weight_init", "zeros(val=1.0)", "val", "unknown-argument", "zeros has no argument 'val'",
     "zeros takes no arguments"),
    # too many positional arguments: one diagnostic under the extra ones
    ("layer", "Dropout(0.5, false, 1)", "false, 1", "too-many-arguments",
     "Dropout takes 1 positional argument (p), got 3", "pass the others by keyword, e.g. name=value"),
    # past PyTorch's order too (Linear(3, 4) is Linear(in_features=3, out_features=4) there)
    ("layer", "Linear(4, 3, true, 5)", "5", "too-many-arguments",
     "Linear takes 1 positional argument (out_features), or 3 in PyTorch's order (in_features, "
     "out_features, bias), got 4", None),
    ("block", "A(3, 1, 2)", "2", "too-many-arguments", "block A takes 2 positional parameters (c, kernel), got 3", None),
    ("weight_init", "normal(0.0, 1.0, 2.0)", "2.0", "too-many-arguments",
     "normal takes 2 positional arguments (mean, std), got 3", None),
    ("init_section", "constant(1.0, 2.0)", "2.0", "too-many-arguments",
     "constant takes 1 positional argument (val), got 2", None),
    ("loss", "HuberLoss(\"mean\", 1.0, 2)", "2", "too-many-arguments",
     "HuberLoss takes 2 positional arguments (reduction, delta), got 3", None),
    ("loss", "MSELoss(\"mean\")", "\"mean\"", "too-many-arguments",  # torch's first is size_average
     "MSELoss takes no positional arguments, got 1", "pass the others by keyword, e.g. name=value"),
    ("optimizer", "SGD(0.1, 0.9, 0.0, 0.0, false, 1)", "1", "too-many-arguments",
     "SGD takes 5 positional arguments (lr, momentum, dampening, weight_decay, nesterov), got 6", None),
    ("scheduler", "StepLR(2, 0.5, 1)", "1", "too-many-arguments",
     "StepLR takes 2 positional arguments (step_size, gamma), got 3", None),
    ("data", "digits(true, 1)", "1", "too-many-arguments", "digits takes 1 positional argument (flatten), got 2",
     None),
    # a required argument missing: reported at the call
    ("layer", "Linear(bias=false)", "Linear(", "missing-argument", "Linear needs 'out_features'",
     "e.g. Linear(out_features=...)"),
    ("block", "A(kernel=2)", "A(", "missing-argument", "block A needs 'c'", "e.g. A(c=...)"),
    ("weight_init", "constant()", "constant(", "missing-argument", "constant needs 'val'", "e.g. constant(val=...)"),
    ("init_section", "constant", "constant", "missing-argument", "constant needs 'val'", "e.g. constant(val=...)"),
    ("scheduler", "StepLR(gamma=0.5)", "StepLR(", "missing-argument", "StepLR needs 'step_size'",
     "e.g. StepLR(step_size=...)"),
    ("data", "csv()", "csv(", "missing-argument", "csv needs 'path'", "e.g. csv(path=...)"),
    # a value the schema rejects: at the value, with the expected type
    ("layer", "Linear(0)", "0)", "invalid-argument", "Linear out_features=0: must be greater than 0",
     "expected int > 0"),
    ("weight_init", "normal(std=-1.0)", "-1.0", "invalid-argument", "normal std=-1.0: must be at least 0.0",
     "expected number >= 0"),
    ("init_section", "kaiming_normal(mode=\"in\")", '"in"', "invalid-argument",
     'kaiming_normal mode="in": must be one of "fan_in" or "fan_out"', 'expected "fan_in" or "fan_out"'),
    ("loss", "CrossEntropyLoss(label_smoothing=2.0)", "2.0", "invalid-argument",
     "CrossEntropyLoss label_smoothing=2.0: must be at most 1.0", "expected number in [0, 1]"),
    ("optimizer", "SGD(lr=-1.0)", "-1.0", "invalid-argument", "SGD lr=-1.0: must be greater than 0.0",
     "expected number > 0"),
    ("scheduler", "StepLR(2.0)", "2.0", "invalid-argument", "StepLR step_size=2.0: must be an integer", "write 2"),
    ("data", "digits(flatten=1)", "1", "invalid-argument", "digits flatten=1: must be true or false",
     "expected true or false"),
]


def where(src: str, call: str, anchor: str) -> tuple[int, int, list[int]]:
    """line and column of ``anchor`` inside ``call`` in ``src``, and each argument's column."""
    for n, line in enumerate(src.splitlines(), 1):
        if call in line:
            start = line.index(call)
            inner = start + call.index("(") + 1 if "(" in call else start
            cols, depth, col = [inner + 1], 0, inner
            for ch in call[call.index("(") + 1:] if "(" in call else "":
                col += 1
                if ch in "([":
                    depth += 1
                elif ch in ")]":
                    depth -= 1
                elif ch == "," and depth == 0:
                    cols.append(col + 2)
            return n, start + call.rindex(anchor) + 1 if anchor != call[:len(anchor)] else start + 1, cols
    raise AssertionError(call)


@pytest.mark.parametrize("site,call,anchor,code,message,hint", CASES,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_each_mistake_at_each_call_site(site, call, anchor, code, message, hint):
    src = SITES[site].format(call=call)
    line, col, args = where(src, call, anchor)
    diags = [d for d in compile_source(src, "t.model").diagnostics if d.severity == "error"]
    got = [(d.span.line, d.span.col, d.code, d.message, d.hint) for d in diags]
    message = message.format(**{f"c{i}": c for i, c in enumerate(args)})
    assert got == [(line, col, code, message, hint)]


def test_too_many_positional_spans_every_extra_argument():
    src = MODEL.format(call="Dropout(0.5, false, 1)")
    (d,) = compile_source(src, "t.model").diagnostics
    assert (d.span.line, d.span.col, d.span.end_line, d.span.end_col) == (3, 27, 3, 35)


def test_misspelt_required_keyword_is_not_also_missing():
    """``StepLR(step_sise=2)``: the did-you-mean says it all; no second 'needs step_size'."""
    src = train("scheduler").format(call="StepLR(step_sise=2)")
    got = [(d.code, d.hint) for d in compile_source(src, "t.model").diagnostics]
    assert got == [("unknown-argument", "did you mean 'step_size'?")]


def test_every_independent_mistake_in_one_call_is_reported():
    """An unknown keyword does not hide a duplicate, nor a wrong value the missing one."""
    src = train("optimizer").format(call="SGD(0.1, lr=0.5, momentun=0.9)")
    assert sorted(d.code for d in compile_source(src, "t.model").diagnostics) == \
        ["duplicate-argument", "unknown-argument"]
    src = train("scheduler").format(call="MultiStepLR(gamma=-1.0)")
    assert sorted(d.code for d in compile_source(src, "t.model").diagnostics) == \
        ["invalid-argument", "missing-argument"]


def test_train_settings_share_the_value_messages():
    src = train("data").format(call="digits()").replace("        data =", "        epochs = 0\n        data =")
    (d,) = compile_source(src, "t.model").diagnostics
    assert (d.span.line, d.span.col, d.code, d.message, d.hint) == \
        (6, 18, "invalid-argument", "train epochs=0: must be greater than 0", "expected int > 0")


def test_an_error_in_a_value_is_reported_once():
    src = train("optimizer").format(call="SGD(lr=nope)")
    assert [d.code for d in compile_source(src, "t.model").diagnostics] == ["undefined-name"]
    src = WEIGHT_INIT.format(call="normal(std=nope)")
    assert [d.code for d in compile_source(src, "t.model").diagnostics] == ["undefined-name"]


def test_valid_calls_bind_every_value():
    """Positional and keyword values reach the generated code at every site."""
    src = ("model M {\n    input image: [B, 64]\n    y = image -> Linear(10, "
           "weight_init=normal(0.5, std=2))\n    output y\n    init {\n        bias = constant(3)\n    }\n"
           "    train {\n        data = digits(true)\n        loss = CrossEntropyLoss(reduction=\"sum\", label_smoothing=0.1)\n"
           "        optimizer = SGD(0.2, 0.9)\n        scheduler = StepLR(3, gamma=0.5)\n    }\n}\n")
    comp = compile_source(src, "t.model")
    assert not comp.diagnostics
    prog = comp.program
    (fc,) = [n for n in prog.nodes.values() if n.kind == "Linear"]
    init, _ = fc.inits["weight"]
    assert (init.params.mean, init.params.std) == (0.5, 2.0) and isinstance(init.params.std, float)
    assert prog.init_rules["bias"][0].params.val == 3.0
    t = prog.training
    assert t.data.params.flatten is True
    assert (t.loss.params.reduction, t.loss.params.label_smoothing) == ("sum", 0.1)
    assert (t.optimizer.params.lr, t.optimizer.params.momentum) == (0.2, 0.9)
    assert (t.scheduler.params.step_size, t.scheduler.params.gamma) == (3, 0.5)
