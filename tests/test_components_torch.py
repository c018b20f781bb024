"""Every registered loss, optimizer, scheduler, data set and initializer against torch.

The registry drives the test: a new component is covered by its record (schema,
code, samples), nothing here.  For each one:

- its defaults and the order of its positional arguments are torch's, read with
  ``inspect.signature`` from the real callable (a default graphc chooses itself is
  declared in ``own_defaults`` with the reason);
- every sample is built from the code graphc emits and run in torch: a loss computed
  and backpropagated, an optimizer stepped, a scheduler stepped as the training script
  steps it, a data set loaded, an initializer applied;
- where graphc rejects a sample at check time, torch raises, and the other way round.
"""

import inspect
import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graphc.components import KINDS, registry  # noqa: E402
from graphc.components.datasets import Dataset, helper_code  # noqa: E402
from graphc.initializers import Init, _rank_error  # noqa: E402

ALL = [(kind, name, rec) for kind in KINDS for name, rec in registry(kind).items()]
WITH_TORCH = [(k, n, r) for k, n, r in ALL if r.torch_name is not None]


def _cases(kind):
    return [(name, i, s) for name, rec in registry(kind).items() for i, s in enumerate(rec.samples)]


def _resolve(dotted: str):
    obj = {"nn": nn, "torch": torch}[dotted.split(".")[0]]
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def _params(rec, values):
    return rec.Params.model_validate(dict(values))


def test_every_component_has_samples():
    assert not [f"{k} {n}" for k, n, r in ALL if not r.samples]


def test_every_component_but_data_sets_names_its_torch_callable():
    # a loss torch has no class for (KLDivNormal) names the torch function its samples are checked against
    assert not [f"{k} {n}" for k, n, r in ALL if r.torch_name is None and k != "data set"
                and not getattr(r, "reference", None)]


def test_samples_cover_every_parameter(tmp_path):
    """Each argument of each component is set by some sample (or, for a data set read from a
    file, by the arguments its ``write_sample`` gives)."""
    uncovered = []
    for kind, name, rec in ALL:
        given = {k for s in rec.samples for k in s.params}
        if kind == "data set" and type(rec).write_sample is not Dataset.write_sample:
            (tmp_path / name).mkdir()
            given |= set(rec.write_sample(tmp_path / name, 4, rec.samples[0].shape or (2,), 2))
        uncovered += [f"{kind} {name}.{f}" for f in rec.Params.model_fields if f not in given]
    assert not uncovered


@pytest.mark.parametrize("kind,name,rec", WITH_TORCH, ids=[f"{k}-{n}" for k, n, _ in WITH_TORCH])
def test_defaults_and_positional_order_are_torchs(kind, name, rec):
    sig = inspect.signature(_resolve(rec.torch_name))
    params = [p for p in sig.parameters.values() if p.name not in ("params", "optimizer", "tensor")]
    theirs = {p.name: p for p in params}
    for field, info in rec.Params.model_fields.items():
        assert field in theirs, f"{name} has {field!r}, which {rec.torch_name} does not take"
        p = theirs[field]
        if field in rec.own_defaults:
            continue
        if p.default is inspect.Parameter.empty:
            assert info.is_required(), f"{name}.{field}: torch requires it, graphc defaults to {info.default!r}"
        else:
            assert not info.is_required(), f"{name}.{field}: torch defaults to {p.default!r}, graphc requires it"
            assert info.default == p.default, f"{name}.{field}: graphc {info.default!r}, torch {p.default!r}"
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    fields = list(rec.Params.model_fields)
    n = 0
    while n < min(len(fields), len(positional)) and fields[n] == positional[n]:
        n += 1
    assert rec.signature().positional == tuple(fields[:n]), \
        f"{name}: torch's positional order is {positional}; graphc's positional slots must be its longest " \
        f"prefix that the schema follows, {fields[:n]}"


