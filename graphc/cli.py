"""The ``graphc`` command line.

Every graphc error is caught here, in one place: users see diagnostics, never
a traceback (unless ``--debug``).  Exit codes: 0 clean, 1 problems found,
2 usage or internal error, 141 (128 + SIGPIPE, as a shell reports a tool that a closed
pipe ended) when standard output was closed early (``graphc summary big.model | head``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from graphc import __version__
from graphc.files import WriteError, write_files
from graphc.pipes import quiet_exit, stdout_closed
from graphc.report import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, one_line

VIZ_FORMATS = ("svg", "png", "pdf", "dot", "html")


class UsageError(Exception):
    pass


# ---------------------------------------------------------------- helpers
def expand_inputs(items: list[str]) -> list[str]:
    """Files, directories (searched for *.model) and globs, in a stable order."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += sorted(str(f) for f in p.rglob("*.model"))
        elif any(c in item for c in "*?[") and not p.exists():
            import glob

            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise UsageError(f"no file matches '{item}'")
            out += matches
        else:
            out.append(item)
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def parse_bindings(items: list[str] | None) -> dict[str, int]:
    """``--set H=64 --set W=64`` -> {"H": 64, "W": 64}."""
    out: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--set takes NAME=VALUE, got '{item}'")
        try:
            out[name] = int(value)
        except ValueError:
            raise UsageError(f"--set {name}: '{value}' is not an integer") from None
        if out[name] < 1:
            raise UsageError(f"--set {name}: a dimension is at least 1, got {out[name]}")
    return out


def load(path: str, bindings: dict[str, int] | None = None):
    """Compile one file; an unreadable file becomes an io-error diagnostic."""
    from graphc.api import Compilation, compile_source
    from graphc.errors import diag
    from graphc.source import Source, Span
    from graphc.syntax import MAX_SOURCE_BYTES

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)  # never more: the path may be a 20 GB file or /dev/zero
    except OSError as e:
        d = diag(Span(path, 1, 1, 1, 1), "io-error", f"cannot read {path}: {e.strerror or e}",
                 "check the path" if isinstance(e, FileNotFoundError) else None)
        return Compilation(Source(path, ""), None, [d])
    if len(data) > MAX_SOURCE_BYTES:
        d = diag(Span(path, 1, 1, 1, 2), "limit", f"the file is more than {MAX_SOURCE_BYTES:,} bytes; graphc "
                 f"reads at most {MAX_SOURCE_BYTES:,} (1 MiB)", "describe repeated structure with blocks and "
                 "'* N' repeats")
        return Compilation(Source(path, ""), None, [d])
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error
    except UnicodeDecodeError as e:
        # point at the first bad byte, in the text as far as it decodes
        shown = data.decode("utf-8", "replace")
        before = data[:e.start].decode("utf-8-sig")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        d = diag(Span(path, line, col, line, col + 1), "io-error",
                 f"cannot read {path}: it is not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}, "
                 f"column {col})", "save the file as UTF-8")
        return Compilation(Source(path, shown), None, [d])
    return compile_source(text, path, bindings)


def _report_failure(comp, fmt: str = "text") -> int:
    from graphc import report

    report.emit([(comp.source, comp.diagnostics)], fmt)
    return EXIT_PROBLEMS


# --------------------------------------------------------------- commands
def cmd_check(args) -> int:
    from graphc import report

    files = expand_inputs(args.files)
    if not files:
        raise UsageError("no .model files to check")
    bindings = parse_bindings(args.set)
    if args.weights and len(files) != 1:
        raise UsageError("--weights checks one model file against one weights file")
    results = []
    explained = []
    for i, f in enumerate(files):
        if i:
            gc.collect()
        comp = load(f, bindings)
        diags = comp.diagnostics
        if args.weights and comp.ok:
            from graphc.weights import WeightsError, check_weights

            try:
                diags = diags + check_weights(comp.program, args.weights)
            except WeightsError as e:
                raise UsageError(str(e)) from None
        results.append((comp.source, diags))
        if args.explain and comp.program is not None:
            from graphc.explain import explain

            explained.append((f, explain(comp.program)))
    if args.explain and args.format == "text":
        for f, lines in explained:
            print(f"── {f}")
            print("\n".join(lines))
    errors, warnings = report.emit(results, args.format)
    unused = set(bindings) - {s for comp_src, _ in results for s in _symbols_in(comp_src)}
    for name in sorted(unused):
        print(f"graphc: warning: --set {name}: no input of the checked files has a dimension named {name}",
              file=sys.stderr)
    if errors or (args.strict and warnings):
        return EXIT_PROBLEMS
    return EXIT_OK


