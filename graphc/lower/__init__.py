"""Lowering: AST -> Program (layer nodes, block tree; see graphc.graph).

Resolves names, evaluates constant expressions, expands blocks and repeats,
validates every layer's arguments with its parameter schema (graphc.params), and records a
diagnostic for each problem instead of stopping at the first.

One Lowerer does it, its methods by concern in the modules of this package:

- env: names, scopes and the environment (what a name is bound to, did-you-mean hints);
- evaluate: constant evaluation, within MAX_EVAL_STEPS;
- arguments: binding the arguments of layer calls, block uses and initializers;
- blocks: block expansion, repeats and groups;
- imports: ``import "blocks.model"``;
- init_section: the ``init { ... }`` section;
- sharing: a layer or block instance applied again, and tied parameters;
- learned: ``param`` statements, learned tensors;
- body: a model's or block's statements, its chains and their layer calls.
"""

from __future__ import annotations

import os
from typing import Any

from graphc import ast as A
from graphc.errors import Diagnostic, diag
from graphc.graph import Node, Program, Scope
from graphc.layers.base import LAYERS, REGISTRY
from graphc.lower.arguments import Arguments
from graphc.lower.blocks import MAX_BLOCK_DEPTH, MAX_REPEAT, Blocks
from graphc.lower.body import DTYPES, MAX_NODES, MAX_STATEMENTS, Body
from graphc.lower.env import HINT_BUDGET, RESERVED_WORDS, Names, _Abort, _Const, _Env
from graphc.lower.evaluate import MAX_EVAL_STEPS, Evaluator
from graphc.lower.imports import Imports
from graphc.lower.init_section import InitSection
from graphc.lower.learned import Learned
from graphc.lower.sharing import Sharing
from graphc.lower.tensor_expr import TensorExpr
from graphc.source import Span


class Lowerer(Names, Evaluator, Arguments, Blocks, Imports, InitSection, Learned, TensorExpr, Sharing, Body):
    """Lowers one file: ``run()`` gives its Program (None after an error that stops
    lowering), ``diags`` its diagnostics."""

    def __init__(self, file: A.File):
        self.file = file
        self.path = file.path
        self.reg = LAYERS
        self.diags: list[Diagnostic] = []
        self.nodes: dict[str, Node] = {}
        self.blocks: dict[str, A.BlockDef] = {}
        self.globals = _Env()
        self.stack: list[str] = []
        self.symbols: dict[str, int | None] = {}
        self.reported_no_output: set[str] = set()
        self._seen: set[Diagnostic] = set()
        self.train: A.TrainBlock | None = None
        self.train_env: _Env | None = None
        self.bindings: dict[str, int] = {}   # symbol -> value, from --set
        self.init_rules: dict = {}            # init section: kind | "weight" | "bias" -> (Init, span)
        self.statements = 0                   # lowered so far (MAX_STATEMENTS)
        self.hint_budget = HINT_BUDGET
        self.eval_steps = 0                   # charged so far (MAX_EVAL_STEPS)
        self._expr_info: dict[int, tuple] = {}   # id(expr) -> (expr, size, free names or None)
        self._memo: dict[tuple, tuple] = {}      # (id(expr), values of its names) -> outcome
        self._tuples: dict[int, tuple] = {}      # id(tuple value) -> (value, items, depth)
        self.sources: dict = {}                  # imported path -> its Source (graphc.lower.imports)
        self.import_failed = False               # an imported file could not be read or parsed
        self.import_stack: list[str] = [os.path.normpath(file.path)]
        self.imported_files: list[A.File] = []
        self.const_defs: list[A.ConstDef] = []   # top-level, of this file and the imported ones

    # ------------------------------------------------------------------ api
    def error(self, span: Span, code: str, message: str, hint: str | None = None) -> None:
        if self.import_failed and code in ("undefined-name", "unknown-layer"):
            return  # a name the file that failed to import may well define: that failure is reported
        d = diag(span, code, message, hint)
        if d not in self._seen:  # a block used N times reports a mistake in it once
            self._seen.add(d)
            self.diags.append(d)

    def block_def(self, item: A.BlockDef) -> None:
        if item.name.id in self.blocks:
            first = self.blocks[item.name.id].name.span
            where = f"line {first.line}" if first.path == item.name.span.path else f"{first.path}:{first.line}"
            self.error(item.name.span, "duplicate-name",
                       f"block '{item.name.id}' is already defined at {where}",
                       "rename one of the blocks")
        elif item.name.id in self.reg:
            self.error(item.name.span, "duplicate-name",
                       f"block '{item.name.id}' has the name of a built-in layer",
                       "choose another block name")
        else:
            self.blocks[item.name.id] = item
            seen: dict[str, A.Name] = {}
            for prm in item.params:
                self.reserved(prm.name)
                if prm.name.id in seen:
                    self.error(prm.name.span, "duplicate-name",
                               f"block '{item.name.id}' has two parameters named '{prm.name.id}' "
                               f"(the first at column {seen[prm.name.id].span.col})",
                               "rename one of the parameters")
                seen.setdefault(prm.name.id, prm.name)

    def run(self, index: int = 0) -> Program | None:
        """The program of the file's ``index``-th model (None after an error that stops lowering)."""
        models: list[A.ModelDef] = []
        self.top_level(self.file.items, models)
        if not models:
            at = self.file.span.__class__(self.path, 1, 1, 1, 2)
            if any(isinstance(it, (A.BlockDef, A.Import)) for it in self.file.items):
                self.error(at, "library", "the file defines blocks but no model: a library for other "
                           "files to import; its blocks are checked where a model uses them",
                           'use it from a model file: import "' + os.path.basename(self.path) + '"')
            else:
                self.error(at, "missing-model", "the file defines no model", "add 'model Name { ... }'")
            return None
        model = models[index]
        first = next(m for m in models if m.name.id == model.name.id)
        if first is not model:
            self.error(model.name.span, "duplicate-name",
                       f"a second model named '{model.name.id}' (the first is at line {first.span.line})",
                       "give each model of a file its own name")
        elif model.name.id in self.blocks:
            other = self.blocks[model.name.id].span
            where = f"line {other.line}" if other.path == model.span.path else f"{other.path}:{other.line}"
            self.error(model.name.span, "duplicate-name",
                       f"model '{model.name.id}' has the name of a block ({where})",
                       "rename the model or the block")
        root = Scope("", model.name.id, model, model.span)
        try:
            self.body(model.body, root, _Env(self.globals), tensor_inputs=None)
        except _Abort:
            return None
        if not any(isinstance(st, A.OutputDecl) for st in model.body):
            self.error(model.name.span, "invalid-output", f"model '{model.name.id}' has no output",
                       "add 'output <name>' naming the value the model returns")
        consts = {k: b.value for k, b in self.globals.names.items() if isinstance(b, _Const)}
        defaults = {
            name: {p.name.id: self.eval(p.default, self.globals) for p in b.params if p.default is not None}
            for name, b in self.blocks.items()
        }
        return Program(self.path, model.name.id, root, self.nodes, self.blocks,
                       self.symbols, consts, defaults, self.train, self.train_env,
                       init_rules=self.init_rules, const_defs=self.const_defs, sources=self.sources)


