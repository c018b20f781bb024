"""``graphc export FILE --format pt2|onnx``: the model as a ``torch.export`` program or an ONNX
file, with dynamic shapes derived from the ``.model`` file's symbolic sizes, verified on the spot.

The module is the generated one, built in memory, in eval mode, with the weights of
``--checkpoint`` (graphc.interop.weights) or its initial ones.  Each symbol of the inputs is one
``torch.export.Dim`` (shared wherever the symbol appears); a size ``a * h + b`` is the derived dim
``a * Dim("h") + b``; a size torch cannot derive (a product of symbols, ``S * h``) is ``Dim.AUTO``,
which lets torch find what it can.  The exported program (and the ONNX file, under onnxruntime when
it is installed) must give the module's outputs at two sizes: example_inputs()'s defaults, and every
symbol one larger (the batch 3 for 2).  Nothing is written unless that holds; the file is written
atomically (graphc.files).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from graphc.files import write_atomic
from graphc.interop.weights import WeightsError, load_into
from graphc.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

FORMATS = ("pt2", "onnx")
ONNX_EXPORTERS = ("auto", "dynamo", "torchscript")
RTOL, ATOL = 1e-4, 1e-5          # the exported program against the module (same kernels, mostly)
ORT_RTOL, ORT_ATOL = 1e-3, 1e-4  # onnxruntime's kernels are other implementations


class ExportError(Exception):
    """An export that could not be made or verified: one line, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEMS):
        super().__init__(message)
        self.code = code


@dataclass
class Generated:
    """The generated module of one model, and what its example_inputs() takes."""

    module: object
    example: object                      # example_inputs() of this model
    args: dict[str, tuple[str, int]]     # symbol -> (example_inputs' argument, default)
    input_names: list[str]
    output_names: list[str]
    prog: object = None

    def sizes(self, second: bool) -> dict[str, int]:
        """symbol -> value: the defaults, or each one larger."""
        return {s: d + 1 if second else d for s, (_, d) in self.args.items()}

    def inputs(self, second: bool):
        import torch

        kw = {a: d + 1 if second else d for a, d in {a: d for a, d in self.args.values()}.items()}
        torch.manual_seed(1 if second else 0)
        return tuple(self.example(**kw))


def generate(comp, prog) -> Generated:
    """Build ``prog`` (one of ``comp.programs``) from the generated source, in eval mode."""
    import builtins

    from graphc.api import gc_paused
    from graphc.emit.inputs import symbols
    from graphc.emit.torch_module import Emitter
    from graphc.pyfmt import text

    comp.raise_for_errors()
    with gc_paused():
        em = Emitter(comp.programs, comp.source.path)
        code = em.run()
    ns: dict = {"__name__": f"graphc_generated_{prog.name}"}
    exec(builtins.compile(code, f"<graphc:{text(comp.source.path)}>", "exec"), ns)
    _, plan, fn = next(r for r in em.roots if r[0] is prog)
    import torch

    torch.manual_seed(0)  # the initial weights, when no checkpoint replaces them: the same each time
    module = ns[plan.name]().eval()
    example = ns[fn]
    syms = symbols(prog, em.ns.taken)
    # example_inputs' arguments are the symbols' in order (one per distinct argument): take the
    # names from its signature, so a renamed argument (a clash with a constant) is still found
    written = list(dict.fromkeys(a for a, _ in syms.values()))
    params = list(inspect.signature(example).parameters)
    rename = dict(zip(written, params))
    args = {s: (rename.get(a, a), d) for s, (a, d) in syms.items()}
    inputs = list(inspect.signature(module.forward).parameters)
    outputs = [name for name, _ in prog.outputs]
    return Generated(module, example, args, inputs, outputs, prog)


# ----------------------------------------------------------------- dynamic shapes
@dataclass
class Dynamic:
    specs: tuple                      # torch.export's dynamic_shapes, one entry per input
    described: list[str]              # "B", "h (16*h)"
    auto: list[str] = field(default_factory=list)  # sizes left to Dim.AUTO


