"""bench/gpu.py's CPU smoke run (``--device cpu --smoke``) on the digits model: its figures against
torch's own count of the same model. The GPU figures themselves need a GPU (bench/RESULTS.md §5)."""
import json
import sys

import pytest
from conftest import MODELS, ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
sys.path.insert(0, str(ROOT))

from bench import gpu  # noqa: E402


@pytest.mark.parametrize("name, tflops", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.5),
    ("NVIDIA H200", 989.0), ("NVIDIA H200 NVL", 835.5),
    ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A100 80GB PCIe", 312.0), ("NVIDIA L4", 121.0),
    ("NVIDIA GeForce RTX 4090", None), ("Tesla T4", None),
])
def test_peak_bf16_by_device_name(name, tflops):
    assert gpu.peak_tflops(name) == tflops


def test_cpu_smoke_of_digits_against_torch(tmp_path, capsys):
    from torch.utils.flop_counter import FlopCounterMode

    import graphc

    out = tmp_path / "gpu.json"
    assert gpu.main(["--device", "cpu", "--smoke", "--models", "digits", "--peak-tflops", "1",
                     "--json", str(out), "--output", str(tmp_path / "gpu.md")]) == 0
    [r] = json.loads(out.read_text())
    table = capsys.readouterr().out
    assert table.startswith("CPU SMOKE RUN, not a result:") and "| digits | 64 |" in table
    assert (tmp_path / "gpu.md").read_text() == table

    comp = graphc.compile(str(MODELS / "digits.model"))
    model = comp.to_module().train()
    x = torch.rand(64, 1, 8, 8)
    with FlopCounterMode(display=False) as counter:
        model(x)
        forward = counter.get_total_flops()
    # graphc's count: a multiply-accumulate is 2 FLOPs, a training step 3 forward passes
    assert r["flop_counter_forward_per_sample"] == forward / 64 == 2 * r["graphc_macs_per_sample"]
    assert r["graphc_flops_per_sample"] == 3 * forward / 64
    # the backward pass skips the first convolution's input gradient (the image needs none)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    assert r["flop_counter_step_per_sample"] == counter.get_total_flops() / 64 < r["graphc_flops_per_sample"]

    # the plan's parameters, gradients and optimizer state: torch's tensors after an AdamW step
    opt = torch.optim.AdamW(model.parameters())
    opt.step()
    size = lambda ts: sum(t.numel() * t.element_size() for t in ts if isinstance(t, torch.Tensor))  # noqa: E731
    assert r["plan"]["params"] == size(model.parameters()) == size(p.grad for p in model.parameters())
    assert r["plan"]["optimizer"] == size(t for st in opt.state.values() for t in st.values())
    assert r["plan"]["batch_size"] == r["batch"] == 64 and r["plan"]["precision"] == "fp32"
    assert r["measured_peak_bytes"] is None  # no CUDA memory on a CPU
    assert r["measure_loss"] == r["measure_loss"] and 0 < r["measure_loss"] < 10  # three real steps ran

    # the digits split (scikit-learn's 1797 images, a fifth held out) and a positive speed each
    assert r["train_samples"] == 1797 - round(1797 * 0.2)
    assert r["generated_samples_per_s"] > 0 and r["hand_written_samples_per_s"] > 0
    assert r["ratio"] == pytest.approx(r["generated_samples_per_s"] / r["hand_written_samples_per_s"])
    assert r["mfu"] == pytest.approx(r["generated_samples_per_s"] * r["graphc_flops_per_sample"] / 1e12)


@pytest.mark.parametrize("argv, message", [
    (["--device", "cpu"], "off CUDA only --smoke runs"),
    (["--device", "cpu", "--smoke", "--epochs", "1"], "--epochs must be at least 2"),
    (["--device", "cpu", "--smoke", "--models", "digits,vgg"], "unknown model 'vgg'"),
])
def test_what_it_refuses(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        gpu.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
