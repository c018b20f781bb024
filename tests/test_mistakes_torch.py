"""False negatives of `graphc check` found by the whole-model differential run (issue 19), each
shown against real torch: the input dtype against the weights' dtype, in-place layers whose input
is read again, and initializer arguments torch refuses."""

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402


def codes(src: str) -> list[str]:
    return [d.code for d in compile_source(src, "t.model").errors]


def model(dtype: str, layer: str, shape: str = "B, 4, 6") -> str:
    return f"model M {{\n    input x: {dtype}[{shape}]\n    y = x -> {layer}\n    output y\n}}\n"


LAYERS = [("Linear(3)", lambda: torch.nn.Linear(6, 3)), ("Conv1d(2, 3)", lambda: torch.nn.Conv1d(4, 2, 3)),
          ("LayerNorm", lambda: torch.nn.LayerNorm(6)), ("BatchNorm1d", lambda: torch.nn.BatchNorm1d(4)),
          ("GroupNorm(2)", lambda: torch.nn.GroupNorm(2, 4)), ("PReLU", lambda: torch.nn.PReLU()),
          ("BatchNorm1d(affine=false)", lambda: torch.nn.BatchNorm1d(4, affine=False)),
          ("InstanceNorm1d(num_features=4)", lambda: torch.nn.InstanceNorm1d(4)),
          ("LSTM(3, batch_first=true, output=\"last\")", lambda: torch.nn.LSTM(6, 3, batch_first=True))]


@pytest.mark.parametrize("dtype", ["double", "half", "bfloat16", ""])
@pytest.mark.parametrize("layer,build", LAYERS, ids=[x for x, _ in LAYERS])
def test_an_input_dtype_is_accepted_exactly_when_torch_runs_the_float32_module_on_it(dtype, layer, build):
    x = torch.randn(2, 4, 6, dtype={"double": torch.float64, "half": torch.float16,
                                     "bfloat16": torch.bfloat16, "": torch.float32}[dtype])
    try:
        build()(x)
        runs = True
    except (RuntimeError, ValueError):
        runs = False
    got = codes(model(dtype, layer))
    assert got == ([] if runs else ["dtype"]), (layer, dtype)


def test_the_dtype_message_names_the_layer_and_the_fix():
    (d,) = compile_source(model("double", "Linear(3)"), "t.model").errors
    assert d.message == ("Linear: a float64 input into its float32 parameters, which torch refuses "
                         "(the generated module's tensors are float32)")
    assert "without a dtype" in d.hint and (d.span.line, d.span.col) == (3, 14)


INPLACE = "model M {\n    input x: [B, 4]\n    h = x -> Linear(4)\n%s    output y\n}\n"


def _run(src: str):
    """The generated module on a fixed input: (output, the input after the call, grads ok)."""
    m = compile_source(src, "t.model").to_module()
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    x0 = x.clone()
    y = m(x)
    try:
        y.sum().backward()
        backward = True
    except RuntimeError:
        backward = False
    return y, x0, x, m, backward


def test_an_inplace_layer_whose_input_is_added_afterwards_is_refused_as_torch_computes_another_model():
    src = INPLACE % "    t = h -> ReLU(inplace=true)\n    y = add(t, h)\n"
    (d,) = compile_source(src, "t.model").errors
    assert d.code == "inplace-overwrite" and (d.span.line, d.span.col) == (4, 14)
    assert "overwrites 'h', which add (line 5) reads afterwards" in d.message
    # what torch computes with the generated module: relu(h) + relu(h), not relu(h) + h
    ok = src.replace("(inplace=true)", "")
    assert codes(ok) == []
    m = compile_source(ok, "t.model").to_module()
    x = torch.randn(3, 4)
    h = m.linear(x)
    assert torch.allclose(m(x), torch.relu(h) + h)
    torch.nn.ReLU(inplace=True)(h2 := h.detach().clone())
    assert torch.allclose(torch.relu(h2) + h2, 2 * torch.relu(h))  # the in-place version