def _symbols_in(source) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source.text)) if source is not None else set()


def cmd_build(args) -> int:
    comp = load(args.file)
    if not comp.ok:
        code = _report_failure(comp)
        print("Build failed: nothing was written.", file=sys.stderr)
        return code
    written = build_outputs(comp, Path(args.output))
    if comp.warnings:
        from graphc import report

        report.emit([(comp.source, comp.warnings)], "text", out=sys.stderr)
    if not args.quiet:
        for p in written:
            print(f"wrote {p}")
    return EXIT_OK


def build_outputs(comp, out_dir: Path) -> list[Path]:
    """Generate every file first, then write them all or none (graphc.files)."""
    files = {out_dir / f"{comp.module_stem}.py": comp.python_source()}
    train = comp.train_source()
    if train is not None:
        files[out_dir / f"train_{comp.module_stem}.py"] = train
    write_files(files)
    return list(files)


def cmd_train(args) -> int:
    from graphc.cli_train import train

    return train(args)


def cmd_eval(args) -> int:
    from graphc.cli_train import evaluate

    return evaluate(args)


def cmd_predict(args) -> int:
    from graphc.cli_predict import predict

    return predict(args)


def cmd_summary(args) -> int:
    from graphc.cli_views import summary

    return summary(args)


def cmd_viz(args) -> int:
    from graphc.cli_views import viz

    return viz(args)


def cmd_serve(args) -> int:
    from graphc.serve import serve

    files = expand_inputs(args.files)
    if not files:
        raise UsageError("no .model files to serve")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: a port is 0 (any free one) to 65535")
    try:
        return serve(files, args.port, args.model)
    except OSError as e:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}; "
                         f"choose another port with --port (0 picks a free one)") from None


def _chosen(comp, name: str):
    from graphc.cli_views import chosen

    return chosen(comp, name)


def cmd_export(args) -> int:
    comp = load(args.file, parse_bindings(args.set))
    if not comp.ok:
        return _report_failure(comp)
    from graphc.interop.export import ExportError, export_command

    try:
        return export_command(comp, _chosen(comp, args.model) if args.model else comp.program, args)
    except ExportError as e:
        print(f"graphc: error: {one_line(str(e))}", file=sys.stderr)
        return e.code


def cmd_import(args) -> int:
    from graphc.interop.importer import import_command

    return import_command(args)


def cmd_diff(args) -> int:
    from graphc.interop.diff import diff_command

    return diff_command(args, load, _report_failure)


def cmd_fmt(args) -> int:
    from graphc.cli_fmt import cmd_fmt as run

    return run(args)


def cmd_plot(args) -> int:
    from graphc.plot import PlotError, plot

    try:
        out = plot(Path(args.run_dir), Path(args.output) if args.output else None)
    except PlotError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {out}")
    return EXIT_OK


