"""Robustness fuzzing: nothing a ``.model`` file says may crash graphc.

    python -m tests.fuzz.robust [--cases 100000] [--seed 0] [--jobs N] [--timeout 30]

Every input goes through ``compile_source`` (parse, lower, infer, initializer,
lint and training checks); an input without errors also through
``python_source()`` (whose text must ``compile()``), ``train_source()`` (the
same) and ``summary()``; a parsed input also through ``graphc fmt``'s
``format_text`` (whose result must mean the same).  Failures:

- a crash: any exception escaping one of those calls (``compile_source`` never
  raises; the others raise only ``GraphcError``);
- a diagnostic outside the file: its line not in the file, or its column not
  within that line + 1;
- generated code that does not compile;
- a hang: an input that takes longer than ``--timeout`` seconds.

Inputs: about a third shape-aware random models that are mostly clean (so code
generation is exercised), a quarter grammar-level random text (random layer
kinds from the registry with plausible and implausible arguments), the rest
mutations of ``models/``, ``tests/cases/`` and generated models (tokens and
lines deleted, duplicated or swapped, numbers made huge, negative, zero or
float, random characters, unicode look-alikes, truncation); plus a fixed list
of limit probes (deep nesting, 20 MB of text, NUL bytes...) that must each give
their ``limit`` (or other) diagnostic.  Case ``i`` of seed ``s`` is drawn from
its own ``random.Random``, so every failure is reproducible on its own with
``--only i``.  Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sys
import time
import traceback
import typing
from dataclasses import dataclass, field
from pathlib import Path

from graphc.layers.base import load_all

ROOT = Path(__file__).resolve().parents[2]
REG = load_all()
KINDS = sorted(REG)
LAYER_KINDS = [k for k, v in REG.items() if v.torch_name is not None]

# ----------------------------------------------------------------- vocabulary
PLAIN_NAMES = ["x", "y", "z", "h", "a", "b", "c", "out", "feat", "logits", "hidden", "skip", "t0",
               "t1", "stem", "head", "aux", "v_1", "W", "C", "k", "n"]
ODD_NAMES = ["model", "block", "input", "output", "const", "train", "init", "true", "false", "none",
             "True", "False", "None", "class", "lambda", "def", "return", "import", "self", "super",
             "forward", "eval", "training", "to", "parameters", "list", "float", "int", "len", "type",
             "match", "_h", "__init__", "__class__", "torch", "nn", "F", "math", "example_inputs",
             "init_weights", "weight", "bias", "data", "loss", "B", "T", "H", "W", "float32", "long",
             "x" * 120, "ReLU", "Linear", "Conv2d", "add", "concat", "digits", "zeros"]
SYMBOLS = ["B", "T", "N", "H", "W", "S", "L"]
DTYPES = ["float32", "float", "float16", "half", "bfloat16", "float64", "double", "long", "int64",
          "int32", "int", "bool"]
INIT_NAMES = ["zeros", "ones", "constant", "eye", "normal", "uniform", "xavier_normal", "xavier_uniform",
              "kaiming_normal", "kaiming_uniform", "orthogonal", "trunc_normal"]
HUGE_INTS = ["0", "-1", "-7", "2**40", "1099511627776", "1099511627777", "4611686018427387904",
             "4611686018427387905", "9223372036854775808", "1" + "0" * 30, "1" + "0" * 100,
             "9" * 400, "1_000_000_000_000", "18446744073709551616", "1" * 5000]
ODD_FLOATS = ["0.0", "-0.0", "1e-320", "1e308", "1e309", "1e999", "-1e999", ".5", "1.", "0.5",
              "3.0", "1e-5", "2.5E3", "1_000.5", "9" * 400 + ".0", "1e-99999", "1e99999"]
LOOKALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і",
              "A": "Α", "B": "Β", "C": "С", "E": "Ε", "H": "Η", "L": "Ꮮ", "M": "Μ", "T": "Τ",
              "-": "−", ">": "＞", "(": "（", ")": "）", "=": "＝", ",": "，", ":": "：",
              "[": "［", "]": "］", "{": "｛", "}": "｝", "1": "𝟏", "0": "Ｏ", " ": "\u00a0",
              "_": "＿", "*": "∗", '"': "“"}
ODD_CHARS = ["\0", "\x01", "\x7f", "\r", "\r\n", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028",
             "\u2029", "\u200b", "\ufeff", "\ud800", "\udfff", "\U0001f600", "\u0301", "é", "ß",
             "→", "−", "#", "\\", "'", '"', ";", "`", "$", "@", "!", "?", "&", "|", "^", "~", "<",
             ">", "{", "}", "(", ")", "[", "]", ",", ":", "=", "*", "/", "//", "%", "+", "-", ".",
             "->", "\n", " ", "é" * 50]
SEED_GLOBS = ["models/*.model", "tests/cases/*.model", "tests/cases/crashes/*.model"]


def _q(s: str) -> str:
    return '"' + s + '"'


# ------------------------------------------------------- plausible arguments
def value_src(ann, rng: random.Random, depth: int = 0) -> str:
    """Source text of a value that fits a pydantic field annotation (mostly)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        base, meta = args[0], args[1:]
        lo = hi = None
        for m in meta:
            for mm in [m, *(getattr(m, "metadata", None) or [])]:
                if getattr(mm, "gt", None) is not None:
                    lo = mm.gt + (1 if base is int else 1e-3)
                if getattr(mm, "ge", None) is not None:
                    lo = mm.ge
                if getattr(mm, "lt", None) is not None:
                    hi = mm.lt - (1 if base is int else 1e-3)
                if getattr(mm, "le", None) is not None:
                    hi = mm.le
        if base is int:
            lo = 1 if lo is None else int(lo)
            hi = lo + rng.choice([1, 3, 8, 16]) if hi is None else int(hi)
            return str(rng.randint(lo, max(lo, hi)))
        if base is float:
            lo = 0.0 if lo is None else lo
            hi = lo + 1.0 if hi is None else hi
            return repr(round(rng.uniform(lo, hi), 3))
        return value_src(base, rng, depth)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return value_src(rng.choice(args), rng, depth)
    if origin is typing.Literal:
        a = rng.choice(args)
        return _q(a) if isinstance(a, str) else str(a).lower() if isinstance(a, bool) else str(a)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            items = [value_src(args[0], rng, depth + 1) for _ in range(rng.randint(1, 3))]
        else:
            items = [value_src(a, rng, depth + 1) for a in args]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if ann is int:
        return str(rng.choice([-1, 0, 1, 2, 3, 4, 8]))
    if ann is float:
        return rng.choice(["0.1", "0.5", "1.0", "1e-5", "2"])
    if ann is bool:
        return rng.choice(["true", "false"])
    if ann is str:
        return _q(rng.choice(["x", "data.npz", "same", ""]))
    if ann is type(None):
        return "none"
    return rng.choice(["1", "none", "true", "(2, 2)"])


