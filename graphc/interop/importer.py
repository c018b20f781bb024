"""``graphc import MODULE:CALLABLE``: an nn.Module as a checked .model file, verified.

Steps: build the module (importlib, ``--arg`` keyword arguments), trace it with torch.fx in eval
mode (importer_trace), write the .model text with blocks recovered (importer_write), then verify
it: graphc checks and builds the text, the original's ``state_dict`` loads into the built module
with ``strict=True``, the parameter counts agree and so do the outputs on random inputs. Only
then is the file written, atomically (``--force`` writes an unverified file, with a warning).
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from graphc.interop.importer_layers import Unsupported
from graphc.interop.importer_trace import Importer, exception_line, source_line, trace
from graphc.interop.importer_write import file_text

DTYPES = {"float": "", "float32": "", "double": "double", "float64": "double", "half": "half",
          "float16": "half", "bfloat16": "bfloat16", "long": "long", "int64": "long", "int": "int",
          "int32": "int", "bool": "bool"}
RTOL, ATOL = 1e-5, 1e-6


class ImportFailure(Exception):
    """One line (or a few) for the user: what stops the import, and where."""


@dataclass
class Verified:
    params: int
    max_diff: float
    exact: bool
    seconds: float


# ----------------------------------------------------------------------- arguments
def parse_shape(text: str) -> tuple[str, list]:
    """``B,3,224,224`` or ``long[B,16]`` -> (dtype prefix, dims); a name is a symbolic size."""
    s = text.strip()
    dt = ""
    if "[" in s:
        if not s.endswith("]"):
            raise ImportFailure(f"--input {text!r}: write a shape as B,3,224,224 or long[B,16]")
        head, s = s.split("[", 1)
        s = s[:-1]
        if head.strip() not in DTYPES:
            raise ImportFailure(f"--input {text!r}: unknown dtype {head!r} (one of {', '.join(DTYPES)})")
        dt = DTYPES[head.strip()]
    dims: list = []
    for part in re.split(r",|(?<=\d)x(?=\d)", s):  # 3x224x224 too, but not the x of a name
        part = part.strip()
        if part.isdigit() and int(part) > 0:
            dims.append(int(part))
        elif part.isidentifier():
            dims.append(part)
        else:
            raise ImportFailure(f"--input {text!r}: {part!r} is not a size (a positive integer or a name such as B)")
    return dt, dims


def parse_arg(text: str) -> tuple[str, object]:
    """``k=v``: v a Python literal (``num_classes=10``, ``weights=None``), else the string."""
    if "=" not in text:
        raise ImportFailure(f"--arg {text!r}: write NAME=VALUE (num_classes=10)")
    k, v = text.split("=", 1)
    if not k.strip().isidentifier():
        raise ImportFailure(f"--arg {text!r}: {k!r} is not an argument name")
    try:
        val = ast.literal_eval(v.strip())
    except (ValueError, SyntaxError):
        val = v.strip()
    return k.strip(), val


def build_module(spec: str, kwargs: dict):
    """``pkg.mod:Callable`` called with ``kwargs``: the nn.Module to import, in eval mode."""
    import torch

    if ":" not in spec:
        raise ImportFailure(f"{spec!r}: write MODULE:CALLABLE (torchvision.models:resnet18, mypkg.nets:Net)")
    mod_name, attr = spec.split(":", 1)
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # a module beside the working directory, as `python -m` finds it
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is one line
        raise ImportFailure(f"cannot import {mod_name}: {type(e).__name__}: {e}") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportFailure(f"{mod_name} has no {attr!r}")
        obj = getattr(obj, part)
    try:
        torch.manual_seed(0)
        net = obj(**kwargs) if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    except Exception as e:  # noqa: BLE001
        where = exception_line(e)
        raise ImportFailure(f"{spec}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) raised "
                            f"{type(e).__name__}: {e}" + (f"\n  at {where}" if where else "")) from None
    if not isinstance(net, torch.nn.Module):
        raise ImportFailure(f"{spec} gave a {type(net).__name__}, not an nn.Module")
    return net.eval()


# ----------------------------------------------------------------------- import
def import_text(net, shapes: list[tuple[str, list]], header: str = "") -> str:
    """The .model text of ``net`` (Unsupported when a construct cannot be written)."""
    if len(list(net.children())) and _is_plain_sequential(net):
        raise Unsupported("the module is an nn.Sequential itself: its keys (0.weight, ...) need a label "
                          "in a .model file", None, "wrap it in a module with one attribute")
    import inspect

    from graphc.interop.importer_values import SIZES, example_inputs, record_calls

    params = [p for p in inspect.signature(net.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    need = [p for p in params if p.default is p.empty]
    if not len(need) <= len(shapes) <= len(params):
        raise Unsupported(f"{type(net).__name__}.forward takes {len(need)} tensor argument"
                          f"{'s' if len(need) != 1 else ''} ({', '.join(p.name for p in params)}), "
                          f"{len(shapes)} --input shape{'s' if len(shapes) != 1 else ''} given", None,
                          "give one --input per tensor argument of forward")

    imp = Importer(net, shapes, record_calls(net, shapes))
    graph = trace(net, None, [example_inputs(shapes, s) for s in SIZES])
    body = imp.body(net, graph, "", is_model=True)
    return file_text(imp, body, header)


def _is_plain_sequential(net) -> bool:
    from graphc.interop.importer_trace import is_group

    return is_group(net)


def _flat(out) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat(o)]
    return []


def verify(net, text: str, path: str, shapes) -> Verified:
    """Check and build ``text`` with graphc, load ``net``'s weights strictly, compare."""
    import torch

    from graphc.api import compile_source
    from graphc.report import format_text

    t0 = time.perf_counter()
    comp = compile_source(text, path)
    if not comp.ok:
        lines = [format_text(d, comp.source) for d in comp.errors[:5]]
        raise ImportFailure("graphc does not accept the file it wrote (a bug in the importer; --force "
                            "writes it anyway):\n" + "\n".join(lines))
    comp.python_source()  # graphc build
    torch.manual_seed(0)
    built = comp.to_module().eval()
    try:
        built.load_state_dict(net.state_dict(), strict=True)
    except RuntimeError as e:
        raise ImportFailure("the original's state_dict does not load with strict=True: "
                            + " ".join(str(e).split())[:600]) from None
    n_a = sum(p.numel() for p in net.parameters())
    n_b = sum(p.numel() for p in built.parameters())
    if n_a != n_b:
        raise ImportFailure(f"parameter counts differ: the original has {n_a:,}, the import {n_b:,}")
    worst, exact = 0.0, True
    from graphc.interop.importer_values import SIZES, example_inputs

    for seed, size in enumerate(SIZES):  # the symbols at 2, then 3: a batch baked in shows
        xs = example_inputs(shapes, size, seed)
        with torch.no_grad():
            ref = _flat(net(*xs))
            got = _flat(built(*xs))
        if len(ref) != len(got):
            raise ImportFailure(f"the original returns {len(ref)} tensors, the import {len(got)}")
        for i, (a, b) in enumerate(zip(ref, got)):
            if a.shape != b.shape:
                raise ImportFailure(f"output {i}: shape {tuple(b.shape)}, the original's {tuple(a.shape)}")
            if not torch.equal(a, b):
                exact = False
                d = (a.double() - b.double()).abs().max().item()
                worst = max(worst, d)
                if not torch.allclose(a, b, rtol=RTOL, atol=ATOL):
                    raise ImportFailure(f"output {i} differs from the original's by up to {d:.3g} "
                                        f"(rtol {RTOL}, atol {ATOL})")
    return Verified(n_a, worst, exact, time.perf_counter() - t0)


