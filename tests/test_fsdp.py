"""--strategy fsdp (FSDP2, gloo on CPU, two processes) against DDP, sharded checkpoints resumed on
another number of processes, and --activation-checkpointing against plain training: all in torch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_graphc

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

# digits through two uses of a residual block (two FSDP units, each with BatchNorm buffers) and a
# root layer on each side
SRC = """
block Res(d) {
    input x
    h = x -> fc1: Linear(d) -> bn: BatchNorm1d -> ReLU -> fc2: Linear(d)
    y = x + h
    output y
}

model Net {
    input image: [B, 1, 8, 8]
    logits = image -> Flatten -> stem: Linear(32) -> blocks: Res(32) * 2 -> head: Linear(10)
    output logits

    train {
        data = digits()
        loss = CrossEntropyLoss()
        optimizer = AdamW(lr=3e-3)
        epochs = 2
        batch_size = 32
        val_split = 0.2
    }
}
"""


def build(tmp_path):
    f = tmp_path / "net.model"
    f.write_text(SRC)
    proc = run_graphc("build", f, "-o", tmp_path / "gen")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "gen" / "train_net.py"


def torchrun(script, *args):
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), "--device", "cpu", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def single(script, *args):
    proc = subprocess.run([sys.executable, str(script), "--device", "cpu", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _env():
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1"}


def records(out: Path):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def weights(script, out: Path, name="last.pt"):
    """The checkpoint's weights as one process sees them, through the script's own loader."""
    sys.path.insert(0, str(script.parent))
    try:
        import importlib

        train = importlib.import_module("train_net")
        importlib.reload(train)
        net = importlib.import_module("net")
        importlib.reload(net)
        model = net.Net()
        ckpt = train.load_checkpoint(out / name)
        train.load_weights(model, ckpt, out / name)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, ckpt
    finally:
        sys.path.remove(str(script.parent))
        for mod in ("train_net", "net"):
            sys.modules.pop(mod, None)


@pytest.mark.serial
def test_fsdp_trains_as_ddp_does_and_resumes_on_one_process(tmp_path):
    script = build(tmp_path)
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    torchrun(script, "--strategy", "ddp", "--epochs", "2", "--out", ddp)
    torchrun(script, "--strategy", "fsdp", "--epochs", "2", "--out", fsdp)

    # sharded checkpoints: last.pt holds no weights, it names the shards directory
    plain, ckpt = weights(script, ddp)
    sharded, sckpt = weights(script, fsdp)
    assert ckpt["shards"] is None and sckpt["shards"] == "shards-0002" and sckpt["model"] is None
    assert sorted(d.name for d in fsdp.glob("shards-*")) == sorted({"shards-0002", sckpt["best_shards"]})
    # the same updates: FSDP's reduce-scatter averages the gradients as DDP's all-reduce does
    assert plain.keys() == sharded.keys()
    # graphc export/diff --checkpoint read the same weights from the shards (graphc.interop.weights)
    from graphc.interop.weights import read_state

    whole, what = read_state(str(fsdp / "last.pt"))
    assert what.startswith("sharded checkpoint") and whole.keys() == sharded.keys()
    assert all(torch.equal(whole[k], sharded[k]) for k in whole)
    for k in plain:
        torch.testing.assert_close(sharded[k], plain[k], rtol=1e-4, atol=1e-5, msg=k)
    a, b = records(ddp), records(fsdp)
    assert [r["epoch"] for r in b] == [1, 2] and all(r["world_size"] == 2 for r in b)
    for ra, rb in zip(a, b):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-4)
        assert rb["val_loss"] == pytest.approx(ra["val_loss"], rel=1e-4)

    # resumed on one process: the shards resharded, the optimizer state with them, epoch 3 alone added
    single(script, "--epochs", "3", "--out", fsdp, "--resume", "--strategy", "fsdp")
    assert [r["epoch"] for r in records(fsdp)] == [1, 2, 3]
    assert records(fsdp)[-1]["world_size"] == 1
    # the same third epoch as a DDP run resumed on one process from its (whole) checkpoint
    single(script, "--epochs", "3", "--out", ddp, "--resume")
    assert records(fsdp)[-1]["train_loss"] == pytest.approx(records(ddp)[-1]["train_loss"], rel=1e-4)
    resumed, _ = weights(script, fsdp)
    again, _ = weights(script, ddp)
    for k in again:
        torch.testing.assert_close(resumed[k], again[k], rtol=1e-4, atol=1e-5, msg=k)

    # and back on two processes: the one-process run wrote shards too
    assert torch.load(fsdp / "last.pt", weights_only=True)["shards"] == "shards-0003"
    torchrun(script, "--strategy", "fsdp", "--epochs", "4", "--out", fsdp, "--resume")
    assert [r["epoch"] for r in records(fsdp)] == [1, 2, 3, 4] and records(fsdp)[-1]["world_size"] == 2

    # --eval of a sharded checkpoint in one process: the loss the two processes measured
    proc = single(script, "--eval", fsdp / "best.pt", "--format", "json")
    best = min(records(fsdp), key=lambda r: r["val_loss"])
    assert json.loads(proc.stdout)["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


@pytest.mark.serial
def test_a_whole_checkpoint_is_not_resumed_sharded(tmp_path):
    script = build(tmp_path)
    out = tmp_path / "run"
    single(script, "--epochs", "1", "--max-steps", "2", "--out", out)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), "--device", "cpu", "--quiet", "--strategy", "fsdp", "--epochs", "2",
                           "--out", str(out), "--resume"], capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode != 0
    assert "holds whole weights (a run without --strategy fsdp wrote it): resume it with --strategy ddp" \
        in proc.stderr
    assert 'train_net.py", line' not in proc.stderr  # no traceback of the script (torchrun prints its own)


def test_activation_checkpointing_computes_the_same_training(tmp_path):
    script = build(tmp_path)
    plain, ac = tmp_path / "plain", tmp_path / "ac"
    single(script, "--epochs", "1", "--max-steps", "5", "--out", plain)
    single(script, "--epochs", "1", "--max-steps", "5", "--out", ac, "--activation-checkpointing")
    assert records(ac)[0]["train_loss"] == records(plain)[0]["train_loss"]
    a, _ = weights(script, plain)
    b, _ = weights(script, ac)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_the_units_are_the_outermost_block_instances(tmp_path):
    script = build(tmp_path)
    sys.path.insert(0, str(script.parent))
    try:
        import train_net
        from net import Net

        model = Net()
        units = train_net.outermost_blocks(model)
        assert [type(m).__name__ for m in units] == ["Res", "Res"]
        assert units[0] is model.blocks[0] and units[1] is model.blocks[1]
        # with --activation-checkpointing a block's layers run again in the backward pass
        calls = []
        model.blocks[0].fc1.register_forward_hook(lambda *a: calls.append(1))
        model(torch.randn(4, 1, 8, 8)).sum().backward()
        assert len(calls) == 1
        train_net.checkpoint_blocks(model)
        calls.clear()
        model(torch.randn(4, 1, 8, 8)).sum().backward()
        assert len(calls) == 2
    finally:
        sys.path.remove(str(script.parent))
        sys.modules.pop("train_net", None)
        sys.modules.pop("net", None)


@pytest.mark.serial
def test_a_block_with_a_weight_tied_outside_stays_in_the_models_unit(tmp_path):
    """One process group of one process (an in-memory store): fully_shard as the script applies it."""
    import torch.distributed as dist
    from torch.distributed.fsdp import FSDPModule

    src = SRC.replace("-> head: Linear(10)", "-> mid: Linear(32) -> head: Linear(10)\n    tie mid.weight = blocks.0.fc1.weight")
    f = tmp_path / "net.model"
    f.write_text(src)
    proc = run_graphc("build", f, "-o", tmp_path / "gen")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sys.path.insert(0, str(tmp_path / "gen"))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        import train_net
        from net import Net

        model = train_net.shard_model(Net(), None)
        assert not isinstance(model.blocks[0], FSDPModule) and isinstance(model.blocks[1], FSDPModule)
        model(torch.randn(4, 1, 8, 8)).sum().backward()  # torch refuses a tensor in two units
        assert model.mid.weight is model.blocks[0].fc1.weight
    finally:
        dist.destroy_process_group()
        sys.path.remove(str(tmp_path / "gen"))
        sys.modules.pop("train_net", None)
        sys.modules.pop("net", None)


@pytest.mark.serial
def test_a_compiled_sharded_model_trains_and_round_trips_its_shards(tmp_path):
    """--strategy fsdp --compile: the script shards, then compiles; its helpers see through the compiled
    wrapper. One process group of one process, and torch.compile's "eager" backend (dynamo's tracing
    without inductor's code generation, which takes minutes on a CPU: docs/training.md gives the
    two-process run with it)."""
    import torch.distributed as dist

    script = build(tmp_path)
    sys.path.insert(0, str(script.parent))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        import train_net
        from net import Net

        x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
        losses, states = [], []
        for compiled in (False, True):
            torch.manual_seed(0)
            model = train_net.shard_model(Net(), None)
            if compiled:
                model = torch.compile(model, backend="eager")
            opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
            for _ in range(2):
                loss = torch.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            losses.append(loss.item())
            assert train_net.is_sharded(model) and train_net.unwrap(model) is getattr(model, "_orig_mod", model)
            train_net.sync_buffers(model)
            name = train_net.save_shards(model, opt, tmp_path, 1 + compiled, True)
            states.append({k: v.full_tensor().clone() if hasattr(v, "full_tensor") else v.clone()
                           for k, v in train_net.unwrap(model).state_dict().items()})
        assert losses[1] == pytest.approx(losses[0], rel=1e-6)
        for k in states[0]:
            torch.testing.assert_close(states[1][k], states[0][k], msg=k)

        # the compiled run's shards load into another compiled sharded model
        torch.manual_seed(1)
        fresh = torch.compile(train_net.shard_model(Net(), None), backend="eager")
        train_net.load_shards(fresh, torch.optim.AdamW(fresh.parameters(), lr=1e-2), tmp_path / name)
        loaded = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
                  for k, v in train_net.unwrap(fresh).state_dict().items()}
        for k in states[1]:
            assert torch.equal(loaded[k], states[1][k]), k
    finally:
        dist.destroy_process_group()
        sys.path.remove(str(script.parent))
        sys.modules.pop("train_net", None)
        sys.modules.pop("net", None)