class Gen:
    """Grammar-level random text: any construct, any layer kind, any argument."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.blocks: list[str] = []
        self.consts: list[str] = []
        self.values: list[str] = []

    def name(self) -> str:
        r = self.rng.random()
        if r < 0.08:
            return self.rng.choice(ODD_NAMES)
        if r < 0.2 and self.values:
            return self.rng.choice(self.values)
        return self.rng.choice(PLAIN_NAMES) + (str(self.rng.randint(0, 9)) if self.rng.random() < 0.4 else "")

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.65:
            return str(self.rng.choice([0, 1, 1, 2, 3, 4, 8, 16, 32, 64, 5, 7, 10]))
        if r < 0.85:
            return self.rng.choice(["0.5", "0.1", "1e-3", "2.0", ".25", "1.", "1e-320", "1e308", "-0.0"])
        if r < 0.97:  # large, within the limits
            return self.rng.choice(["0", "-1", "2**40", "1099511627776", "1099511627777",
                                    "4611686018427387904", "1_000_000_000"])
        return self.rng.choice(HUGE_INTS + ODD_FLOATS)  # beyond them: the file stops at the parser

    def expr(self, depth: int = 0) -> str:
        rng = self.rng
        r = rng.random()
        if depth > 3 or r < 0.45:
            return self.number()
        if r < 0.55:
            return rng.choice(self.consts + SYMBOLS + PLAIN_NAMES + ["True", "none", "true", "false"])
        if r < 0.6:
            return _q(rng.choice(["same", "valid", "zeros", "reflect", "tanh", "none", "relu", "x\\ny",
                                  "é", "\\\"", ""]))
        if r < 0.78:
            op = rng.choice(["+", "-", "*", "/", "//", "%"])
            return f"{self.expr(depth + 1)} {op} {self.expr(depth + 1)}"
        if r < 0.83:
            return f"-{self.expr(depth + 1)}"
        if r < 0.9:
            return f"({self.expr(depth + 1)})"
        if r < 0.96:
            items = [self.expr(depth + 1) for _ in range(rng.randint(0, 3))]
            o, c = rng.choice([("(", ")"), ("[", "]")])
            if o == "(" and len(items) == 1:
                return f"({items[0]},)"
            return o + ", ".join(items) + c
        return self.call(depth + 1)

    def call(self, depth: int = 0, kind: str | None = None) -> str:
        rng = self.rng
        if kind is None:
            r = rng.random()
            if r < 0.75:
                kind = rng.choice(KINDS)
            elif r < 0.85 and self.blocks:
                kind = rng.choice(self.blocks)
            elif r < 0.9:
                kind = rng.choice(INIT_NAMES)
            else:
                kind = rng.choice(["Linaer", "relu", "Conv2D", "Foo", "digits", "Adam", "Sequential"])
        args = []
        layer = REG.get(kind)
        fields = dict(layer.Params.model_fields) if layer is not None else {}
        n = rng.choice([0, 0, 1, 1, 2, 3, 4])
        for i in range(n):
            r = rng.random()
            if r < 0.2 and self.values:
                args.append(rng.choice(self.values))
            elif fields and r < 0.75:
                key = rng.choice(list(fields))
                val = value_src(fields[key].annotation, rng) if rng.random() < 0.75 else self.expr(depth + 1)
                if i < len(layer.positional) and rng.random() < 0.4 and not layer.positional[i].startswith("*"):
                    args.append(val)
                else:
                    args.append(f"{key}={val}")
            elif r < 0.85:
                args.append(self.expr(depth + 1))
            elif r < 0.9:
                args.append(f"{rng.choice(['weight_init', 'bias_init'])}={self.init_call()}")
            else:
                args.append(f"{self.name()}={self.expr(depth + 1)}")
        if not args and rng.random() < 0.4:
            return kind
        return f"{kind}({', '.join(args)}{',' if args and rng.random() < 0.1 else ''})"

    def init_call(self) -> str:
        rng = self.rng
        kind = rng.choice(INIT_NAMES + ["foo", "Linear"])
        if rng.random() < 0.3:
            return kind
        args = []
        for _ in range(rng.randint(0, 3)):
            k = rng.choice(["mean", "std", "a", "b", "gain", "mode", "nonlinearity", "val", "x"])
            v = rng.choice(['"fan_out"', '"relu"', '"tanh"', "0.5", "-1", "2", "true", "none", '"x"'])
            args.append(f"{k}={v}" if rng.random() < 0.8 else v)
        return f"{kind}({', '.join(args)})"

    def step(self) -> str:
        rng = self.rng
        label = f"{self.name()}: " if rng.random() < 0.25 else ""
        r = rng.random()
        if r < 0.12:
            callee = "(" + " -> ".join(self.call() for _ in range(rng.randint(1, 3))) + ")"
        else:
            callee = self.call()
        rep = ""
        if rng.random() < 0.12:
            rep = " * " + rng.choice(["2", "3", "0", "N", "10001", "(2 + 1)", "(-1)", "(1.5)", "k",
                                      "(" + self.expr(1) + ")", "1" + "0" * 20])
        return label + callee + rep

    def chain(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.7 and self.values:
            src = rng.choice(self.values)
        elif r < 0.85:
            src = self.call()
        else:
            src = f"{self.name()}: {self.call()}"
        steps = [self.step() for _ in range(rng.choice([0, 1, 1, 2, 3, 4, 6]))]
        return " -> ".join([src] + steps)

    def shape(self) -> str:
        rng = self.rng
        dims = []
        for _ in range(rng.choice([0, 1, 2, 2, 3, 4, 4, 5, 6])):
            r = rng.random()
            dims.append(rng.choice(SYMBOLS) if r < 0.3 else self.expr(2) if r < 0.45 else
                        str(rng.choice([1, 2, 3, 4, 8, 16, 32])))
        dt = rng.choice(DTYPES) if rng.random() < 0.25 else ""
        return f"{dt}[{', '.join(dims)}]"

    def stmt(self, in_block: bool) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            n = self.name()
            self.consts.append(n)
            return f"const {n} = {self.expr()}"
        if r < 0.3:
            n = self.name()
            self.values.append(n)
            if in_block and rng.random() < 0.8:
                return f"input {n}"
            return f"input {n}: {self.shape()}" if rng.random() < 0.9 else f"input {n}"
        if r < 0.8:
            targets = [self.name() for _ in range(rng.choice([1, 1, 1, 1, 2, 3]))]
            text = f"{', '.join(targets)} = {self.chain()}"
            self.values += targets
            return text
        if r < 0.92:
            names = [rng.choice(self.values) if self.values and rng.random() < 0.85 else self.name()
                     for _ in range(rng.choice([1, 1, 2]))]
            return "output " + ", ".join(names)
        if r < 0.96:
            return self.train_section()
        return self.init_section()

    def train_section(self) -> str:
        rng = self.rng
        from graphc.components import registry
        from graphc.training import CALL_KEYS, Settings

        lines = []
        tables = {key: registry(kind) for key, kind in CALL_KEYS.items()}
        for _ in range(rng.randint(0, 8)):
            key = rng.choice(list(tables) + list(Settings.model_fields) + ["foo", "lr"])
            if key in tables:
                kind = rng.choice(list(tables[key]) + ["Foo"])
                entry = tables[key].get(kind)
                schema = entry.Params if entry is not None else None
                args = []
                if schema is not None:
                    for f, info in schema.model_fields.items():
                        if rng.random() < 0.3:
                            args.append(f"{f}={value_src(info.annotation, rng)}")
                if rng.random() < 0.1:
                    args.append(self.expr())
                lines.append(f"{key} = {kind}({', '.join(args)})" if args or rng.random() < 0.7 else
                             f"{key} = {kind}")
            elif key in Settings.model_fields:
                v = value_src(Settings.model_fields[key].annotation, rng) if rng.random() < 0.8 else self.expr()
                lines.append(f"{key} = {v}")
            else:
                lines.append(f"{key} = {self.expr()}")
        return "train {\n        " + "\n        ".join(lines) + "\n    }"

    def init_section(self) -> str:
        rng = self.rng
        lines = []
        for _ in range(rng.randint(0, 4)):
            key = rng.choice(LAYER_KINDS + ["weight", "bias", "bias", "Foo", "add"])
            lines.append(f"{key} = {self.init_call()}")
        return "init { " + " ".join(lines) + " }"

    def block(self, name: str) -> str:
        rng = self.rng
        params = []
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            p = rng.choice(["c", "k", "n", "p", "stride", "d", "width"] + ODD_NAMES[:6])
            params.append(f"{p}={self.expr(2)}" if rng.random() < 0.4 else p)
        saved = (self.values, self.consts)
        self.values, self.consts = [], [p.split("=")[0] for p in params]
        body = [self.stmt(True) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.8:
            body.insert(0, "input x")
            self.values.append("x")
            body.insert(1, f"y = x -> {self.step()}")
            body.append("output y")
        self.values, self.consts = saved
        return f"block {name}({', '.join(params)}) {{\n    " + "\n    ".join(body) + "\n}"

    def file(self) -> str:
        rng = self.rng
        self.blocks = [rng.choice(["Blk", "Res", "Stage", "Foo", "ReLU", "X"]) + str(i)
                       for i in range(rng.choice([0, 0, 1, 2, 3]))]
        items = []
        for _ in range(rng.choice([0, 1, 2])):
            n = rng.choice(["WIDTH", "DEPTH", "P", "C"])
            self.consts.append(n)
            items.append(f"const {n} = {self.expr()}")
        for b in self.blocks:
            items.append(self.block(b))
        for _ in range(rng.choice([0, 1, 1, 1, 1, 1, 1, 2])):
            self.values = []
            body = []
            if rng.random() < 0.85:
                self.values.append("x")
                body.append(f"input x: {self.shape()}")
            body += [self.stmt(False) for _ in range(rng.randint(0, 7))]
            if rng.random() < 0.8 and self.values:
                body.append(f"output {self.values[-1]}")
            items.append(f"model {rng.choice(['M', 'Net', 'list', 'class', 'Foo'])} {{\n    "
                         + "\n    ".join(body) + "\n}")
        rng.shuffle(items)
        return "\n\n".join(items) + "\n"


# ------------------------------------------------------ shape-aware models
class Net:
    """A random model that mostly checks clean: shapes are tracked for a set of layers."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.values: dict[str, tuple] = {}   # name -> (shape, dtype); shape[0] is the batch
        self.used: set[str] = set()
        self.blocks: dict[str, str] = {}
        self.lines: list[str] = []
        self.counter = 0

    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    # each option: (text, new shape) for a float tensor of ``s``
    def options(self, s: tuple, dtype: str) -> list[tuple[str, tuple]]:
        rng = self.rng
        b = s[0]
        if dtype in ("int64", "int32"):
            if len(s) == 2:
                e = rng.choice([4, 8, 16])
                return [(f"Embedding({rng.choice([10, 50, 100])}, {e})", (b, s[1], e))]
            return []
        if dtype == "bool":
            return []
        acts = ["ReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "ELU(0.5)", "LeakyReLU(0.1)", "Identity",
                "Hardswish", "Softplus", "Mish", "ReLU6", "Hardtanh(-2.0, 2.0)", "SELU",
                f"Dropout({rng.choice(['0.1', '0.5', '0'])})", "GELU(approximate='tanh')",
                "ReLU(inplace=true)", "PReLU"]
        out = [(rng.choice(acts), s) for _ in range(3)]
        last = s[-1]
        if len(s) >= 2 and isinstance(last, int):
            n = rng.choice([1, 2, 4, 8, 10, 16, 32])
            out.append((f"Linear({n}{', bias=false' if rng.random() < 0.2 else ''})", s[:-1] + (n,)))
            out.append((f"LayerNorm({last})", s))
            out.append(("Softmax(dim=-1)", s))
            out.append(("LogSoftmax(-1)", s))
        if len(s) == 4 and all(isinstance(d, int) for d in s[1:]):
            _, c, h, w = s
            co = rng.choice([c, c, 4, 8, 16])
            k = rng.choice([1, 3, 5])
            out.append((f"Conv2d({co}, {k}, padding={k // 2})", (b, co, h, w)))
            out.append((f"Conv2d({co}, kernel_size={k}, padding=\"same\", bias=false)", (b, co, h, w)))
            out.append((f"Conv2d({co}, 3, stride=2, padding=1)", (b, co, (h - 1) // 2 + 1, (w - 1) // 2 + 1)))
            if h >= 3 and w >= 3:
                out.append((f"Conv2d({co}, 3)", (b, co, h - 2, w - 2)))
            out += [("BatchNorm2d", s), ("BatchNorm2d(momentum=none)", s), ("Dropout2d(0.2)", s),
                    ("InstanceNorm2d(affine=true)", s), ("ZeroPad2d(1)", (b, c, h + 2, w + 2)),
                    ("AdaptiveAvgPool2d(1)", (b, c, 1, 1)), ("AdaptiveMaxPool2d((2, 2))", (b, c, 2, 2)),
                    ("Flatten", (b, c * h * w)), (f"ConvTranspose2d({co}, 2, stride=2)", (b, co, 2 * h, 2 * w))]
            if c % 2 == 0:
                out.append(("GroupNorm(2)", s))
            if c % 4 == 0:
                out.append(("PixelShuffle(2)", (b, c // 4, 2 * h, 2 * w)))
            if h >= 2 and w >= 2:
                out += [("MaxPool2d(2)", (b, c, h // 2, w // 2)), ("AvgPool2d(2)", (b, c, h // 2, w // 2)),
                        ("MaxPool2d(3, stride=2, padding=1)", (b, c, (h - 1) // 2 + 1, (w - 1) // 2 + 1))]
            if h * w <= 256:
                out.append(("Upsample(scale_factor=2)", (b, c, 2 * h, 2 * w)))
        if len(s) == 4 and isinstance(s[1], int) and not all(isinstance(d, int) for d in s[2:]):
            # symbolic height and width: a new symbolic marker after every op that changes them
            _, c, h, w = s
            co = rng.choice([c, 4, 8])
            hw = (f"{h}'", f"{w}'")
            out += [(f"Conv2d({co}, 3, padding=1)", (b, co, h, w)), ("BatchNorm2d", s),
                    (f"Conv2d({co}, 3, stride=2, padding=1)", (b, co) + hw), ("MaxPool2d(2)", (b, c) + hw),
                    ("MaxPool2d(3, stride=2, padding=1, ceil_mode=true)", (b, c) + hw),
                    ("AvgPool2d(3, stride=2, ceil_mode=true)", (b, c) + hw),
                    ("Upsample(scale_factor=2)", (b, c) + hw), (f"ConvTranspose2d({co}, 2, stride=2)", (b, co) + hw),
                    ("AdaptiveAvgPool2d(1)", (b, c, 1, 1)), ("AdaptiveAvgPool2d((2, 2))", (b, c, 2, 2))]
        if len(s) == 3 and all(isinstance(d, int) for d in s[1:]):
            _, c, l_ = s
            co = rng.choice([c, 4, 8])
            out += [(f"Conv1d({co}, 3, padding=1)", (b, co, l_)), ("BatchNorm1d", s),
                    ("AdaptiveAvgPool1d(1)", (b, c, 1)), ("transpose(1, 2)", (b, l_, c)),
                    ("Flatten", (b, c * l_))]
            if l_ >= 2:
                out.append(("MaxPool1d(2)", (b, c, l_ // 2)))
        if len(s) == 3 and isinstance(last, int):
            hdim = rng.choice([4, 8, 16])
            out += [(f"LSTM({hdim}, batch_first=true)", (b, s[1], hdim)),
                    (f"GRU({hdim}, batch_first=true, bidirectional=true)", (b, s[1], 2 * hdim)),
                    (f"RNN({hdim}, batch_first=true, output=\"last\")", (b, hdim)),
                    ("mean(dim=1)", (b, last))]
            if last % 2 == 0:
                out.append((f"TransformerEncoderLayer(2, {2 * last}, batch_first=true, dropout=0.0)", s))
        if len(s) == 2 and isinstance(last, int):
            out += [("BatchNorm1d", s), ("unsqueeze(1)", (b, 1, last))]
            if last % 2 == 0 and last > 2:
                out.append((f"Unflatten(1, (2, {last // 2}))", (b, 2, last // 2)))
        return out

    def block_defs(self) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self.blocks["Residual"] = (
                "block Residual(c, k=3) {\n    input x\n    const pad = k // 2\n"
                "    y = x\n        -> conv1: Conv2d(c, k, padding=pad, bias=false)\n"
                "        -> bn: BatchNorm2d\n        -> ReLU\n        -> add(x)\n    output y\n}")
        if rng.random() < 0.2:  # block constants: one shadows a top-level constant, one uses it above
            self.blocks["Wide"] = ("const SCALE = 2\n\nblock Wide(c) {\n    input x\n    const w = SCALE * c\n"
                                   "    const SCALE = SCALE + c\n    const v = w + SCALE - c\n"
                                   "    y = x -> Linear(v) -> Linear(w) -> Linear(SCALE)\n    output y\n}")
        if rng.random() < 0.5:
            self.blocks["Act"] = "block Act(p=0.1) {\n    input x\n    y = x -> ReLU -> Dropout(p)\n    output y\n}"
        if rng.random() < 0.4:
            self.blocks["Mlp"] = ("block Mlp(hidden, out=8) {\n    input x\n    h = x -> Linear(hidden) -> GELU\n"
                                  "    y = h -> Linear(out)\n    output y\n}")
        if "Residual" in self.blocks and rng.random() < 0.5:
            self.blocks["Stage"] = ("block Stage(c, n=2) {\n    input x\n    y = x -> Residual(c) * n"
                                    " -> Residual(c, k=2 * 1 + 1)\n    output y\n}")
        if rng.random() < 0.3:
            self.blocks["Pair"] = ("block Pair(w) {\n    input a\n    input b\n"
                                   "    s = add(a, b) -> Linear(w)\n    t = mul(a, b)\n    output s, t\n}")

    def block_options(self, s: tuple) -> list[tuple[str, tuple]]:
        out = []
        c = s[1] if len(s) > 1 else None
        if "Residual" in self.blocks and len(s) == 4 and isinstance(c, int):
            out.append((f"Residual({c})", s))
            out.append((f"Residual({c}, k=5) * {self.rng.choice([1, 2, 3])}", s))
        if "Stage" in self.blocks and len(s) == 4 and isinstance(c, int):
            out.append((f"Stage({c}, n={self.rng.choice([1, 2])})", s))
        if "Wide" in self.blocks and len(s) >= 2 and isinstance(s[-1], int):
            c = self.rng.choice([1, 2, 3])
            out.append((f"Wide({c})", s[:-1] + (2 + c,)))
        if "Act" in self.blocks:
            out.append(("Act", s))
            out.append(("Act(0.3) * 2", s))
        if "Mlp" in self.blocks and len(s) >= 2 and isinstance(s[-1], int):
            o = self.rng.choice([4, 8])
            out.append((f"Mlp({self.rng.choice([8, 16])}, out={o})", s[:-1] + (o,)))
        return out

    def merge_options(self, cur: str, s: tuple, dtype: str) -> list[tuple[str, tuple]]:
        out = []
        for name, (t, dt) in self.values.items():
            if name == cur or dt != dtype or dtype != "float32":
                continue
            if t == s:
                out.append((f"add({name})", s))
                out.append((f"mul({name})", s))
            if len(t) == len(s) >= 2 and t[0] == s[0] and t[2:] == s[2:] and isinstance(s[1], int) \
                    and isinstance(t[1], int):
                out.append((f"concat({name}, dim=1)", (s[0], s[1] + t[1]) + s[2:]))
        return out

    def chain(self, src: str) -> tuple[str, tuple, str]:
        rng = self.rng
        s, dtype = self.values[src]
        steps = []
        for _ in range(rng.choice([1, 1, 2, 3, 4, 5, 6])):
            opts = self.options(s, dtype)
            if dtype == "float32":
                opts += self.block_options(s) * 2 + self.merge_options(src, s, dtype)
            if not opts:
                break
            text, ns = rng.choice(opts)
            same = [t for t, x in opts if x == s and "(" not in t.split(" ")[0][:1]]
            if ns == s and rng.random() < 0.1 and same:
                text = f"({text} -> {rng.choice(same)})"
            if ns == s and rng.random() < 0.1 and not text.startswith(("add", "mul", "concat")):
                text = f"{text} * {rng.choice([2, 3])}" if "*" not in text else text
            if rng.random() < 0.25:
                text = f"{self.fresh('l')}: {text}"
            if text.startswith("Embedding"):
                dtype = "float32"
            steps.append(text)
            s = ns
        return " -> ".join([src] + steps), s, dtype

    def model(self, train: bool) -> str:
        rng = self.rng
        self.block_defs()
        body = []
        consts = []
        if rng.random() < 0.3:
            consts.append(f"const WIDTH = {rng.choice([4, 8, 16])}")
        dataset = None
        if train:
            dataset, shape, classes = rng.choice([
                ("digits()", (1, 8, 8), 10), ("digits(flatten=true)", (64,), 10), ("iris()", (4,), 3),
                ("wine", (13,), 3), ("breast_cancer()", (30,), 2), ("diabetes()", (10,), None)])
            inputs = [("image", ("B",) + shape, "float32")]
        else:
            kind = rng.choice(["image", "image", "vec", "seq", "tokens", "signal", "two"])
            inputs = {
                "image": [("image", ("B", rng.choice([1, 3, 4]), rng.choice([4, 8, 16, 32, "H"]),
                                     rng.choice([4, 8, 16, "W"])), "float32")],
                "vec": [("x", ("B", rng.choice([4, 10, 32])), rng.choice(["float32", "float32", "float64"]))],
                "seq": [("x", ("B", rng.choice(["T", 6]), rng.choice([4, 8, 12])), "float32")],
                "tokens": [("tokens", ("B", rng.choice(["T", 7])), "int64")],
                "signal": [("x", ("B", rng.choice([1, 2, 4]), rng.choice([8, 16])), "float32")],
                "two": [("a", ("B", 8), "float32"), ("b", ("B", 8), "float32")],
            }[kind]
        for name, shape, dtype in inputs:
            dt = {"float32": rng.choice(["", "", "float"]), "float64": "double", "int64": "long"}[dtype]
            body.append(f"input {name}: {dt}[{', '.join(str(d) for d in shape)}]")
            self.values[name] = (shape, dtype)
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
            src = rng.choice(list(self.values))
            text, s, dtype = self.chain(src)
            target = self.fresh(rng.choice(["h", "feat", "y", "class", "self", "list"]))
            body.append(f"{target} = {text}")
            self.values[target] = (s, dtype)
            last = target
        outs = [last]
        if train:
            s, dtype = self.values[last]
            tail = []
            if len(s) > 2:
                tail.append("Flatten")
            n = classes if classes is not None else 1
            if dataset.startswith("breast") and rng.random() < 0.5:
                n = 1
            tail.append(f"fc: Linear({n})")
            body.append(f"logits = {last} -> {' -> '.join(tail)}")
            outs = ["logits"]
            loss = {10: "CrossEntropyLoss(label_smoothing=0.1)", 3: "CrossEntropyLoss()", 2: "CrossEntropyLoss"}
            loss_txt = "MSELoss()" if classes is None else ("BCEWithLogitsLoss()" if n == 1 else loss[classes])
            opt = rng.choice(["Adam(lr=1e-3)", "AdamW(lr=3e-3, weight_decay=1e-4)", "SGD(lr=0.1, momentum=0.9)",
                              "RMSprop()", "Adagrad(lr=0.01)"])
            extra = rng.sample(["scheduler = CosineAnnealingLR()", "scheduler = StepLR(step_size=2)",
                                "epochs = 3", "batch_size = 16", "seed = 1", "normalize = true",
                                "clip_grad_norm = 1.0", "val_split = 0.1", "precision = \"bf16\"",
                                "scheduler = OneCycleLR(max_lr=0.01)", "early_stopping = 2",
                                "val_data = digits()"], rng.randint(0, 4))
            body.append("train {\n        " + "\n        ".join(
                [f"data = {dataset}", f"loss = {loss_txt}", f"optimizer = {opt}"] + extra) + "\n    }")
        elif len(self.values) > 2 and rng.random() < 0.3:
            extra = rng.choice([k for k in self.values if k != last])
            outs.append(extra)
        body.append("output " + ", ".join(outs))
        if rng.random() < 0.2:
            body.append("init {\n        " + rng.choice([
                "Conv2d = kaiming_normal(mode=\"fan_out\", nonlinearity=\"relu\")",
                "Linear = xavier_uniform(gain=1.0)", "weight = normal(std=0.02)",
                "BatchNorm2d = constant(1.0)"]) + "\n        bias = zeros()\n    }")
        parts = consts + list(self.blocks.values())
        rng.shuffle(parts)
        parts.append(f"model {rng.choice(['Net', 'M', 'Model', 'list'])} {{\n    " + "\n    ".join(body) + "\n}")
        if rng.random() < 0.3 and parts[:-1]:
            parts.insert(len(parts), parts.pop(0))
        return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------- mutations
TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+|\"[^\"\n]*\"|"
                      r"'[^'\n]*'|->|//|#[^\n]*|\s+|.", re.S)
NUM_RE = re.compile(r"(?<![A-Za-z_0-9.])\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?")
VOCAB = ["->", "(", ")", "[", "]", "{", "}", ",", ":", "=", "*", "-", "+", "/", "//", "%", "model",
         "block", "input", "output", "const", "train", "init", "true", "false", "none", "x", "y",
         "ReLU", "Conv2d", "Linear", "add", "concat", "B", "1", "0", "-1", "3.5", '"same"', "\n"]


def _huge_expr(rng: random.Random) -> str:
    kind = rng.choice(["parens", "sum", "neg", "tuple", "list", "call"])
    n = rng.choice([10, 50, 99, 100, 101, 150, 200, 500, 3000])
    if kind == "parens":
        return "(" * n + "1" + ")" * n
    if kind == "sum":
        return " + ".join(["1"] * n)
    if kind == "neg":
        return "-" * n + "1"
    if kind == "tuple":
        return "(" * n + "1," + "),".join([""] * n) + ")"
    if kind == "list":
        return "[" * n + "1" + "]" * n
    return "f(" * n + "1" + ")" * n


def mutate(text: str, rng: random.Random, corpus: list[str]) -> str:
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 5])):
        op = rng.random()
        if not text:
            text = rng.choice(corpus)
        if op < 0.3:
            toks = TOKEN_RE.findall(text)
            if not toks:
                continue
            i = rng.randrange(len(toks))
            r = rng.random()
            if r < 0.3:
                del toks[i]
            elif r < 0.5:
                toks.insert(i, toks[i])
            elif r < 0.7:
                j = rng.randrange(len(toks))
                toks[i], toks[j] = toks[j], toks[i]
            elif r < 0.85:
                toks[i] = rng.choice(VOCAB)
            else:
                toks[i] = rng.choice(toks)
            text = "".join(toks)
        elif op < 0.45:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            r = rng.random()
            if r < 0.35:
                del lines[i]
            elif r < 0.65:
                lines.insert(j, lines[i])
            elif r < 0.85:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, rng.choice(rng.choice(corpus).split("\n")))
            text = "\n".join(lines)
        elif op < 0.65:
            nums = list(NUM_RE.finditer(text))
            if not nums:
                continue
            m = rng.choice(nums)
            r = rng.random()
            if r < 0.3:
                new = rng.choice(HUGE_INTS)
            elif r < 0.45:
                new = "-" + m.group()
            elif r < 0.6:
                new = "0"
            elif r < 0.8:
                new = rng.choice(ODD_FLOATS)
            elif r < 0.9:
                new = str(rng.randint(1, 10**rng.randint(1, 25)))
            else:
                new = _huge_expr(rng)
            text = text[:m.start()] + new + text[m.end():]
        elif op < 0.8:
            i = rng.randint(0, len(text))
            ch = rng.choice(ODD_CHARS) if rng.random() < 0.7 else chr(rng.randint(0, 0x2FFFF))
            if 0xD800 <= ord(ch[0]) <= 0xDFFF and rng.random() < 0.5:
                ch = "?"
            text = text[:i] + ch + text[i + (rng.random() < 0.3):]
        elif op < 0.88:
            idx = [i for i, c in enumerate(text) if c in LOOKALIKES]
            if idx:
                i = rng.choice(idx)
                text = text[:i] + LOOKALIKES[text[i]] + text[i + 1:]
        elif op < 0.93:
            text = text[:rng.randint(0, len(text))]
        elif op < 0.97:
            r = rng.random()
            text = text.replace("\n", "\r\n") if r < 0.3 else text.replace("\n", "\r") if r < 0.5 else \
                text.replace("    ", "\t") if r < 0.7 else text.replace("\n", " ")
        else:
            other = rng.choice(corpus)
            a, b = sorted(rng.randint(0, len(other)) for _ in range(2))
            i = rng.randint(0, len(text))
            text = text[:i] + other[a:b] + text[i:]
    return text


def load_corpus() -> list[str]:
    out = []
    for pattern in SEED_GLOBS:
        for p in sorted(ROOT.glob(pattern)):
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "Not a mutation seed" not in text:  # slow by design: mutants would be slow too
                out.append(text)
    return out


# --------------------------------------------------------------- cases
def make_case(seed: int, i: int, corpus: list[str]) -> tuple[str, str, dict[str, int] | None]:
    """Case ``i`` of ``seed``: (origin, text, bindings or None)."""
    rng = random.Random(f"{seed}:{i}")
    origin, text = _make_text(rng, corpus)
    bindings = None
    if rng.random() < 0.1:  # `--set T=64`: symbolic dims given a size, sensible or not
        bindings = {sym: rng.choice([1, 2, 3, 7, 64, 2**40, 2**40 + 1, 0, -1])
                    for sym in SYMBOLS if rng.random() < 0.5}
    return origin, text, bindings


def _make_text(rng: random.Random, corpus: list[str]) -> tuple[str, str]:
    r = rng.random()
    if r < 0.33:
        return "model", Net(rng).model(train=rng.random() < 0.3)
    if r < 0.58:
        return "grammar", Gen(rng).file()
    if r < 0.7:
        base = Net(rng).model(train=rng.random() < 0.3)
        return "mutated-model", mutate(base, rng, corpus)
    if r < 0.99:
        return "mutated-file", mutate(rng.choice(corpus), rng, corpus)
    return "stress", stress(rng)


def stress(rng: random.Random) -> str:
    """A moderately sized version of one limit probe."""
    n = rng.choice([10, 60, 64, 65, 100, 150, 300, 2000])
    kind = rng.choice(["expr", "blocks", "repeat", "wide", "consts", "lines", "symbolic"])
    if kind == "symbolic":
        steps = rng.sample(["Conv2d(4, 3, stride=2, padding=1)", "MaxPool2d(3, stride=2, padding=1, ceil_mode=true)",
                            "AvgPool2d(2, ceil_mode=true)", "Upsample(scale_factor=2)", "Conv2d(4, 3, padding=1)",
                            "ConvTranspose2d(4, 3, stride=2)", "MaxPool2d(2)"], rng.randint(1, 3))
        return (f"model M {{ input x: [B, 4, H, W] y = x -> ({' -> '.join(steps)}) * {min(n, 10_000)} "
                f"-> AdaptiveAvgPool2d(1) -> Flatten -> Linear(3) output y }}\n")
    if kind == "expr":
        return f"model M {{ input x: [B, 4] const C = {_huge_expr(rng)} y = x -> Linear(4) output y }}\n"
    if kind == "blocks":
        return deep_blocks(n)
    if kind == "repeat":
        return (f"block A() {{ input x y = x -> ReLU * {n} output y }}\n"
                f"model M {{ input x: [B, 4] y = x -> A * {n} output y }}\n")
    if kind == "wide":
        return "model M { input x: [B, 4] y = x" + " -> ReLU" * (n * 5) + " output y }\n"
    if kind == "consts":
        return const_doubling(min(n, 70))
    return "# " + "x" * (n * 1000) + "\nmodel M { input x: [B, 4] output x }\n"


def deep_blocks(n: int) -> str:
    parts = [f"block L{i}(c=2) {{ input x y = x -> L{i + 1}(c) output y }}" for i in range(n)]
    parts.append(f"block L{n}(c=2) {{ input x y = x -> Linear(c) output y }}")
    parts.append("model M { input x: [B, 4] y = x -> L0 output y }")
    return "\n".join(parts) + "\n"


def const_doubling(n: int) -> str:
    """Block constants each used twice by the next: written size grows 2**n when inlined."""
    consts = " ".join(f"const c{i + 1} = c{i} + c{i} - c{i}" for i in range(n))
    return (f"block D(c0) {{ input x {consts} y = x -> Linear(c{n}) output y }}\n"
            "model M { input x: [B, 4] y = x -> D(2) -> D(3) output y }\n")


# ------------------------------------------------------------ limit probes
def probes() -> list[tuple[str, str | bytes, str | None]]:
    """(name, text, expected diagnostic code or None for "any, but no failure")."""
    m = "model M {{ input x: [B, 4] const C = {} y = x -> Linear(4) output y }}\n"
    big_body = "    y = x -> Linear(4) -> ReLU  # padding padding padding padding padding\n"
    return [
        ("5,000 nested parentheses", m.format("(" * 5000 + "1" + ")" * 5000), "limit"),
        ("100,000-term sum", m.format(" + ".join(["1"] * 100_000)), "limit"),
        ("50,000 unary minus signs", m.format("-" * 50_000 + "1"), "limit"),
        ("3,000 nested tuples", m.format("(" * 3000 + "1," + "),".join([""] * 3000) + ")"), "limit"),
        ("3,000 nested lists", m.format("[" * 3000 + "1" + "]" * 3000), "limit"),
        ("3,000 nested calls", m.format("f(" * 3000 + "1" + ")" * 3000), "limit"),
        ("10**100 literal", m.format("1" + "0" * 100), "limit"),
        ("5,000-digit literal", m.format("9" * 5000), "limit"),
        ("1e999 literal", m.format("1e999"), "limit"),
        ("overflowing float product", m.format("1e300 * 1e300"), "limit"),
        ("10**100 dimension", "model M { input x: [B, 1" + "0" * 100 + "] output x }\n", "limit"),
        ("2**40+1 dimension", "model M { input x: [B, 1099511627777] output x }\n", "limit"),
        ("10**100 repeat", "model M { input x: [B, 4] y = x -> ReLU * (1" + "0" * 100 + ") output y }\n",
         "limit"),
        ("repeat 10,001", "model M { input x: [B, 4] y = x -> ReLU * 10001 output y }\n", "limit"),
        ("300,000 layers", "block A() { input x y = x" + " -> ReLU" * 30 + " output y }\n"
         "model M { input x: [B, 4] y = x -> A * 10000 output y }\n", "limit"),
        ("2**64 layers through nesting", "\n".join(
            f"block R{i}() {{ input x y = x -> R{i + 1} * 2 output y }}" for i in range(64))
         + "\nblock R64() { input x y = x -> ReLU output y }\nmodel M { input x: [B, 4] y = x -> R0 output y }\n",
         "limit"),
        ("blocks nested 100 deep", deep_blocks(100), "limit"),
        ("blocks nested 60 deep", deep_blocks(60), None),
        ("recursive block", "block A() { input x y = x -> A output y }\n"
         "model M { input x: [B, 4] y = x -> A output y }\n", "recursion"),
        ("mutually recursive blocks", "block A() { input x y = x -> B output y }\n"
         "block B() { input x y = x -> C output y }\nblock C() { input x y = x -> (ReLU -> A) output y }\n"
         "model M { input x: [B, 4] y = x -> A output y }\n", "recursion"),
        ("recursive block through a repeat", "block A() { input x y = x -> A * 2 output y }\n"
         "model M { input x: [B, 4] y = x -> A output y }\n", "recursion"),
        ("20 MB file", "model M {\n    input x: [B, 4]\n" + big_body * (20_000_000 // len(big_body))
         + "    output y\n}\n", "limit"),
        ("20 MB comment", "# " + "x" * 20_000_000 + "\n", "limit"),
        ("1 MB line", "model M { input x: [B, 4] y = x" + " -> ReLU" * 100_000 + " output y }\n", None),
        ("200,000-character name", "model M { input x: [B, 4] " + "y" * 200_000 + " = x -> ReLU output "
         + "y" * 199_999 + "z }\n", None),
        ("200,000-character layer kind", "model M { input x: [B, 4] y = x -> " + "Linear" * 30_000
         + "(4) output y }\n", "unknown-layer"),
        ("1 MB string", "model M { input x: [B, 4] y = x -> GELU(approximate=\"" + "a" * 1_000_000
         + "\") output y }\n", None),
        ("NUL bytes", "\0" * 100_000, "syntax"),
        ("NUL byte in a model", "model M { input x: [B, 4]\0 output x }\n", "syntax"),
        ("lone surrogate", "model M { input x: [B, 4] y = x -> \ud800 output y }\n", "syntax"),
        ("form feed and line separators", "model M {\x0c input x: [B, 4]\u2028 y = x -> Foo\u2029 output y }\n",
         None),
        ("carriage returns only", "model M {\r input x: [B, 4]\r y = x -> Foo\r output y\r}\r", None),
        ("exponential constant inlining", const_doubling(60), None),
        ("5,000 chained block constants", "block D(c0) { input x " + " ".join(
            f"const c{i + 1} = c{i} + 1" for i in range(5000)) + " y = x -> Linear(c5000) output y }\n"
         "model M { input x: [B, 4] y = x -> D(2) -> D(3) output y }\n", None),
        ("a block constant shadowing a top-level one", "const W = 3\nblock D(p) { input x const b = W * p "
         "const W = W + p y = x -> Linear(b) -> Linear(W) output y }\n"
         "model M { input x: [B, 4] y = x -> D(2) -> D(5) output y }\n", None),
        ("10**12 uses of empty blocks", "block B0() { input x output x }\n"
         "block B1() { input x y = x -> B0 * 10000 output y }\n"
         "block B2() { input x y = x -> B1 * 10000 output y }\n"
         "model M { input x: [B, 4] y = x -> B2 * 10000 output y }\n", "limit"),
        ("20,000 undefined names among 20,000 values", "model M {\n    input x: [B, 4]\n" + "".join(
            f"    y{i} = x -> ReLU\n" for i in range(20_000)) + "".join(
            f"    z{i} = y{i}x -> ReLU\n" for i in range(20_000)) + "    output y0\n}\n", "undefined-name"),
        ("15,000 comments (fmt)", "model M {\n    input x: [B, 4]\n" + "".join(
            f"    # note {i}\n    y{i} = x -> ReLU  # after {i}\n" for i in range(15_000))
         + "    output y0\n}\n", None),
        ("empty file", "", "missing-model"),
        ("only whitespace", " \n\t\n" * 1000, "missing-model"),
        ("unclosed braces", "model M {" * 5000, "syntax"),
        ("invalid UTF-8 (CLI)", b"model M { input x: [B, 4] \xff\xfe output x }\n", "io-error"),
        ("NUL bytes (CLI)", b"\0" * 10_000, "syntax"),
    ]


# ----------------------------------------------------------------- checks
def _count_parses():
    """Record each successful ``graphc.syntax.parse`` (compile_source imports it at call time),
    so that "parsed" is compile_source's own parse and no input is parsed twice for it."""
    import graphc.syntax

    real = graphc.syntax.parse
    if getattr(real, "_counting", False):
        return

    def parse(text, path="<string>"):
        tree = real(text, path)
        _parsed.append(True)
        return tree

    parse._counting = True
    graphc.syntax.parse = parse


_parsed: list[bool] = []
_count_parses()
class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` swallows it."""


def _on_alarm(signum, frame):
    raise _Timeout()


@dataclass
class Result:
    parsed: bool = False
    clean: bool = False
    codes: set[str] = field(default_factory=set)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    seconds: float = 0.0


def diag_out_of_range(d, lines: list[str]) -> str | None:
    s = d.span
    n = len(lines)
    if not 1 <= s.line <= n:
        return f"line {s.line} outside the file (1..{n})"
    if not 1 <= s.col <= len(lines[s.line - 1]) + 1:
        return f"column {s.col} outside line {s.line} (1..{len(lines[s.line - 1]) + 1})"
    if not s.line <= s.end_line <= n:
        return f"end line {s.end_line} outside {s.line}..{n}"
    if s.end_col < 1 or (s.end_line == s.line and s.end_col < s.col):
        return f"end column {s.end_col} before the start {s.col}"
    return None


def check_text(text: str, path: str = "fuzz.model", timeout: float = 0,
               bindings: dict[str, int] | None = None) -> Result:
    """Run every stage on ``text``; record failures instead of raising."""
    import json

    from graphc import report
    from graphc.api import compile_source
    from graphc.emit.dot import to_dot
    from graphc.errors import GraphcError
    from graphc.explain import explain

    res = Result()
    t0 = time.perf_counter()
    if timeout:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    stage = "compile_source"
    try:
        _parsed.clear()
        comp = compile_source(text, path, bindings)
        res.parsed = bool(_parsed)
        res.codes = {d.code for d in comp.diagnostics}
        lines = text.split("\n")
        for d in comp.diagnostics:
            why = diag_out_of_range(d, lines)
            if why:
                res.failures.append(("diagnostic out of range", f"{d.span}: {d.code}: {d.message[:120]} ({why})"))
        stage = "report"  # what `graphc check` prints, in its three formats
        for d in comp.diagnostics[:200]:
            report.format_text(d, comp.source, color=True)
            report.format_github(d)
        json.dumps([d.to_json() for d in comp.diagnostics[:200]])
        if comp.program is not None:  # `check --explain` and `viz` also run on programs with errors
            stage = "explain"
            explain(comp.program)
            if not any(d.code in ("syntax", "missing-model") for d in comp.errors):
                stage = "to_dot"
                to_dot(comp.program)
                to_dot(comp.program, rankdir="LR", depth=1, collapse=True)
        if comp.ok:
            res.clean = True
            stage = "python_source"
            src = comp.python_source()
            try:
                compile(src, "<generated>", "exec")
            except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                res.failures.append(("generated code does not compile", f"{type(e).__name__}: {e}"))
            stage = "train_source"
            train = comp.train_source()
            if train is not None:
                try:
                    compile(train, "<generated train>", "exec")
                except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                    res.failures.append(("generated code does not compile", f"train: {type(e).__name__}: {e}"))
            stage = "summary"
            summary = comp.summary(batch_size=3)
            summary.to_text()
            summary.to_text(depth=0)
            json.dumps(summary.to_json())
        if res.parsed:
            stage = "fmt"
            from graphc.fmt import format_text, same_meaning

            try:
                new = format_text(text, path)
            except GraphcError:
                new = None
            if new is not None and new != text and not same_meaning(text, new):
                res.failures.append(("fmt changes the meaning", new[:200]))
    except _Timeout:
        res.failures.append(("hang", f"more than {timeout:g} s in {stage}"))
    except (Exception, RecursionError, MemoryError) as e:  # noqa: B014 - named for the reader
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if "/graphc/" in f.filename.replace("\\", "/")), "?")
        res.failures.append(("crash", f"{stage}: {type(e).__name__}: {str(e)[:200]} (at {where})"))
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
    res.seconds = time.perf_counter() - t0
    return res


def check_bytes(data: bytes, timeout: float = 0) -> Result:
    """The CLI's path: write the bytes to a file and ``graphc.cli.load`` it."""
    import tempfile

    from graphc.cli import load

    res = Result()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzz.model"
        p.write_bytes(data)
        t0 = time.perf_counter()
        try:
            comp = load(str(p))
            res.codes = {x.code for x in comp.diagnostics}
            res.parsed = comp.program is not None
            lines = comp.source.text.split("\n")
            for x in comp.diagnostics:
                why = diag_out_of_range(x, lines)
                if why:
                    res.failures.append(("diagnostic out of range", f"{x.code}: {why}"))
        except (Exception, RecursionError, MemoryError) as e:
            res.failures.append(("crash", f"cli.load: {type(e).__name__}: {str(e)[:200]}"))
        res.seconds = time.perf_counter() - t0
    return res


def shorten(text: str, n: int = 400) -> str:
    r = repr(text)
    return r if len(r) <= n else r[: n // 2] + f" ...[{len(text):,} chars]... " + r[-n // 2:]


# ----------------------------------------------------------------- runner
_CORPUS: list[str] = []


def _init_worker(seed_corpus):
    global _CORPUS
    _CORPUS = seed_corpus
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))


def _run_chunk(job):
    seed, lo, hi, timeout = job
    out = []
    for i in range(lo, hi):
        origin, text, bindings = make_case(seed, i, _CORPUS)
        r = check_text(text, timeout=timeout, bindings=bindings)
        out.append((i, origin, r.parsed, r.clean, r.failures, r.seconds))
    return out


def _probe_in_process(k: int, timeout: float) -> tuple[Result, int]:
    """Probe ``k`` in a fresh interpreter: its result, and the process's peak memory in bytes
    (everything graphc needs included: about 90 MiB for an empty file)."""
    import ast
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.robust", "--run-probe", str(k),
                             "--timeout", str(timeout)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    r = Result()
    if proc.returncode != 0:
        r.failures.append(("crash", f"the probe's process exited with {proc.returncode}"))
    else:
        r.seconds, codes, r.failures = ast.literal_eval(out.strip().splitlines()[-1])
        r.codes = set(codes)
    return r, usage.ru_maxrss * 1024  # Linux reports KiB


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per input before it is a hang")
    ap.add_argument("--slowest", type=int, default=5)
    ap.add_argument("--only", type=int, action="append", help="run only case I (repeatable); prints it")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--probe-memory", action="store_true",
                    help="run each limit probe in a fresh process and report its peak memory")
    ap.add_argument("--run-probe", type=int, help=argparse.SUPPRESS)  # one probe, for --probe-memory
    args = ap.parse_args(argv)
    if args.run_probe is not None:
        _, text, want = probes()[args.run_probe]
        r = check_bytes(text, args.timeout) if isinstance(text, bytes) else check_text(text, timeout=args.timeout)
        print(repr((r.seconds, sorted(r.codes), r.failures)))
        return 0
    corpus = load_corpus()
    t_start = time.perf_counter()

    if args.only:
        _init_worker(corpus)
        bad = 0
        for i in args.only:
            origin, text, bindings = make_case(args.seed, i, corpus)
            r = check_text(text, timeout=args.timeout, bindings=bindings)
            print(f"case {i} ({origin}, {r.seconds:.2f} s): parsed={r.parsed} clean={r.clean} bindings={bindings}")
            print(text if len(text) < 20_000 else shorten(text, 4000))
            for kind, detail in r.failures:
                print(f"FAIL {kind}: {detail}")
            bad += bool(r.failures)
        return 1 if bad else 0

    failures: list[tuple[str, str, str]] = []   # (kind, where, detail)
    n_fail = {"crash": 0, "diagnostic out of range": 0, "generated code does not compile": 0, "hang": 0,
              "fmt changes the meaning": 0, "probe": 0}
    # ---- probes
    probe_lines = []
    if not args.no_probes:
        for k, (name, text, want) in enumerate(probes()):
            memory = ""
            if args.probe_memory:
                r, peak = _probe_in_process(k, args.timeout)
                memory = f" {peak / 2**20:7.0f} MiB"
            elif isinstance(text, bytes):
                r = check_bytes(text, args.timeout)
            else:
                r = check_text(text, timeout=args.timeout)
            ok = not r.failures and (want is None or want in r.codes)
            probe_lines.append(f"  {'ok  ' if ok else 'FAIL'} {r.seconds:6.2f} s{memory}  {name}: "
                               f"{', '.join(sorted(r.codes)) or 'no diagnostics'}")
            for kind, detail in r.failures:
                n_fail[kind] += 1
                failures.append((kind, f"probe '{name}'", detail))
            if not r.failures and not ok:
                n_fail["probe"] += 1
                failures.append(("probe", f"probe '{name}'", f"expected a '{want}' diagnostic, got "
                                 f"{sorted(r.codes)}"))
    # ---- random cases
    tried = parsed = clean = 0
    by_origin: dict[str, list[int]] = {}
    slow: list[tuple[float, int, str]] = []
    chunk = 200
    jobs = [(args.seed, lo, min(lo + chunk, args.cases), args.timeout) for lo in range(0, args.cases, chunk)]
    if args.jobs > 1 and len(jobs) > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(args.jobs, _init_worker, (corpus,))
        results = pool.imap_unordered(_run_chunk, jobs)
    else:
        pool = None
        _init_worker(corpus)
        results = map(_run_chunk, jobs)
    done = 0
    for batch in results:
        for i, origin, p, c, fails, secs in batch:
            tried += 1
            parsed += p
            clean += c
            o = by_origin.setdefault(origin, [0, 0, 0])
            o[0] += 1
            o[1] += p
            o[2] += c
            slow.append((secs, i, origin))
            for kind, detail in fails:
                n_fail[kind] += 1
                if sum(1 for f in failures if f[0] == kind) < 25:
                    _, text, bindings = make_case(args.seed, i, corpus)
                    failures.append((kind, f"case {i} ({origin}{', bindings ' + str(bindings) if bindings else ''}) "
                                     f"{shorten(text)}", detail))
        slow.sort(reverse=True)
        del slow[args.slowest:]
        done += len(batch)
        if sys.stderr.isatty():
            print(f"\r{done}/{args.cases}", end="", file=sys.stderr, flush=True)
    if pool is not None:
        pool.close()
        pool.join()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    elapsed = time.perf_counter() - t_start

    print(f"graphc robustness fuzzing: seed {args.seed}, {args.cases:,} random inputs, {args.jobs} job(s), "
          f"{elapsed:.0f} s")
    if probe_lines:
        print(f"\nlimit probes ({len(probe_lines)}):")
        print("\n".join(probe_lines))
    print(f"\n{'origin':16} {'inputs':>8} {'parsed':>8} {'clean':>8}")
    for origin in sorted(by_origin):
        t, p, c = by_origin[origin]
        print(f"{origin:16} {t:8,} {p:8,} {c:8,}")
    print(f"{'all':16} {tried:8,} {parsed:8,} {clean:8,}")
    print(f"\ninputs tried:                     {tried:,} (+ {len(probe_lines)} probes)")
    print(f"parsed:                           {parsed:,}")
    print(f"clean (no errors; code generated): {clean:,}")
    print(f"crashes:                          {n_fail['crash']}")
    print(f"diagnostics outside the file:     {n_fail['diagnostic out of range']}")
    print(f"generated code not compiling:     {n_fail['generated code does not compile']}")
    print(f"fmt changing the meaning:         {n_fail['fmt changes the meaning']}")
    print(f"hangs (over {args.timeout:g} s):            {n_fail['hang']}")
    print(f"probes without their diagnostic:  {n_fail['probe']}")
    print("\nslowest inputs:")
    for secs, i, origin in slow:
        _, text, _ = make_case(args.seed, i, corpus)
        print(f"  {secs:6.2f} s  case {i} ({origin}, {len(text):,} chars)")
    for kind, where, detail in failures:
        print(f"\nFAIL {kind}: {where}\n     {detail}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
