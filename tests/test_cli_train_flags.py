"""`graphc train FILE [the script's flags]`: graphc train takes every training flag of the
generated script and passes it on.  Its list (graphc.cli_train.SCRIPT_FLAGS) is compared here
with the argparse parser of generated scripts of each kind (one model with its data in memory,
streamed data, a GAN), and what graphc passes is parsed by the generated script's own parser."""

import argparse
import json
from pathlib import Path
from unittest import mock

import pytest
from conftest import build_scripts, import_generated

from graphc.cli import main
from graphc.cli_train import SCRIPT_FLAGS

ROOT = Path(__file__).resolve().parent.parent
torch = pytest.importorskip("torch")

#: the script's flags that choose another mode than training (graphc eval / predict / the
#: script's --sample), and --out, which graphc train has itself
MODES = {"-h", "--help", "--eval", "--data", "--predict", "--output", "--format", "--sample", "--checkpoint",
         "--prompt", "--temperature", "--top-k", "--model", "--out"}

MEMORY = """model Mem {
    input x: [B, 4]
    logits = x -> Linear(3)
    output logits
    train {
        data = npz("d.npz")
        loss = CrossEntropyLoss()
        epochs = 1
        batch_size = 4
    }
}
"""

STREAMED = """model Img {
    input image: [B, 3, 8, 8]
    logits = image -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(2)
    output logits
    train {
        data = image_folder("imgs", size=(8, 8))
        loss = CrossEntropyLoss()
        epochs = 1
        batch_size = 2
    }
}
"""

GAN = (ROOT / "models" / "gan.model").read_text(encoding="utf-8")


def script_parser(path: Path, name: str) -> argparse.ArgumentParser:
    """The generated script's own parser, caught as its parse_args uses it."""
    mod = import_generated(path, name)
    caught = []
    real = argparse.ArgumentParser.parse_args

    def catch(self, argv=None, namespace=None):
        caught.append(self)
        return real(self, argv, namespace)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch):
        mod.parse_args([])
    return caught[0]


@pytest.fixture(scope="module")
def parsers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flags")
    return {kind: script_parser(build_scripts(tmp, src, kind), f"gen_flags_{kind}")
            for kind, src in (("mem", MEMORY), ("stream", STREAMED), ("gan", GAN))}


def training_flags(parser):
    """{flag: (takes a value, choices)} of the script's training flags."""
    out = {}
    for action in parser._actions:
        for flag in action.option_strings:
            if flag not in MODES and not flag.startswith("--no-"):
                out[flag] = (action.nargs != 0, tuple(action.choices) if action.choices else None)
    return out


def graphc_flags(kinds):
    """graphc train's flags for a script of these kinds, the same way: (takes a value, choices)."""
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    t = sub.add_parser("train")
    for flag, kw, kind in SCRIPT_FLAGS:
        if kind in kinds:
            t.add_argument(flag, **kw)
    out = {}
    for action in t._actions:
        for flag in action.option_strings:
            if flag not in MODES and not flag.startswith("--no-"):
                out[flag] = (action.nargs != 0, tuple(action.choices) if action.choices else None)
    return out


@pytest.mark.parametrize("script,kinds", [("mem", {"all", "one"}), ("stream", {"all", "one", "stream"}),
                                          ("gan", {"all", "gan"})])
def test_graphc_train_takes_every_training_flag_of_the_script(parsers, script, kinds):
    assert graphc_flags(kinds) == training_flags(parsers[script])


def test_the_docs_list_every_flag():
    doc = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = doc.split("## The generated script")[1].split("- **Smoke runs.**")[0]
    block = section.split("```text\n")[1].split("```")[0]
    for flag, _, kind in SCRIPT_FLAGS:  # a GAN's own flag in the text after the one-model script's
        text = section.split("```")[2] if kind == "gan" else block
        assert flag in text or f"--[no-]{flag[2:]}" in text, flag


