"""pretrained = weights(...): the worked example of docs/finetune.md, run at 32x32 on a tiny image
folder.  The weights are a state_dict of the module graphc builds for models/resnet18.model,
whose keys are torchvision's resnet18's (tests/test_weights_check.py compares them with the
state_dict torch builds): the file a user saves from torchvision."""

import os
import re
import subprocess
import sys

import pytest
from conftest import MODELS, ROOT, import_generated, run_graphc
from test_weights_check import write_safetensors

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")

from graphc.api import compile  # noqa: E402

DOC = (ROOT / "docs" / "finetune.md").read_text(encoding="utf-8")
EXAMPLE = re.findall(r"```text\n(.*?)```", DOC, re.S)[0]
assert "model Pets" in EXAMPLE


def example(**replace):
    """The docs' model at 32x32, two epochs unfreezing at the second, with ``replace``'s edits."""
    src = EXAMPLE.replace("224", "32").replace("epochs = 6", "epochs = 2").replace("unfreeze_at = 4",
                                                                                  "unfreeze_at = 2")
    src = src.replace("batch_size = 16", "batch_size = 4")
    for old, new in replace.items():
        assert old in src, old
        src = src.replace(old, new)
    return src


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with resnet18.pth, resnet18.safetensors (the same tensors), pets/ (two classes
    of four 32x32 images) and the example built into gen/."""
    from PIL import Image

    d = tmp_path_factory.mktemp("finetune")
    torch.manual_seed(1)
    state = compile(MODELS / "resnet18.model").to_module().state_dict()
    torch.save(state, d / "resnet18.pth")
    write_safetensors(d / "resnet18.safetensors", state)
    write_safetensors(d / "odd.safetensors", {**state, "layer4.1.bn2.weight": torch.full((3,), 7.0)})
    for label, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
        (d / "pets" / label).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (32, 32), tuple(c + 9 * i for c in colour)).save(d / "pets" / label / f"{i}.png")
    build(d, example(), "pets")
    return d, state


def build(d, src, stem):
    (d / f"{stem}.model").write_text(src)
    proc = run_graphc("build", f"{stem}.model", "-o", "gen", cwd=d)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


SCRIPTS = {}


def run(d, stem, *args, capsys):
    """The generated script's main() with these flags, in this process (a subprocess would import
    torch again for each run), from folder d; its stdout."""
    if stem not in SCRIPTS:
        SCRIPTS[stem] = import_generated(d / "gen" / f"train_{stem}.py", f"train_{stem}_finetune")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        capsys.readouterr()
        SCRIPTS[stem].main(["--quiet", *map(str, args)])
        return capsys.readouterr().out
    finally:
        os.chdir(cwd)


def trained(d, out):
    return torch.load(d / out / "last.pt", weights_only=True)["model"]


def test_partial_load_report_frozen_backbone_and_trained_head(work, capsys):
    d, state = work
    out = run(d, "pets", "--out", "one", "--epochs", 1, "--max-steps", 1, capsys=capsys)
    lines = out.splitlines()
    assert lines[0] == "pretrained: 120 of the model's 122 tensors loaded from resnet18.pth (state_dict):"
    assert lines[1] == "  missing from the file (2, they keep their initial values): head.weight, head.bias"
    assert lines[2] == "  not in the model (2, left out): fc.weight (as backbone.fc.weight), fc.bias (as backbone.fc.bias)"
    # the same tensors from a .safetensors file, one of them of another shape; two steps
    out = run(d, "pets", "--out", "two", "--epochs", 1, "--max-steps", 2, "--pretrained", "odd.safetensors",
              capsys=capsys)
    assert out.splitlines()[0] == "pretrained: 119 of the model's 122 tensors loaded from odd.safetensors (safetensors):"
    assert ("  another shape (1, left out): backbone.layer4.1.bn2.weight (3,) in the file, (512,) here"
            in out.splitlines())
    a, b = trained(d, "one"), trained(d, "two")
    names = [n for n, _ in SCRIPTS["pets"].Pets().named_parameters()]  # not the buffers
    backbone = [n for n in names if n.startswith("backbone.")]
    assert len(backbone) == 60 and len(names) == 62
    odd = "backbone.layer4.1.bn2.weight"
    for n in backbone:  # frozen: exactly the file's values after one step and after two
        assert torch.equal(a[n], state[n.removeprefix("backbone.")]), n
        assert n == odd or torch.equal(b[n], state[n.removeprefix("backbone.")]), n
    assert torch.equal(b[odd], torch.ones(512))  # not loaded: BatchNorm's initial weight
    assert not torch.equal(a["head.weight"], b["head.weight"])  # the head trains
    # BatchNorm's running statistics are buffers: in training mode they follow the data, frozen or not
    assert not torch.equal(a["backbone.bn1.running_mean"], state["bn1.running_mean"])


def test_unfreeze_at_lets_the_backbone_train(work, capsys):
    d, state = work
    out = run(d, "pets", "--out", "both", capsys=capsys)
    assert "epoch 2: the 11,176,512 frozen parameters train from now on" in out
    after = trained(d, "both")
    assert not torch.equal(after["backbone.conv1.weight"], state["conv1.weight"])
    assert not torch.equal(after["backbone.layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])


def test_strict_load_stops_with_the_lists(work):
    d, _ = work
    build(d, example(**{"strict=false": "strict=true"}), "strict")
    proc = subprocess.run([sys.executable, str(d / "gen" / "train_strict.py"), "--out", "strict"],
                          capture_output=True, text=True, cwd=d, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "error: pretrained weights resnet18.pth (state_dict) do not fit Pets:" in proc.stderr
    assert "\n  missing from the file (2): head.weight, head.bias\n" in proc.stderr
    assert "\n  not in the model (2): fc.weight (as backbone.fc.weight), fc.bias (as backbone.fc.bias)\n" in proc.stderr
    assert not (d / "strict" / "last.pt").exists()


def test_second_run_from_the_first_runs_checkpoint(work, capsys):
    d, _ = work
    src = example(**{"    freeze backbone\n": "", "unfreeze_at = 2\n": "",
                     'weights("resnet18.pth", strict=false, rename=[("", "backbone.")])': 'weights("one/last.pt")'})
    build(d, src, "stage2")
    if not (d / "one" / "last.pt").exists():
        pytest.skip("needs the first test's run")
    out = run(d, "stage2", "--out", "stage2", "--max-steps", 1, "--epochs", 1, capsys=capsys)
    assert "pretrained:" not in out  # --quiet, and every tensor loaded: no report
    SCRIPTS["stage2"].load_pretrained(SCRIPTS["stage2"].Pets(), str(d / "one" / "last.pt"), True, (), True)
    assert capsys.readouterr().out == (f"pretrained: 122 of the model's 122 tensors loaded from {d / 'one' / 'last.pt'} "
                                       "(checkpoint of epoch 1), all of them\n")
    # another model's weights, strictly: the lists, shapes included
    state = trained(d, "one")
    state["head.weight"], state["head.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, d / "wide.pt")
    with pytest.raises(SCRIPTS["stage2"].DataError) as e:
        run(d, "stage2", "--out", "bad", "--pretrained", "wide.pt", capsys=capsys)
    assert str(e.value).splitlines() == [
        "pretrained weights wide.pt (state_dict) do not fit Pets:",
        "  another shape (2): head.weight (1000, 512) in the file, (2, 512) here, "
        "head.bias (1000,) in the file, (2,) here",
        "  load a part with weights(..., strict=false), or map the file's names with rename="]


def test_graphc_check_compares_a_safetensors_file_with_the_renames(work):
    d, _ = work
    head_line = next(i for i, line in enumerate(example().splitlines(), 1) if "head: Linear(2)" in line)
    call = 'weights("resnet18.pth", strict=false, rename=[("", "backbone.")])'
    renamed = 'weights("resnet18.safetensors", strict=false, rename=[("fc.", "head."), ("", "backbone.")])'
    (d / "c.model").write_text(example(**{call: renamed}))
    proc = run_graphc("check", "c.model", cwd=d)
    assert proc.returncode == 0, proc.stdout  # a partial load: warnings
    out = proc.stdout
    assert (f"c.model:{head_line}:" in out and "warning: 'head.weight' (renamed from 'fc.weight') is (1000, 512) in "
            "resnet18.safetensors, but Linear 'head' has (2, 512): it is not loaded  [weights-partial]" in out), out
    assert out.count("[weights-partial]") == 2  # head.weight and head.bias; every other tensor fits
    (d / "s.model").write_text(example(**{call: renamed.replace("strict=false", "strict=true")}))
    proc = run_graphc("check", "s.model", cwd=d)
    assert proc.returncode == 1 and out.count("head.") and proc.stdout.count("[weights-mismatch]") == 2, proc.stdout
    # without the renames nothing fits: every tensor is reported, and the backbone is at its lines
    (d / "n.model").write_text(example(**{call: 'weights("resnet18.safetensors")'}))
    proc = run_graphc("check", "n.model", cwd=d)
    assert proc.returncode == 1 and "has no tensor 'backbone.conv1.weight'" in proc.stdout
    assert "did you mean 'conv1.weight'?" in proc.stdout or "'conv1.weight' that the model has no place" in proc.stdout


@pytest.mark.parametrize("value, message", [
    ('weights()', "needs the file"),
    ('weights("w.pt", strict=1)', "strict is true or false"),
    ('weights("w.pt", rename="fc.")', "rename is a list of (prefix in the file, prefix in the model) pairs"),
    ('weights("w.pt", renames=[])', "weights() has no argument 'renames'"),
    ('"w.pt"', "'pretrained' takes weights(\"FILE\", ...)"),
    ('weights("broken.safetensors")', "is not a safetensors file"),
])
def test_mistakes_in_the_setting(tmp_path, value, message):
    from graphc.api import compile_source

    (tmp_path / "broken.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    src = example(**{'weights("resnet18.pth", strict=false, rename=[("", "backbone.")])': value})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        comp = compile_source(src, "pets.model")
    finally:
        os.chdir(cwd)
    errs = [d for d in comp.diagnostics if d.severity == "error"]
    assert len(errs) == 1 and message in errs[0].message, [d.message for d in comp.diagnostics]
    line = next(i for i, t in enumerate(src.splitlines(), 1) if "pretrained =" in t)
    assert errs[0].span.line == line


@pytest.mark.parametrize("edits, message", [
    ({"unfreeze_at = 2": "unfreeze_at = 1"}, "unfreeze_at = 1 is the first epoch: nothing would be frozen"),
    ({"unfreeze_at = 2": "unfreeze_at = 3"}, "unfreeze_at = 3 is after the last (epochs = 2)"),
    ({"    freeze backbone\n": ""}, "unfreeze_at = 2, but the model freezes no parameters"),
])
def test_unfreeze_at_is_checked(edits, message):
    from graphc.api import compile_source

    src = example(**edits)
    errs = [d for d in compile_source(src, "pets.model").diagnostics if d.severity == "error"]
    assert [d.message for d in errs] == [message]
    assert errs[0].span.line == next(i for i, t in enumerate(src.splitlines(), 1) if "unfreeze_at" in t)


def test_check_with_a_safetensors_file_does_not_import_torch(work):
    d, _ = work
    (d / "t.model").write_text(example(**{'weights("resnet18.pth"': 'weights("resnet18.safetensors"'}))
    code = ("import runpy, sys\nsys.argv = ['graphc', 'check', 't.model']\n"
            "try:\n    runpy.run_module('graphc', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=d, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.splitlines()[-1] == "False", proc.stdout + proc.stderr
    assert "[weights-partial]" in proc.stdout  # the file was compared


SMALL = """
model M {
    input x: [B, 64]
    y = x -> backbone: (fc1: Linear(16) -> ReLU -> fc2: Linear(16)) -> head: Linear(10)
    output y
    freeze backbone
    train {
        data = digits(flatten=true)
        loss = CrossEntropyLoss()
        optimizer = AdamW(lr=1e-3, groups=[(backbone, 1e-4)])
        unfreeze_at = 2
        epochs = 2
    }
}
"""


@pytest.mark.serial
def test_unfreeze_at_under_torchrun_keeps_the_processes_in_step(tmp_path):
    """DistributedDataParallel reduces the gradients of the parameters that trained when it was
    made: the script wraps the model again when it unfreezes, or the processes' backbones drift
    apart. Each process saves its weights at the end (added to the script for the test)."""
    build(tmp_path, SMALL, "small")
    script = tmp_path / "gen" / "train_small.py"
    text = script.read_text()
    anchor = "    if distributed:\n        # every rank leaves together"
    assert anchor in text
    call = "            model = unfreeze(model,"
    assert call in text
    text = text.replace(call, '            torch.save(unwrap(model).state_dict(), out_dir / f"before{rank}.pt")\n' + call)
    script.write_text(text.replace(anchor, '    torch.save(unwrap(model).state_dict(), out_dir / f"rank{rank}.pt")\n'
                                           + anchor))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), "--out", "run", "--quiet", "--max-steps", "40", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("epoch 2: the 1,312 frozen parameters train from now on") == 1
    a, b = (torch.load(tmp_path / "run" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    before = torch.load(tmp_path / "run" / "before0.pt", weights_only=True)  # at the start of epoch 2
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["backbone.fc1.weight"], before["backbone.fc1.weight"])  # it trained in epoch 2


def test_the_docs_example_is_formatted_and_its_check_output_is_current(work):
    d, _ = work
    (d / "doc").mkdir(exist_ok=True)
    (d / "doc" / "resnet18.safetensors").write_bytes((d / "resnet18.safetensors").read_bytes())
    (d / "doc" / "pets.model").write_text(EXAMPLE)
    fmt = run_graphc("fmt", "--check", "pets.model", cwd=d / "doc")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    (d / "doc" / "pets.model").write_text(EXAMPLE.replace(
        'weights("resnet18.pth", strict=false, rename=[("", "backbone.")])',
        'weights("resnet18.safetensors", strict=false, rename=[("fc.", "head."), ("", "backbone.")])'))
    shown = DOC.split("$ graphc check pets.model\n", 1)[1].split("```", 1)[0]
    proc = run_graphc("check", "pets.model", cwd=d / "doc")
    assert proc.stdout == shown


def test_two_keys_renamed_to_one_name_is_an_error(work):
    d, _ = work
    script = import_generated(d / "gen" / "train_pets.py", "train_pets_collide")
    torch.save({"head.weight": torch.zeros(2, 512), "old.head.weight": torch.ones(2, 512)}, d / "two.pt")
    model = script.Pets()
    with pytest.raises(script.DataError, match="the renames give 'head.weight' and 'old.head.weight' the same name"):
        script.load_pretrained(model, str(d / "two.pt"), False, (("old.", ""),), True)