def _linear(d):
    """(symbol, a, b) when the size is ``a * symbol + b``, else None."""
    import sympy as sp

    from graphc.shapes import Sym

    e = Sym.as_expr(d)
    if len(e.free_symbols) != 1:
        return None
    (s,) = e.free_symbols
    poly = sp.Poly(e, s)
    if poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    return str(s), int(a), int(b)


def dynamic_shapes(prog) -> Dynamic:
    from torch.export import Dim

    from graphc.shapes import dim_str

    roots: dict[str, object] = {}
    derived: dict[str, list[str]] = {}
    specs, auto = [], []

    def root(name: str):
        if name not in roots:
            roots[name] = Dim(name, min=1)
            derived[name] = []
        return roots[name]

    for node in prog.inputs:
        spec = {}
        for i, d in enumerate(node.declared.shape):
            if isinstance(d, int):
                continue
            if d.name is not None:
                spec[i] = root(d.name)
                continue
            lin = _linear(d)
            if lin is None:
                spec[i] = Dim.AUTO
                auto.append(f"{node.name}[{i}] = {dim_str(d)}")
                continue
            s, a, b = lin
            dim = root(s)
            dim = dim if a == 1 else a * dim
            spec[i] = dim + b if b else dim
            derived[s].append(dim_str(d))
        specs.append(spec or None)
    described = [f"{s} ({', '.join(dict.fromkeys(derived[s]))})" if derived[s] else s for s in roots]
    return Dynamic(tuple(specs), described, auto)


# ----------------------------------------------------------------- quiet torch
@contextlib.contextmanager
def quiet():
    """torch's exporters warn and log freely (and the ONNX one prints): none of it for users."""
    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def _one_line(e: BaseException) -> str:
    for line in str(e).strip().splitlines():
        if line.strip():
            return line.strip()[:400]
    return type(e).__name__


def explain_failure(e: BaseException, what: str) -> str:
    """torch's error as one line, with a fix where one is known."""
    fixed = re.findall(r"You marked (\w+) as dynamic but your code specialized it to be a constant \((\d+)\)",
                       str(e))
    if fixed:
        names = ", ".join(f"{n} to {v}" for n, v in dict(fixed).items())
        sets = " ".join(f"--set {n}={v}" for n, v in dict(fixed).items())
        return (f"{what} fixed {names}: the model's code needs that size constant there (torch.export unrolls "
                f"nn.LSTM, nn.GRU and nn.RNN over time, pytorch issue 115092); export with a fixed size ({sets})"
                + (", or as ONNX (--format onnx) through the TorchScript exporter" if what == "torch.export" else ""))
    return f"{what} failed: {type(e).__name__}: {_one_line(e)}"


# ----------------------------------------------------------------- verification
def _flat(out) -> list:
    import torch.utils._pytree as pytree

    return [x for x in pytree.tree_leaves(out)]


def compare(ref: list, got: list, rtol: float, atol: float) -> tuple[float, str | None]:
    """The largest absolute difference, and what differs (None when all agree)."""
    import numpy as np
    import torch

    if len(ref) != len(got):
        return float("inf"), f"{len(got)} outputs instead of {len(ref)}"
    worst = 0.0
    for i, (r, g) in enumerate(zip(ref, got)):
        g = torch.from_numpy(np.asarray(g)) if not isinstance(g, torch.Tensor) else g.detach()
        r = r.detach()
        if tuple(r.shape) != tuple(g.shape):
            return float("inf"), f"output {i} has the shape {tuple(g.shape)} instead of {tuple(r.shape)}"
        if not (r.is_floating_point() or r.is_complex()):
            if not torch.equal(r, g.to(r.dtype)):
                return float("inf"), f"output {i} differs"
            continue
        r64, g64 = r.double(), g.double()
        diff = (r64 - g64).abs()
        if diff.numel():
            worst = max(worst, float(diff.max()))
        if not torch.allclose(g64, r64, rtol=rtol, atol=atol, equal_nan=True):
            return worst, f"output {i} differs by up to {worst:.3g}"
    return worst, None