# ------------------------------------------------------------------ losses
def _loss_case(rec, shape):
    """The output, and targets made as the training script makes them (``targets_for``)."""
    torch.manual_seed(0)
    leaf = torch.randn(*shape, requires_grad=True)
    if rec.target == "class":
        if len(shape) < 2:
            return leaf, leaf, torch.randint(0, shape[0], (shape[0],))  # labels per sample of a 1-d output
        return leaf, leaf, torch.randint(0, shape[1], (shape[0], *shape[2:]))
    y = torch.randint(0, 2, (shape[0],)).float() if rec.target == "binary" else torch.randn(shape)
    out = torch.sigmoid(leaf) if rec.name == "BCELoss" else leaf  # BCELoss follows a Sigmoid
    return leaf, out, y.to(out.dtype).reshape(out.shape)


ONE_OUTPUT = [(n, i, s) for n, i, s in _cases("loss") if registry("loss")[n].outputs == 1]
SEVERAL_OUTPUTS = [(n, i, s) for n, i, s in _cases("loss") if registry("loss")[n].outputs > 1]


@pytest.mark.parametrize("name,i,sample", ONE_OUTPUT)
def test_loss_sample_in_torch(name, i, sample):
    rec = registry("loss")[name]
    p = _params(rec, sample.params)
    # built-in class data has a label per sample; labels per position come from a file
    task = "class" if rec.target == "class" and len(sample.shape) <= 2 else "file"
    classes = sample.shape[1] if rec.target == "class" and len(sample.shape) > 1 else None
    problems = rec.fits(sample.shape, "y", "data", task, classes)
    fn = eval(rec.code(p), {"nn": nn})
    if sample.rejects:
        assert problems, "graphc accepts a sample torch is expected to reject"
        with pytest.raises((RuntimeError, ValueError)):
            fn(*_loss_case(rec, sample.shape)[1:])
        return
    assert not problems
    leaf, out, y = _loss_case(rec, sample.shape)
    loss = fn(out, y)
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


ENDINGS = ["Sigmoid", "Tanh", "ReLU", "Softmax", "LogSoftmax", "Hardsigmoid", "Identity"]


@pytest.mark.parametrize("name,ending", [(n, e) for n, r in registry("loss").items() if r.outputs == 1
                                         for e in ENDINGS])
def test_loss_error_for_the_last_layer_exactly_where_torch_fails(name, ending):
    """An error a loss gives for the model's last layer (BCELoss after a layer whose values leave
    [0, 1]) is one torch certainly raises on; otherwise torch computes the loss."""
    from graphc.layers.base import LAYERS

    rec, layer = registry("loss")[name], LAYERS[ending]
    sample = next(s for s in rec.samples if not s.rejects)
    shape = (64,) if rec.target == "binary" else (64, *sample.shape[1:])  # a batch: some values of each sign
    _, _, y = _loss_case(rec, shape)
    torch.manual_seed(1)
    module = nn.Softmax(dim=-1) if ending == "Softmax" else nn.LogSoftmax(dim=-1) if ending == "LogSoftmax" \
        else getattr(nn, ending)()
    out = module(torch.randn(shape) * 3)
    problem = rec.last_layer(layer)
    fn = eval(rec.code(_params(rec, sample.params)), {"nn": nn})
    if problem and problem[0] == "loss-mismatch":
        with pytest.raises((RuntimeError, ValueError)):
            fn(out, y)
    else:
        assert math.isfinite(fn(out, y).item())