def test_an_inplace_layer_on_an_input_read_first_breaks_backward_in_torch():
    src = "model M {\n    input x: [B, 4]\n    h = x -> Linear(4)\n    z = x -> ReLU(inplace=true)\n" \
          "    y = add(h, z)\n    output y\n}\n"
    (d,) = compile_source(src, "t.model").errors
    assert "which Linear (line 3) reads first" in d.message
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    y = lin(x) + torch.relu_(x)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_an_inplace_layer_inside_a_block_names_the_reader_outside():
    src = ("block Act() {\n    input x\n    y = x -> ReLU(inplace=true)\n    output y\n}\n"
           "model M {\n    input x: [B, 4]\n    h = x -> Linear(4)\n    t = h -> Act\n    y = add(t, h)\n"
           "    output y\n}\n")
    (d,) = compile_source(src, "t.model").errors
    assert d.span.line == 3 and "overwrites 'h', which add (line 10) reads afterwards" in d.message
    assert d.message.endswith("(in act, the Act at line 9)")


def test_an_inplace_layer_on_the_models_input_or_an_output_is_refused():
    on_input = "model M {\n    input x: [B, 4]\n    y = x -> ReLU(inplace=true)\n    output y\n}\n"
    (d,) = compile_source(on_input, "t.model").errors
    assert "the model's input: the caller's tensor would change" in d.message
    x = torch.randn(2, 4)
    x0 = x.clone()
    torch.nn.ReLU(inplace=True)(x)
    assert not torch.equal(x, x0)  # torch does change it
    at_output = INPLACE % "    y = h -> ReLU(inplace=true)\n    output h\n"
    assert "which is also output 'h'" in compile_source(at_output, "t.model").errors[0].message


def test_inplace_where_nothing_else_reads_is_accepted_and_runs():
    src = INPLACE % "    y = h -> ReLU(inplace=true) -> Linear(2) -> Dropout(0.5, inplace=true)\n"
    assert codes(src) == []
    y, x0, x, _, backward = _run(src)
    assert backward and torch.equal(x, x0) and y.shape == (3, 2)


@pytest.mark.parametrize("init,rejects", [("uniform(a=2, b=1)", True), ("uniform(a=1, b=1)", False),
                                          ("uniform(a=-1, b=1)", False), ("trunc_normal(a=2, b=-2)", True),
                                          ("trunc_normal(a=-1, b=1)", False)])
def test_initializer_bounds_are_refused_exactly_when_torch_refuses_them(init, rejects):
    src = f"model M {{\n    input x: [B, 4]\n    y = x -> Linear(3, weight_init={init})\n    output y\n}}\n"
    name, args = init.split("(")
    kw = dict(kv.split("=") for kv in args.rstrip(")").split(", "))
    try:
        getattr(torch.nn.init, name + "_")(torch.empty(3, 4), **{k: float(v) for k, v in kw.items()})
        torch_rejects = False
    except RuntimeError:
        torch_rejects = True
    assert torch_rejects == rejects
    got = compile_source(src, "t.model").errors
    assert [d.code for d in got] == (["invalid-argument"] if rejects else [])
    if rejects:
        assert got[0].message.endswith("a is above b, which torch refuses") or "no value lies" in got[0].message
        assert got[0].hint.startswith("swap them")


def _inplace_on_output_fails_backward(kind, layer, sample):
    """Whether torch's backward fails after an in-place ReLU on this layer's output."""
    import warnings

    from graphc.layers.base import TensorType
    from tests.fuzz.harness import TRAINING, flatten, instantiate

    p = layer.Params.model_validate(sample.params)
    if getattr(p, "inplace", False):
        p = p.model_copy(update={"inplace": False})
    ins = [TensorType(tuple(sample.inputs[0]), "float32")]
    layer.infer(p, ins)
    ctor = layer.ctor(p, ins)
    if "inplace" in ctor:
        ctor = dict(ctor, inplace=False)
    w = torch.randn(sample.inputs[0][-1], requires_grad=True)
    x = torch.randn(sample.inputs[0]) * w  # a gradient flows through x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if layer.torch_name is None:
            out = eval(layer.forward(p, None, ["t0"]), {"torch": torch, "self": TRAINING}, {"t0": x})
        else:
            m = instantiate(layer.torch_name, ctor)
            out = eval(layer.forward(p, "module", ["t0"]), {"torch": torch, "module": m}, {"t0": x})
    o = flatten(out)[0]
    if not o.is_floating_point() or not o.requires_grad:
        return None
    try:
        torch.relu_(o).sum().backward()
        return False
    except RuntimeError as e:
        assert "inplace" in str(e)
        return True