def verify(gen: Generated, run, what: str, rtol: float, atol: float) -> float:
    """``run(inputs)`` against the module at both sizes; the largest difference, or ExportError."""
    import torch

    worst = 0.0
    for second in (False, True) if gen.args else (False,):
        xs = gen.inputs(second)
        with torch.no_grad():
            ref = _flat(gen.module(*xs))
        try:
            with quiet():
                got = run(xs)
        except Exception as e:  # noqa: BLE001 - any failure of the exported program is reported
            raise ExportError(f"{what} fails at {_sizes(gen, second)}: {type(e).__name__}: {_one_line(e)}; "
                              "nothing was written") from None
        diff, problem = compare(ref, got, rtol, atol)
        if problem:
            raise ExportError(f"{what} differs from the module at {_sizes(gen, second)}: {problem}; "
                              "nothing was written")
        worst = max(worst, diff)
    return worst


def _sizes(gen: Generated, second: bool) -> str:
    return ", ".join(f"{s}={v}" for s, v in gen.sizes(second).items()) or "the declared sizes"


# ----------------------------------------------------------------- the exporters
def export_program(gen: Generated, dyn: Dynamic):
    import torch

    with quiet():
        return torch.export.export(gen.module, gen.inputs(False), dynamic_shapes=dyn.specs)


def pt2_bytes(ep) -> bytes:
    import torch

    buf = io.BytesIO()
    with quiet():
        torch.export.save(ep, buf)
    return buf.getvalue()


def onnx_dynamo(ep, gen: Generated) -> bytes:
    """The ONNX file of an exported program (torch.onnx.export(..., dynamo=True)): the same
    dynamic dims, named as the .model file names them (``B``, ``16*h``)."""
    import torch

    names = gen.output_names if len(gen.output_names) == len(ep.graph_signature.user_outputs) else None
    with quiet():
        prog = torch.onnx.export(ep, (), dynamo=True, input_names=gen.input_names, output_names=names,
                                 optimize=True, verbose=False)
        prog.rename_axes(_axis_names(ep, gen))
        return prog.model_proto.SerializeToString()


def _axis_names(ep, gen: Generated) -> dict[str, str]:
    """torch's symbols of the exported program's input sizes (s52, 16*s39) -> the .model file's
    (B, 16*h): the ONNX file's axes are named as the .model file names them."""
    from graphc.shapes import dim_str

    user = set(ep.graph_signature.user_inputs)
    holders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in user]
    out: dict[str, str] = {}
    for node, decl in zip(holders, gen.prog.inputs):
        val = node.meta.get("val")
        for got, d in zip(getattr(val, "shape", ()), decl.declared.shape):
            if isinstance(d, int) or not hasattr(got, "node"):
                continue
            out.setdefault(str(got.node.expr), dim_str(d))
            lin = _linear(d)
            free = list(got.node.expr.free_symbols)
            if lin is not None and len(free) == 1:
                out.setdefault(str(free[0]), lin[0])
    return out


def onnx_torchscript(gen: Generated, dyn: Dynamic, prog) -> bytes:
    """The classic exporter (torch.onnx.export(..., dynamo=False)): it traces one call and marks the
    symbolic axes dynamic (named as in the .model file); nn.LSTM becomes ONNX's LSTM, whose time axis
    stays dynamic where torch.export fixes it."""
    import torch

    from graphc.shapes import dim_str

    axes = {}
    for name, node in zip(gen.input_names, prog.inputs):
        named = {i: dim_str(d) for i, d in enumerate(node.declared.shape) if not isinstance(d, int)}
        if named:
            axes[name] = named
    xs = gen.inputs(False)
    with torch.no_grad():
        n_out = len(_flat(gen.module(*xs)))
    names = gen.output_names if len(gen.output_names) == n_out else None
    buf = io.BytesIO()
    with quiet():
        torch.onnx.export(gen.module, xs, buf, dynamo=False, input_names=gen.input_names, output_names=names,
                          dynamic_axes=axes)
    return buf.getvalue()