def write_data(tmp: Path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    np.savez(tmp / "d.npz", x=rng.random((8, 4), dtype=np.float32), y=np.arange(8) % 3)
    for i in range(6):
        (tmp / "imgs" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(tmp / "imgs" / f"c{i % 2}" / f"{i}.png")


def passed(tmp: Path, src: str, *argv) -> list[str]:
    """The command line graphc train gives the script (the script itself is not run)."""
    (tmp / "m.model").write_text(src, encoding="utf-8")
    with mock.patch("graphc.cli_train.run_child", return_value=1) as run:
        assert main(["train", str(tmp / "m.model"), "--out", str(tmp / "run"), *map(str, argv)]) == 1
    (cmd,), _ = run.call_args
    return cmd[2:]


def test_what_graphc_passes_is_what_the_script_parses(parsers, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_data(tmp_path)
    argv = passed(tmp_path, STREAMED, "--num-workers", 3, "--pretrained=-w.pt", "--strategy", "fsdp",
                  "--timeout", 12.5, "--activation-checkpointing", "--epochs", 2, "--batch-size", 5, "--lr", 0.25,
                  "--device", "cpu", "--precision", "bf16", "--seed", 7, "--max-steps", 4, "--compile", "--resume",
                  "--quiet", "--tensorboard")
    got = vars(parsers["stream"].parse_args(argv))
    want = {"num_workers": 3, "pretrained": "-w.pt", "strategy": "fsdp", "timeout": 12.5,
            "activation_checkpointing": True, "epochs": 2, "batch_size": 5, "lr": 0.25, "device": "cpu",
            "precision": "bf16", "seed": 7, "max_steps": 4, "compile": True, "resume": True, "quiet": True,
            "tensorboard": True, "out": str(tmp_path / "run")}
    assert {k: got[k] for k in want} == want
    got = vars(parsers["mem"].parse_args(passed(tmp_path, MEMORY, "--no-activation-checkpointing",
                                                "--pretrained", "none")))
    assert got["activation_checkpointing"] is False and got["pretrained"] is None
    default = vars(parsers["mem"].parse_args([]))  # nothing given: the script's configuration block
    given = vars(parsers["mem"].parse_args(passed(tmp_path, MEMORY)))
    assert given == {**default, "out": str(tmp_path / "run")}
    got = vars(parsers["gan"].parse_args(passed(tmp_path, GAN, "--d-lr", 0.125, "--lr", 0.5)))
    assert (got["d_lr"], got["lr"]) == (0.125, 0.5)


@pytest.mark.parametrize("src,argv,want", [
    (MEMORY, ["--num-workers", "2"], "--num-workers: Mem's data is held in memory, not streamed through a "
                                     "DataLoader"),
    (MEMORY, ["--d-lr", "0.1"], "--d-lr: the discriminator's learning rate of a GAN, and Mem is not one"),
    (GAN, ["--pretrained", "w.pt", "--timeout", "3"], "--pretrained and --timeout: a GAN's training script "
                                                        "does not take them yet"),
])
def test_a_flag_the_script_does_not_take_is_refused_before_anything_is_written(tmp_path, capsys, src, argv, want):
    (tmp_path / "m.model").write_text(src, encoding="utf-8")
    assert main(["train", str(tmp_path / "m.model"), "--out", str(tmp_path / "run"), *argv]) == 2
    assert want in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_streamed_run_with_the_new_flags(tmp_path, monkeypatch):
    """The reviewer's command: graphc train with --num-workers (refused before) runs the script."""
    pytest.importorskip("PIL")
    monkeypatch.chdir(tmp_path)
    write_data(tmp_path)
    (tmp_path / "m.model").write_text(STREAMED, encoding="utf-8")
    assert main(["train", "m.model", "--out", "run", "--num-workers", "0", "--timeout", "30", "--pretrained", "none",
                 "--no-activation-checkpointing", "--max-steps", "2", "--quiet", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in rows] == [2]
