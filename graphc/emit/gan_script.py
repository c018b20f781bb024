"""Emit a GAN's training script, ``train_<stem>.py``, from a checked GanSpec
(``templates/train/gan.py.tmpl``, one part).  Every value passes through ``pyfmt``."""

from __future__ import annotations

import os
from importlib import resources
from string import Template

from graphc import __version__, pyfmt
from graphc.components.datasets import helper_code
from graphc.emit.train_script import _argparse_text
from graphc.training_gan import GanSpec


def _load_data(spec: GanSpec) -> str:
    d = spec.data
    lines = ["def load_data(seed):",
             f'    """(x, labels) as CPU tensors: {pyfmt.text(d.record.describe(d.params))}; the labels are unused."""',
             *d.record.load(d.params)]
    if getattr(d.record, "training_rows", False):  # text_csv's vocabulary counts the rows that train: all
        lines += ["", "", "def _training_rows(n, seed):", "    return range(n)"]
    helpers = helper_code([d.record], "regression")
    if helpers != [""]:
        lines += ["", "", *helpers]
    return "\n".join(lines)


def _config(spec: GanSpec) -> str:
    s = spec.settings
    rows = [("EPOCHS", s.epochs, ""), ("BATCH_SIZE", s.batch_size, ""),
            ("LR", spec.g_optimizer.params.lr, f"the generator's {spec.g_optimizer.name} learning rate"),
            ("D_LR", spec.d_optimizer.params.lr, f"the discriminator's {spec.d_optimizer.name} learning rate"),
            ("SEED", s.seed, "weights, shuffling and noise"), ("DEVICE", s.device, "auto, cpu, cuda or mps"),
            ("SAMPLES", s.samples, "samples saved per epoch")]
    width = max(len(f"{k} = {pyfmt.literal(v)}") for k, v, _ in rows)
    return "\n".join((f"{k} = {pyfmt.literal(v)}".ljust(width) + f"  # {n}") if n else f"{k} = {pyfmt.literal(v)}"
                     for k, v, n in rows)


def emit_gan_script(spec: GanSpec, gen_class: str, disc_class: str, stem: str, path: str,
                    names=("Generator", "Discriminator"), outputs=("output", "output")) -> str:
    text = resources.files("graphc.emit").joinpath("templates", "train", "gan.py.tmpl").read_text(encoding="utf-8")
    lines = text.split("\n")
    while lines and lines[0].startswith("##"):
        lines.pop(0)
    values = {
        "GEN": gen_class, "DISC": disc_class, "STEM": stem, "VERSION": __version__,
        "FILE": pyfmt.text(os.path.basename(path)),
        "FILE_HELP": pyfmt.text(_argparse_text(os.path.basename(path), gen_class)),
        "DATA_DESC": pyfmt.text(spec.data.record.describe(spec.data.params)),
        "CONFIG": _config(spec),
        "NOISE_SHAPE": pyfmt.literal(tuple(spec.noise_shape)),
        "SAMPLE_SHAPE": pyfmt.literal(tuple(spec.sample_shape)),
        "LOAD_DATA": _load_data(spec),
        "PLAYERS": "{" + ", ".join(f"{pyfmt.literal(n)}: ({pyfmt.literal(k)}, {pyfmt.literal(o)}, {pyfmt.literal(tuple(sh))})"
                                   for n, k, o, sh in zip(names, ("generator", "discriminator"), outputs,
                                                         (spec.noise_shape, spec.sample_shape), strict=True)) + "}",
        "G_OPTIMIZER": spec.g_optimizer.record.code(spec.g_optimizer.params),
        "D_OPTIMIZER": spec.d_optimizer.record.code(spec.d_optimizer.params),
    }
    return Template("\n".join(lines).strip("\n") + "\n").substitute(values)