def test_the_layers_whose_backward_needs_their_output_are_torchs():
    """SAVES_OUTPUT is measured: every one-input layer with a float sample, an in-place ReLU on its
    output, and backward (views, whose in-place change reaches their input, are left out)."""
    from graphc.layers.base import load_all
    from graphc.lower.inplace import SAVES_OUTPUT, VIEWS

    found = set()
    for kind, layer in sorted(load_all().items()):
        if layer.n_inputs[0] != 1 or kind in VIEWS:
            continue
        s = next((s for s in layer.samples if len(s.inputs) == 1 and s.dtypes()[0] == "float32"), None)
        if s is not None and _inplace_on_output_fails_backward(kind, layer, s):
            found.add(kind)
    assert found == SAVES_OUTPUT


@pytest.mark.parametrize("chain,error", [
    ("Linear(4) -> Sigmoid -> ReLU(inplace=true)", "Sigmoid (line 3) keeps its output for backward"),
    ("Linear(4) -> Softmax(dim=1) -> transpose(0, 1) -> Dropout(0.5, inplace=true)", "Softmax (line 3) keeps"),
    ("Linear(4) -> ReLU(inplace=true) -> ReLU(inplace=true)", "ReLU (line 3) keeps"),
    ("Linear(4) -> Sigmoid -> Dropout(0.0, inplace=true)", None),  # p=0: torch changes nothing
    ("Sigmoid -> ReLU(inplace=true) -> Linear(4)", None),  # no gradient reaches the Sigmoid
    ("Linear(4) -> Tanh -> Linear(4) -> ReLU(inplace=true)", None),
])
def test_an_inplace_layer_on_an_output_backward_needs_is_refused_exactly_when_backward_fails(chain, error):
    src = f"model M {{\n    input x: [B, 4]\n    y = x -> {chain}\n    output y\n}}\n"
    errs = compile_source(src, "t.model").errors
    assert [d.code for d in errs] == (["inplace-overwrite"] if error else [])
    if error:
        assert error in errs[0].message
    m = compile_source(src.replace("inplace=true", "inplace=false"), "t.model").to_module()
    for mod in m.modules():  # the model as written, in place, in torch
        if hasattr(mod, "inplace"):
            mod.inplace = True
    if not any(p.requires_grad for p in m.parameters()) or "Sigmoid -> ReLU(inplace=true) -> Linear" in chain:
        y = m(torch.randn(3, 4))
        y.sum().backward()
        assert error is None
        return
    y = m(torch.randn(3, 4))
    if error:
        with pytest.raises(RuntimeError, match="inplace"):
            y.sum().backward()
    else:
        y.sum().backward()


def test_an_inplace_layer_on_a_piece_of_chunk_is_refused_as_torch_refuses_it():
    src = ("model M {\n    input x: [B, 4]\n    h = x -> Linear(4)\n    a, b = h -> chunk(2, dim=1)\n"
           "    y = a -> ReLU(inplace=true)\n    output y\n}\n")
    (d,) = compile_source(src, "t.model").errors
    assert "a piece of chunk (line 4)" in d.message
    a, _ = torch.chunk(torch.nn.Linear(4, 4)(torch.randn(2, 4)), 2, dim=1)
    with pytest.raises(RuntimeError, match="is a view and is being modified inplace"):
        torch.relu_(a)