def lower(file: A.File, bindings: dict[str, int] | None = None,
          sources: dict | None = None) -> tuple[Program | None, list[Diagnostic]]:
    """The program of the file's first model.  ``sources``, when given, receives the imported
    files' texts (path -> Source)."""
    progs, diags = lower_all(file, bindings, sources, first_only=True)
    return (progs[0] if progs else None), diags


def lower_all(file: A.File, bindings: dict[str, int] | None = None, sources: dict | None = None,
              first_only: bool = False) -> tuple[list[Program], list[Diagnostic]]:
    """The programs of every model of the file, in order (a model whose lowering stops is left
    out), and the diagnostics of all, each once (those of the constants and blocks are found
    again for each model)."""
    n = sum(isinstance(it, A.ModelDef) for it in file.items)
    progs: list[Program] = []
    diags: list[Diagnostic] = []
    seen: set[Diagnostic] = set()
    for i in range(1 if first_only else max(n, 1)):
        lw = Lowerer(file)
        lw.bindings = dict(bindings or {})
        prog = lw.run(i)
        if sources is not None:
            sources.update(lw.sources)
        for d in lw.diags:
            if d not in seen:
                seen.add(d)
                diags.append(d)
        if prog is not None:
            prog.file = file  # the emitter writes the top-level constants as they are written
            progs.append(prog)
    return progs, diags


def lowerer_with_constants(consts: dict[str, Any], path: str):
    """A function ``lower_file(file) -> (Program | None, diagnostics)`` that lowers files of
    blocks and one model against the top-level constants ``consts`` (name -> value, as
    ``Program.consts`` holds them), bound once for every call, instead of evaluating const
    definitions (the files hold none).  graphc.emit.provenance lowers single uses of a block
    this way, many times, without paying for the constants of the file again."""
    shared = _Env()
    span = Span(path, 1, 1, 1, 2)
    shared.names.update((name, _Const(value, None, span)) for name, value in consts.items())

    def lower_file(file: A.File) -> tuple[Program | None, list[Diagnostic]]:
        lw = Lowerer(file)
        lw.globals = _Env(shared)  # what lowering binds at top level goes here, not in ``shared``
        return lw.run(), lw.diags

    return lower_file


__all__ = ["lower", "lower_all", "lowerer_with_constants", "Lowerer", "REGISTRY", "DTYPES", "RESERVED_WORDS", "MAX_REPEAT", "MAX_NODES",
           "MAX_BLOCK_DEPTH", "MAX_STATEMENTS", "HINT_BUDGET", "MAX_EVAL_STEPS"]