@pytest.mark.parametrize("name,i,sample", SEVERAL_OUTPUTS)
def test_loss_of_several_outputs_against_its_torch_reference(name, i, sample):
    """A loss of two outputs and no target (KLDivNormal(mu, logvar)): the emitted code, run in
    torch, equals its reference (torch.distributions.kl_divergence of the two Normals) under the
    sample's reduction, and backpropagates."""
    from torch.distributions import Normal, kl_divergence

    rec = registry("loss")[name]
    assert rec.reference == "torch.distributions.kl_divergence"
    p = _params(rec, sample.params)
    ns = {"nn": nn, "torch": torch}
    exec(rec.helper, ns)
    fn = eval(rec.code(p), ns)
    torch.manual_seed(i)
    mu = torch.randn(sample.shape, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(sample.shape, dtype=torch.float64, requires_grad=True)
    loss = fn(mu, logvar)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    want = {"batchmean": kl.sum() / sample.shape[0], "sum": kl.sum(), "mean": kl.mean()}[p.reduction]
    assert loss.dim() == 0
    torch.testing.assert_close(loss, want, rtol=1e-10, atol=1e-10)
    loss.backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all()
    assert rec.fits_outputs([(4, *sample.shape[1:])] * 2, ("mu", "logvar")) == []
    assert rec.fits_outputs([(4, 2), (4, 3)], ("mu", "logvar"))


# --------------------------------------------------------------- optimizers
def _model():
    torch.manual_seed(0)
    return nn.Linear(3, 2)


@pytest.mark.parametrize("name,i,sample", _cases("optimizer"))
def test_optimizer_sample_in_torch(name, i, sample):
    rec = registry("optimizer")[name]
    p = _params(rec, sample.params)
    model = _model()
    ns = {"torch": torch, "params": model.parameters(), "lr": p.lr}
    if sample.rejects:
        assert rec.problems(p)
        with pytest.raises(ValueError):
            eval(rec.code(p), ns)
        return
    assert not rec.problems(p)
    opt = eval(rec.code(p), ns)
    before = model.weight.detach().clone()
    model(torch.randn(4, 3)).pow(2).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight.detach())
    assert opt.param_groups[0]["lr"] == p.lr


# --------------------------------------------------------------- schedulers
def _scheduler(rec, p, opt, warmup=0):
    ns = {"torch": torch, "optimizer": opt, "epochs": 4, "steps_per_epoch": 3, "WARMUP_EPOCHS": warmup}
    return eval(rec.code(p), ns)


def _step(rec, sched, opt):
    """Step as the training script does; the learning rates each optimizer step used."""
    used = []
    for _ in range(4):
        for _ in range(3):
            used.append(opt.param_groups[0]["lr"])
            opt.step()
            if rec.step == "batch":
                sched.step()
        if rec.step == "epoch":
            sched.step()
        elif rec.step == "plateau":
            sched.step(1.0)
    return used


@pytest.mark.parametrize("name,i,sample", _cases("scheduler"))
def test_scheduler_sample_in_torch(name, i, sample):
    rec = registry("scheduler")[name]
    p = _params(rec, sample.params)
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    sched = _scheduler(rec, p, opt)
    used = _step(rec, sched, opt)
    assert all(math.isfinite(lr) and lr >= 0 for lr in used), used
    assert len(set(used)) > 1 or p == rec.Params(), f"{name} never changed the rate: {used}"


@pytest.mark.parametrize("name", list(registry("scheduler")))
def test_scheduler_follows_warmup_where_graphc_says(name):
    """The script chains a linear warmup and the scheduler with SequentialLR, stepped per epoch:
    a scheduler graphc lets follow a warmup must work there."""
    rec = registry("scheduler")[name]
    if not rec.after_warmup:
        assert rec.step != "epoch"  # stepped per batch or with a metric: SequentialLR cannot drive it
        return
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    main = _scheduler(rec, _params(rec, rec.samples[0].params), opt, warmup=1)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=1)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, main], milestones=[1])
    for _ in range(4):
        opt.step()
        seq.step()


@pytest.mark.parametrize("sname,oname", [(s, o) for s in registry("scheduler") for o in registry("optimizer")])
def test_scheduler_conflicts_with_an_optimizer_exactly_where_torch_raises(sname, oname):
    srec, orec = registry("scheduler")[sname], registry("optimizer")[oname]
    sp, op = _params(srec, srec.samples[0].params), _params(orec, {})
    opt = eval(orec.code(op), {"torch": torch, "params": _model().parameters(), "lr": op.lr})
    if srec.conflicts(sp, orec):
        with pytest.raises(ValueError):
            _scheduler(srec, sp, opt)
    else:
        _scheduler(srec, sp, opt)


