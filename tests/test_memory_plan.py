"""graphc summary --world-size/--strategy/--precision/--gpu-memory: the per-rank memory plan.
Parameters, gradients and optimizer state are compared exactly with torch's tensors after one
training step (one process); the FSDP shard arithmetic and the fit check are checked as stated."""

import json

import pytest
from conftest import MODELS, run_graphc

torch = pytest.importorskip("torch")

from graphc.api import compile, compile_source  # noqa: E402
from graphc.components.base import registry  # noqa: E402
from graphc.memory import parse_size, plan  # noqa: E402
from graphc.training import Choice  # noqa: E402


def _bytes(tensors) -> int:
    seen = {}
    for t in tensors:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


@pytest.mark.parametrize("stem,opt,params", [
    ("digits", "AdamW", {}), ("gpt", "AdamW", {"amsgrad": True}), ("lenet", "SGD", {"momentum": 0.9}),
    ("lenet", "SGD", {}), ("siamese", "RMSprop", {"momentum": 0.9, "centered": True}), ("lenet", "NAdam", {}),
    ("lenet", "Adagrad", {}), ("lenet", "Adam", {}),
])
def test_params_grads_and_optimizer_state_are_torchs(stem, opt, params):
    comp = compile(MODELS / f"{stem}.model")
    rec = registry("optimizer")[opt]
    p = plan(comp.program, comp.summary(2), batch_size=2, optimizer=Choice(rec, rec.Params(**params)))
    m = comp.to_module().train()
    ns = {}
    exec(comp.python_source(), ns)  # noqa: S102 - the generated module
    out = m(*ns["example_inputs"](2))
    (out[0] if isinstance(out, tuple) else out).float().square().mean().backward()
    o = getattr(torch.optim, opt)(m.parameters(), lr=1e-3, **params)
    o.step()
    assert p.params == _bytes(m.parameters())  # a tied tensor once
    assert p.grads == _bytes(q.grad for q in m.parameters() if q.grad is not None)
    state = [t for s in o.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    assert p.optimizer == sum(t.numel() * t.element_size() for t in state)


def test_fsdp_shards_and_gathers_the_largest_unit():
    comp = compile(MODELS / "resnet18.model")
    s = comp.summary(8)
    ddp = plan(comp.program, s, world_size=4, strategy="ddp", batch_size=8)
    fsdp = plan(comp.program, s, world_size=4, strategy="fsdp", precision="bf16", batch_size=8)
    blocks = [f"layer{k}.{i}" for k in range(1, 5) for i in (0, 1)]  # the FSDP units: block instances
    largest = max(sum(n.n_params or 0 for n in comp.program.nodes.values() if n.id.startswith(f"{b}."))
                  for b in blocks)
    assert ddp.params == 11_689_512 * 4 and ddp.optimizer == 2 * 11_689_512 * 4 + 4 * 62
    assert fsdp.params == -(-11_689_512 * 4 // 4) + largest * 2
    assert fsdp.optimizer == -(-ddp.optimizer // 4)
    assert fsdp.activations * 2 == ddp.activations


def test_the_cli_plan_in_text_and_json_and_the_fit_check(tmp_path):
    proc = run_graphc("summary", MODELS / "resnet50.model", "--batch-size", "256", "--gpu-memory", "16GB")
    assert proc.returncode == 1 and "DOES NOT FIT in 16.00 GB" in proc.stdout
    proc = run_graphc("summary", MODELS / "resnet50.model", "--world-size", "8", "--strategy", "fsdp",
                      "--precision", "bf16", "--batch-size", "64", "--gpu-memory", "80GB", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    mem = json.loads(proc.stdout)["memory"]
    assert set(mem) >= {"params", "grads", "optimizer", "activations", "total"}
    assert mem["total"] == mem["params"] + mem["grads"] + mem["optimizer"] + mem["activations"]
    bad = run_graphc("summary", MODELS / "lenet.model", "--gpu-memory", "lots")
    assert bad.returncode == 2 and "cannot read a memory size" in bad.stderr


def test_sizes_read_as_gpus_are_sold():
    assert parse_size("80GB") == 80 << 30 and parse_size("512 MiB") == 512 << 20 and parse_size("1e9") == 10**9
    with pytest.raises(ValueError):
        parse_size("80 parsecs")


def test_the_train_sections_optimizer_is_the_default():
    src = (MODELS / "digits.model").read_text()
    comp = compile_source(src.replace("AdamW(", "SGD(momentum=0.9, ").replace("SGD(momentum=0.9, )", "SGD(momentum=0.9)")
                          if "AdamW(" in src else src)
    p = plan(comp.program, comp.summary(1))
    assert p.optimizer_name == comp.program.training.optimizer.name


def _saved(model, inputs) -> int:
    """Bytes torch saves for backward in one forward pass (each storage once, parameters left out)."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(*inputs)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(v for k, v in seen.items() if k not in params), out


@pytest.mark.parametrize("stem,blocks", [("gpt", "blocks"), ("resnet18", "layer1 layer2 layer3 layer4"),
                                         ("siamese", "tower")])  # one block applied twice
def test_activation_checkpointing_plan_against_torch(stem, blocks):
    """Each outermost block under torch.utils.checkpoint: what torch keeps in the forward pass, plus
    the largest block's own saved tensors while it is recomputed, is what the plan counts (an
    over-estimate, as without checkpointing, but within 1.1-2x)."""
    from torch.utils.checkpoint import checkpoint

    comp = compile(MODELS / f"{stem}.model")
    batch = 2
    full = plan(comp.program, comp.summary(batch), batch_size=batch)
    ac = plan(comp.program, comp.summary(batch), batch_size=batch, activation_checkpointing=True)
    assert ac.activation_checkpointing and ac.to_json()["activation_checkpointing"] is True
    ns = {}
    exec(comp.python_source(), ns)  # noqa: S102 - the generated module
    inputs = ns["example_inputs"](batch)
    m = comp.to_module().train()
    units = [b for name in blocks.split()
             for b in (getattr(m, name) if isinstance(getattr(m, name), torch.nn.Sequential) else [getattr(m, name)])]
    largest = 0
    for u in units:  # each block alone, on its real input: what its recomputation keeps
        seen = []
        hook = u.register_forward_pre_hook(lambda mod, a, seen=seen: seen.append(a))
        with torch.no_grad():
            m(*inputs)
        hook.remove()
        largest = max(largest, _saved(u, seen[0])[0])
    for u in units:
        u.forward = (lambda f: lambda *a: checkpoint(f, *a, use_reentrant=False))(u.forward)
    kept, out = _saved(m, inputs)
    measured = kept + largest
    assert ac.activations < full.activations
    assert measured <= ac.activations <= 2 * measured, (ac.activations, kept, largest)