def describe(u: Unsupported) -> str:
    where = u.where or (source_line(u.node) if u.node is not None else None)
    msg = f"cannot import: {u.message}"
    if where:
        msg += f"\n  at {where}"
    if u.hint:
        msg += f"\n  hint: {u.hint}"
    return msg


class Unverified(ImportFailure):
    """The text was written but does not verify: ``--force`` may still write it."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


def run_import(net, shapes, path: str, header: str = "") -> tuple[str, Verified, float]:
    """The verified .model text of ``net``, the verification, the seconds the trace and writing took.
    ImportFailure for a construct it cannot write; Unverified (with the text) when it does not verify."""
    from graphc.fmt import format_text as fmt

    t0 = time.perf_counter()
    try:
        text = import_text(net, shapes, header.replace("\r", " "))
    except Unsupported as u:
        raise ImportFailure(describe(u)) from None
    try:
        text = fmt(text, path)
    except Exception:  # noqa: BLE001, S110 - the layout is cosmetic; verification reports a real problem
        pass
    t_trace = time.perf_counter() - t0
    try:
        v = verify(net, text, path, shapes)
    except ImportFailure as e:
        raise Unverified(str(e), text) from None
    return text, v, t_trace


def import_command(args) -> int:
    """The CLI: exit 0 when the file was written verified, 1 when the import failed."""
    from graphc.files import write_atomic

    try:
        shapes = [parse_shape(s) for s in args.input]
        kwargs = dict(parse_arg(a) for a in (args.arg or []))
        net = build_module(args.callable, kwargs)
        header = (f"# Imported by graphc from {args.callable}"
                  + (f"({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" if kwargs else "")
                  + "\n# (torch.fx trace in eval mode; the original's state_dict loads with strict=True)\n")
        try:
            text, v, t_trace = run_import(net, shapes, args.output, header)
        except Unverified as e:
            if not args.force:
                raise ImportFailure(str(e)) from None
            write_atomic(Path(args.output), e.text)
            print(f"graphc: warning: {e}\ngraphc: warning: wrote {args.output} unverified (--force)",
                  file=sys.stderr)
            return 1
        write_atomic(Path(args.output), text)
    except ImportFailure as e:
        print(f"graphc: error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        same = "bit-identical outputs" if v.exact else f"outputs within {v.max_diff:.3g}"
        print(f"imported {args.callable} to {args.output} ({text.count(chr(10))} lines, "
              f"{sum(ln.startswith('block ') for ln in text.splitlines())} blocks; traced and written in {t_trace:.2f} s)")
        print(f"verified: graphc checks and builds it, the original's state_dict loads with strict=True, "
              f"{v.params:,} parameters in both, {same} on random inputs at B=2 and B=3 ({v.seconds:.2f} s)")
    return 0