def test_an_inplace_layer_on_a_view_of_a_value_read_again_is_refused():
    src = ("model M {\n    input x: [B, 4, 3]\n    h = x -> Linear(3)\n    t = h -> transpose(1, 2) -> ReLU(inplace=true)\n"
           "    u = h -> transpose(1, 2)\n    y = add(t, u)\n    output y\n}\n")
    errs = compile_source(src, "t.model").errors
    assert [d.code for d in errs] == ["inplace-overwrite"]
    assert "overwrites 'h' (through the view transpose makes of it)" in errs[0].message
    h = torch.randn(2, 4, 3)
    before = h.clone()
    torch.relu_(h.transpose(1, 2))
    assert not torch.equal(h, before)  # the view's change is h's


def test_dropout_is_its_input_in_eval_mode_so_an_inplace_layer_after_it_overwrites_that():
    src = ("model M {\n    input x: [B, 4]\n    h = x -> Linear(4)\n    t = h -> Dropout(0.5) -> ReLU(inplace=true)\n"
           "    y = add(t, h)\n    output y\n}\n")
    (d,) = compile_source(src, "t.model").errors
    assert d.message.endswith("(in eval mode, where Dropout passes its input through as it is)")
    drop = torch.nn.Dropout(0.5).eval()
    h = torch.randn(2, 4)
    assert drop(h) is h  # so ReLU(inplace=True) after it changes h, and add(t, h) reads relu(h)
    assert torch.nn.Dropout(0.0).train()(h) is h  # Dropout(0.0) in training too


def test_dropout_zero_between_sigmoid_and_an_inplace_layer_still_breaks_backward():
    src = "model M {\n    input x: [B, 4]\n    y = x -> Linear(4) -> Sigmoid -> Dropout(0.0) -> ReLU(inplace=true)\n    output y\n}\n"
    (d,) = compile_source(src, "t.model").errors
    assert "Sigmoid (line 3) keeps its output for backward" in d.message
    y = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sigmoid(), torch.nn.Dropout(0.0),
                            torch.nn.ReLU(inplace=True))(torch.randn(2, 4))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("n", [5, 7, 8, 9])
def test_positions_into_a_too_small_embedding_is_refused_exactly_when_torch_raises(n):
    src = f"model M {{\n    input x: [B, 8, 4]\n    p = x -> positions -> Embedding({n}, 4)\n    y = add(x, p)\n    output y\n}}\n"
    errs = compile_source(src, "t.model").errors
    ids = torch.arange(8).expand(2, -1)  # what positions gives for T = 8
    try:
        torch.nn.Embedding(n, 4)(ids)
        runs = True
    except IndexError:
        runs = False
    assert [d.code for d in errs] == ([] if runs else ["shape-mismatch"])
    if not runs:
        assert f"positions gives ids 0..7 (a sequence of 8), but num_embeddings is {n}" in errs[0].message
        assert errs[0].hint == "give it num_embeddings=8 or more (the longest sequence)"


@pytest.mark.parametrize("dtype", ["half", "bfloat16", ""])
@pytest.mark.parametrize("init", ["constant(70000)", "constant(65504)", "constant(-1e39)", "uniform(a=0, b=70000)",
                                  "uniform(a=-1e39, b=0)", "constant(1e38)"])
def test_a_params_initial_values_are_refused_exactly_when_torch_cannot_hold_them(init, dtype):
    src = f"model M {{\n    input x: [B, 4]\n    param w: {dtype}[4] = {init}\n    y = x * w\n    output y\n}}\n"
    name, args = init.split("(")
    values = [float(v.split("=")[-1]) for v in args.rstrip(")").split(", ")]
    t = torch.empty(4, dtype={"half": torch.float16, "bfloat16": torch.bfloat16, "": torch.float32}[dtype])
    try:
        getattr(torch.nn.init, name + "_")(t, *values)
        runs = True
    except RuntimeError:
        runs = False
    errs = compile_source(src, "t.model").errors
    assert [d.code for d in errs] == ([] if runs else ["invalid-argument"]), (init, dtype)
    if not runs:
        assert "is beyond the largest" in errs[0].message and "torch refuses" in errs[0].message