def cmd_lsp(args) -> int:
    from graphc.lsp import main as serve

    return serve()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="graphc",
        description="A declarative model-graph compiler for PyTorch: check shapes, generate code, draw graphs.",
    )
    p.add_argument("--version", action="version", version=f"graphc {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="parse and shape-check .model files (never imports torch)")
    c.add_argument("files", nargs="+", metavar="FILE", help="files, directories or globs")
    c.add_argument("--format", choices=("text", "json", "github"), default="text")
    c.add_argument("--strict", action="store_true", help="warnings also fail the check")
    c.add_argument("--explain", action="store_true", help="print every layer's shapes and size formulas")
    c.add_argument("--weights", metavar="W.safetensors",
                   help="check that a weights file fits the model: names, shapes, dtypes (never imports torch)")
    c.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="give a symbolic input dimension a value for this check (repeatable)")
    c.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("fmt", help="rewrite .model files in the canonical layout (comments kept)")
    f.add_argument("files", nargs="+", metavar="FILE", help="files, directories or globs")
    f.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    f.add_argument("--diff", action="store_true", help="print the changes as a diff instead of writing")
    f.set_defaults(func=cmd_fmt)

    b = sub.add_parser("build", help="generate the PyTorch module (DIR/<stem>.py)")
    b.add_argument("file", metavar="FILE")
    b.add_argument("-o", "--output", metavar="DIR", default=".", help="output directory (default .)")
    b.add_argument("-q", "--quiet", action="store_true")
    b.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    b.set_defaults(func=cmd_build)

    t = sub.add_parser("train", help="build the model and its training script into --out, then run it")
    t.add_argument("file", metavar="FILE")
    t.add_argument("--out", metavar="DIR", help="run directory (default runs/<stem>)")
    from graphc.cli_train import add_script_flags

    add_script_flags(t)  # every flag of the generated script (graphc/cli_train.py)
    t.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="metrics of a trained checkpoint on the validation split or a data file")
    e.add_argument("file", metavar="FILE")
    e.add_argument("--checkpoint", metavar="CKPT", required=True, help="e.g. runs/<stem>/best.pt")
    e.add_argument("--data", metavar="DATA", help="a .npz, .pt or .csv file (default: the validation split)")
    e.add_argument("--format", choices=("text", "json"), default="text")
    e.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    e.add_argument("--batch-size", type=int)
    e.add_argument("--seed", type=int, help="of the validation split (default: the checkpoint's run)")
    e.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    e.set_defaults(func=cmd_eval)

    pr = sub.add_parser("predict", help="a trained checkpoint's outputs on new data, as .csv, .npy or .npz")
    pr.add_argument("file", metavar="FILE")
    pr.add_argument("--checkpoint", metavar="CKPT", required=True, help="e.g. runs/<stem>/best.pt")
    pr.add_argument("--data", metavar="DATA", required=True,
                    help="a .npz, .npy, .pt or .csv file of features, or a folder of images")
    pr.add_argument("-o", "--output", metavar="FILE", help="preds.csv, preds.npy or preds.npz (default: csv "
                                                           "on standard output)")
    pr.add_argument("--model", metavar="NAME", help="in a file of several models: the trained one")
    pr.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    pr.add_argument("--batch-size", type=int)
    pr.add_argument("--plugin", action="append", metavar="FILE.py",
                    help="a file of your own layers (graphc.plugins; repeatable)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="per-layer shapes, parameters and MACs")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--explain", action="store_true", help="also print every layer's size formulas")
    s.add_argument("--model", metavar="NAME", help="the model to summarise, in a file of several (default: all)")
    s.add_argument("--world-size", type=int, metavar="N",
                   help="add a per-rank memory plan for training on N processes (graphc.memory)")
    s.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp", help="for the memory plan")
    s.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="for the memory plan")
    s.add_argument("--activation-checkpointing", action="store_true",
                   help="for the memory plan: each outermost block recomputed in the backward pass")
    s.add_argument("--gpu-memory", metavar="SIZE", help="flag a memory plan that does not fit, e.g. 80GB")
    s.add_argument("--depth", type=int, metavar="N", help="show rows down to block depth N (0: top level)")
    s.add_argument("--batch-size", type=int, default=1, metavar="N",
                   help="batch size for the activation-memory total (default 1)")
    s.add_argument("--set", action="append", metavar="NAME=VALUE", help="bind a symbolic dimension")
    s.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    s.set_defaults(func=cmd_summary)

    pl = sub.add_parser("plot", help="loss, accuracy and learning-rate curves of a training run (PNG)")
    pl.add_argument("run_dir", metavar="RUN_DIR", help="a training run's --out directory")
    pl.add_argument("-o", "--output", metavar="PNG", help="default RUN_DIR/curves.png")
    pl.set_defaults(func=cmd_plot)

    v = sub.add_parser("viz", help="draw the graph with its shapes (graphviz)")
    v.add_argument("file", metavar="FILE")
    v.add_argument("-o", "--output", metavar="OUT", required=True, help="OUT.svg, .png, .pdf, .dot or .html (interactive, self-contained)")
    v.add_argument("--format", choices=VIZ_FORMATS, help="override the format given by OUT's suffix")
    v.add_argument("--rankdir", choices=("TB", "LR"), default="TB")
    v.add_argument("--collapse", action="store_true", help="draw each block and Sequential as one box")
    v.add_argument("--depth", type=int, metavar="N", help="expand blocks down to depth N, fold deeper ones")
    v.add_argument("--model", metavar="NAME", help="the model to draw, in a file of several (default: the first)")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="a file of your own layers (graphc.plugins; repeatable)")
    v.set_defaults(func=cmd_viz)
    sv = sub.add_parser("serve", help="a local page (127.0.0.1) of each file's interactive view, updated on save")
    sv.add_argument("files", nargs="+", metavar="FILE", help="files, directories or globs")
    sv.add_argument("--port", type=int, default=8765, help="default 8765; 0 picks a free port")
    sv.add_argument("--model", metavar="NAME", help="the model to draw, in a file of several (default: the first)")
    sv.add_argument("--plugin", action="append", metavar="FILE.py",
                    help="a file of your own layers (graphc.plugins; repeatable)")
    sv.set_defaults(func=cmd_serve)
    x = sub.add_parser("export", help="a torch.export (.pt2) or ONNX file of the model, verified against it")
    x.add_argument("file", metavar="FILE")
    x.add_argument("-o", "--output", metavar="OUT", required=True, help="OUT.pt2 or OUT.onnx")
    x.add_argument("--format", choices=("pt2", "onnx"), help="override the format given by OUT's suffix")
    x.add_argument("--checkpoint", metavar="CKPT", help="a state_dict .pt, a training checkpoint or .safetensors")
    x.add_argument("--onnx-exporter", choices=("auto", "dynamo", "torchscript"), default="auto")
    x.add_argument("--set", action="append", metavar="NAME=VALUE", help="export a symbolic dimension fixed")
    x.add_argument("-q", "--quiet", action="store_true")
    d = sub.add_parser("diff", help="the structural difference of two .model files (never imports torch)")
    d.add_argument("a", metavar="A.model")
    d.add_argument("b", metavar="B.model")
    d.add_argument("--format", choices=("text", "json", "github"), default="text")
    for q, fn in ((x, cmd_export), (d, cmd_diff)):
        q.add_argument("--model", metavar="NAME", help="the model, in a file of several (default: the first)")
        q.add_argument("--plugin", action="append", metavar="FILE.py", help="a file of your own layers")
        q.set_defaults(func=fn)

    from graphc.interop.importer_cli import add_parser as add_import

    add_import(sub, cmd_import)
    ls = sub.add_parser("lsp", help="the language server, on stdio, for editors (docs/editor.md)")
    ls.set_defaults(func=cmd_lsp)
    return p