# ---------------------------------------------------------------- data sets
class DataError(Exception):
    pass


@pytest.mark.parametrize("name,i,sample", _cases("data set"))
def test_data_set_sample_loads_through_its_code(name, i, sample, tmp_path):
    pytest.importorskip("sklearn")
    rec = registry("data set")[name]
    task = "tokens" if rec.ids and rec.task == "file" else "class" if rec.task in ("class", "file") else "regression"
    values = dict(sample.params)
    from_file = type(rec).write_sample is not Dataset.write_sample
    if from_file:
        values.update(rec.write_sample(tmp_path, 12, sample.shape, 3))
    p = _params(rec, values)
    src = "\n".join(["def load_data(seed):", *rec.load(p), "", "",
                     "def _split_or_val(x, y, seed):", "    return x, y", "", "",
                     "def _training_rows(n, seed):", "    return range(n)", "", "", *helper_code([rec], task)])
    from pathlib import Path

    ns = {"torch": torch, "Path": Path, "math": math, "DataError": DataError, "TASK": task, "DATA_INFO": {}}
    if rec.streams:  # its code reads samples through the script's streaming code, there whenever it streams
        from graphc.components.datasets_stream_code import STREAM_CODE

        ns.update(SAMPLE_INPUTS=(("x",),), SAMPLE_TARGETS=("y",), TUPLE_TARGETS=("y",), TARGET_VALUES={},
                  TERMS=None)
        exec(compile(STREAM_CODE, "<streaming>", "exec"), ns)
    exec(compile(src, f"<{name}>", "exec"), ns)
    x, y = ns["load_data"](0)
    assert x.dtype == (torch.long if rec.ids else torch.float32) and len(x) == len(y) > 0
    want = rec.sample_shape(p)
    assert tuple(x.shape[1:]) == (want if want is not None else sample.shape)
    if task == "tokens":  # the next character at every position
        assert y.dtype == torch.long and y.shape == x.shape and torch.equal(x[:, 1:], y[:, :-1])
    elif task == "class":
        assert y.dtype == torch.long and y.min() >= 0
        assert int(y.max()) + 1 == (rec.num_classes(p) or 3)
    else:
        assert y.dtype == torch.float32 and y.dim() == 1
    reader = rec.reader(p)
    assert (reader is None) == (not from_file) and (from_file or rec.task != "file")
    if reader is not None:  # as val_data
        xv, yv = eval(reader, ns)
        assert torch.equal(xv, x) and torch.equal(yv, y)


# ------------------------------------------------------------- initializers
@pytest.mark.parametrize("name,i,sample", _cases("initializer"))
def test_initializer_sample_in_torch(name, i, sample):
    rec = registry("initializer")[name]
    init = Init(name, _params(rec, sample.params))
    t = torch.full(sample.shape, float("nan"))
    problem = _rank_error(init, len(sample.shape), "the tensor")
    assert bool(problem) == sample.rejects
    if sample.rejects:
        with pytest.raises(ValueError):
            eval(init.call("t"), {"nn": nn, "t": t})
        return
    with torch.no_grad():
        eval(init.call("t"), {"nn": nn, "t": t})
    assert torch.isfinite(t).all()


@pytest.mark.parametrize("name", list(registry("initializer")))
def test_initializer_dims_are_torchs(name):
    """graphc's min_dims / exact_dims against torch, for tensors of 1 to 4 dims."""
    rec = registry("initializer")[name]
    init = Init(name, _params(rec, rec.samples[0].params))
    for rank in range(1, 5):
        t = torch.empty((3,) * rank)
        try:
            with torch.no_grad():
                eval(init.call("t"), {"nn": nn, "t": t})
            raised = False
        except ValueError:
            raised = True
        assert raised == bool(_rank_error(init, rank, "the tensor")), f"{name} on a {rank}-d tensor"