def ort_runner(data: bytes, gen: Generated):
    """A function running the ONNX model under onnxruntime, or None when it is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    ort.set_default_logger_severity(4)  # its errors are reported here, in one line
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    declared = [i.name for i in sess.get_inputs()]

    def run(xs):
        feed = {n: x.numpy() for n, x in zip(gen.input_names, xs) if n in declared}
        return sess.run(None, feed)

    return run


# ----------------------------------------------------------------- the command
def export_command(comp, prog, args) -> int:
    """Export ``prog`` as ``args`` say (format, output, checkpoint, onnx_exporter, quiet)."""
    out = Path(args.output)
    fmt = args.format or {".pt2": "pt2", ".onnx": "onnx"}.get(out.suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot tell the format of '{out}': name it .pt2 or .onnx, or pass --format",
                          EXIT_USAGE)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ExportError("graphc export needs torch: pip install 'graphc[torch]' ('graphc[export]' for ONNX)",
                          EXIT_USAGE) from None
    say = (lambda *a: None) if args.quiet else print
    t0 = time.perf_counter()
    gen = generate(comp, prog)
    weights = "its initial weights (seed 0)"
    if args.checkpoint:
        try:
            weights = f"the weights of {args.checkpoint} ({load_into(gen.module, args.checkpoint)})"
        except WeightsError as e:
            raise ExportError(str(e), EXIT_USAGE) from None
    dyn = dynamic_shapes(prog)
    exporter = getattr(args, "onnx_exporter", "auto") or "auto"
    if fmt == "onnx" and exporter == "auto":
        try:
            import onnxscript  # noqa: F401 - the dynamo exporter needs it
            exporter = "dynamo"
        except ImportError:
            exporter = "torchscript"
    notes = [f"{a}: left to torch (Dim.AUTO), it is not a * symbol + b" for a in dyn.auto]
    ep = None
    if fmt == "pt2" or exporter == "dynamo":
        try:
            ep = export_program(gen, dyn)
        except Exception as e:  # noqa: BLE001 - torch's export errors have many types
            if fmt == "onnx" and args.onnx_exporter in (None, "auto"):
                notes.append(explain_failure(e, "torch.export").split(": the model's")[0]
                             + ": exported with the TorchScript exporter instead")
                exporter = "torchscript"
            else:
                raise ExportError(explain_failure(e, "torch.export")) from None
    worst = 0.0
    if ep is not None:
        worst = verify(gen, lambda xs: _flat(ep.module()(*xs)), "the exported program", RTOL, ATOL)
    try:
        if fmt == "pt2":
            data = pt2_bytes(ep)
        elif exporter == "dynamo":
            data = onnx_dynamo(ep, gen)
        else:
            data = onnx_torchscript(gen, dyn, prog)
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx and onnxscript packages ({_one_line(e)}): "
                          "pip install 'graphc[export]'", EXIT_USAGE) from None
    except Exception as e:  # noqa: BLE001
        raise ExportError(explain_failure(e, f"torch.onnx.export ({exporter})")) from None
    checked = "the exported program"
    if fmt == "onnx":
        try:
            run = ort_runner(data, gen)
        except Exception as e:  # noqa: BLE001 - onnxruntime rejects the file
            raise ExportError(f"onnxruntime cannot load the ONNX file: {_one_line(e)}; nothing was written") from None
        if run is None:
            notes.append("the ONNX file is not verified: onnxruntime is not installed (pip install 'graphc[export]')")
            checked = "the exported program it was made from" if ep is not None else ""
        else:
            worst = max(worst, verify(gen, run, "onnxruntime's run of the ONNX file", ORT_RTOL, ORT_ATOL))
            checked = "onnxruntime's run of the ONNX file" + (" and the exported program" if ep is not None else "")
    write_atomic(out, data)
    how = "torch.export" if fmt == "pt2" else f"torch.onnx ({'dynamo' if exporter == 'dynamo' else 'TorchScript'} exporter)"
    dynamic = f"dynamic {', '.join(dyn.described)}" if dyn.described else "static shapes"
    say(f"exported {prog.name} to {out} ({how}, {dynamic}) with {weights}")
    if checked:
        at = f"{_sizes(gen, False)} and at {_sizes(gen, True)}" if gen.args else _sizes(gen, False)
        say(f"verified: {checked} {'give' if ' and ' in checked else 'gives'} the module's outputs at {at} "
            f"(largest difference {worst:.2g}; {time.perf_counter() - t0:.1f} s)")
    for n in notes:
        print(f"graphc: note: {n}", file=sys.stderr)
    return EXIT_OK