def main(argv: list[str] | None = None) -> int:
    # graphc's parameter schemas are internal: pydantic plugins have nothing to observe, and
    # finding them scans every installed package's entry points (tens of ms whenever a value
    # needs pydantic, i.e. in a check that finds an invalid argument)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # A command is short-lived and allocates mostly acyclic objects (modules, schemas, ASTs):
    # the cyclic collector's passes during the imports alone cost about 5 % of a check.
    # Training runs in its own process; a check of several files collects between files.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, usage errors exit 2
        return quiet_exit() if not e.code and stdout_closed() else int(e.code or 0)  # --help | head
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "plugin", None) is not None or os.environ.get("GRAPHC_PLUGINS"):
            from graphc.plugins import PluginError, load_files

            try:
                load_files(getattr(args, "plugin", None) or [])
            except PluginError as e:
                raise UsageError(str(e)) from None
        return args.func(args)
    except (UsageError, WriteError) as e:
        print(f"graphc: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # internal error: no traceback unless --debug
        if isinstance(e, BrokenPipeError) and stdout_closed():
            return quiet_exit()
        if args.debug:
            raise
        print(f"graphc: internal error: {type(e).__name__}: {e}\n"
              f"graphc: this is a bug in graphc; rerun with --debug for the traceback",
              file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
