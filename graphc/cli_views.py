"""The commands that show a model: ``graphc summary`` (with the memory plan) and ``graphc viz``
(graphviz diagrams and the interactive HTML page).  graphc.cli parses the arguments."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from graphc.cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    VIZ_FORMATS,
    UsageError,
    _report_failure,
    load,
    parse_bindings,
)
from graphc.files import write_atomic
from graphc.report import one_line


def summary(args) -> int:
    comp = load(args.file, parse_bindings(args.set))
    if not comp.ok:
        return _report_failure(comp)
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    progs = [chosen(comp, args.model)] if args.model else comp.programs
    parts = []
    wants_plan = args.world_size is not None or args.gpu_memory is not None or args.strategy != "ddp" \
        or args.precision != "fp32" or args.activation_checkpointing
    gpu = None
    if args.gpu_memory is not None:
        from graphc.memory import parse_size

        try:
            gpu = parse_size(args.gpu_memory)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.world_size is not None and args.world_size < 1:
        raise UsageError("--world-size must be at least 1")
    too_big = False
    for i, prog in enumerate(progs):
        s = comp.summary(args.batch_size, prog)
        mem = None
        if wants_plan:
            from graphc.memory import plan

            mem = plan(prog, s, world_size=args.world_size or 1, strategy=args.strategy,
                       precision=args.precision, batch_size=args.batch_size,
                       activation_checkpointing=args.activation_checkpointing)
            too_big |= gpu is not None and isinstance(mem.total, int) and mem.total > gpu
            if gpu is not None and not isinstance(mem.total, int):
                raise UsageError(f"the plan depends on {mem.total}: give the other sizes with --set")
        if args.format == "json":
            data = s.to_json()
            if mem is not None:
                data["memory"] = mem.to_json()
            if args.explain:
                from graphc.explain import explain

                data["explain"] = explain(prog)
            parts.append(data)
        else:
            if i:
                print()
            print(s.to_text(depth=args.depth))
            if mem is not None:
                print("\n".join(mem.to_text(gpu)))
            if args.explain:
                from graphc.explain import explain

                print()
                print("\n".join(explain(prog)))
    if args.format == "json":  # a file of several models: {"models": [...]}, in the file's order
        print(json.dumps(parts[0] if len(parts) == 1 else {"models": parts}, indent=2))
    return EXIT_PROBLEMS if too_big else EXIT_OK


def chosen(comp, name: str):
    """The model ``name`` of a compiled file (--model), or a usage error listing the models."""
    try:
        return comp.model(name)
    except KeyError:
        raise UsageError(f"{comp.source.path} has no model '{name}'; it has "
                         f"{', '.join(p.name for p in comp.programs)}") from None


def viz(args) -> int:
    from graphc.emit.dot import GraphvizMissing, render, to_dot

    out = Path(args.output)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in VIZ_FORMATS:
        raise UsageError(f"cannot tell the format of '{out}': use one of "
                         f"{', '.join('.' + f for f in VIZ_FORMATS)} or --format")
    comp = load(args.file)
    if fmt == "html":
        return _viz_html(comp, args, out)
    if comp.program is None or any(d.code in ("syntax", "missing-model") for d in comp.errors):
        return _report_failure(comp)
    if comp.errors:  # still draw what is known; the diagram marks unknown shapes '?'
        from graphc import report

        report.emit([(comp.source, comp.diagnostics)], "text", out=sys.stderr)
    prog = chosen(comp, args.model) if args.model else comp.program
    if not args.model and len(comp.programs) > 1 and not args.quiet:
        print(f"graphc: {args.file} has {len(comp.programs)} models; drawing {prog.name} "
              f"(choose with --model: {', '.join(p.name for p in comp.programs)})", file=sys.stderr)
    dot = to_dot(prog, rankdir=args.rankdir, depth=args.depth, collapse=args.collapse, href=_source_link(out))
    if fmt == "dot":
        write_atomic(out, dot)
    else:
        try:
            data = render(dot, fmt)
        except GraphvizMissing as e:
            fallback = out.with_suffix(".dot")
            write_atomic(fallback, dot)
            print(f"graphc: error: {one_line(str(e))}", file=sys.stderr)
            print(f"graphc: wrote {fallback} instead; render it later with "
                  f"'dot -T{fmt} {fallback} -o {out}'", file=sys.stderr)
            return EXIT_USAGE
        write_atomic(out, data)
    if not args.quiet:
        print(f"wrote {out}")
    return EXIT_PROBLEMS if comp.errors else EXIT_OK


def _source_link(out: Path):
    """The link of a source line in a diagram written to ``out``: the .model file's path
    relative to the diagram (they move together), ``#L<line>``, percent-encoded."""
    from urllib.parse import quote

    def href(path: str, line: int) -> str:
        try:
            rel = os.path.relpath(os.path.abspath(path), os.path.abspath(out.parent))
        except ValueError:  # another drive (Windows)
            rel = os.path.abspath(path)
        return f"{quote(Path(rel).as_posix())}#L{line}"

    return href


def _viz_html(comp, args, out: Path) -> int:
    """The interactive page: written even when the model fails to check (it lists the
    diagnostics and marks the failing layers; with no model at all it is the list alone)."""
    from graphc import report
    from graphc.emit.html import to_html, viz_data

    if comp.errors:
        report.emit([(comp.source, comp.diagnostics)], "text", out=sys.stderr)
    prog = chosen(comp, args.model) if args.model and comp.programs else comp.program
    data = viz_data(prog, comp.source, comp.diagnostics, [p.name for p in comp.programs])
    write_atomic(out, to_html(data))
    if not args.quiet:
        print(f"wrote {out}")
    return EXIT_PROBLEMS if comp.errors else EXIT_OK


# ------------------------------------------------------------------ parser
