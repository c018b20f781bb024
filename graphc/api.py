"""The Python API: ``graphc.compile(path_or_text)``.

The result carries the diagnostics, the program graph, a summary, the
generated source (on demand) and ``to_module()``, which needs torch.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from pathlib import Path

from graphc.errors import Diagnostic, GraphcError
from graphc.graph import Program
from graphc.source import Source


@dataclass
class Compilation:
    source: Source
    program: Program | None              # the file's first model (MODEL in the generated module)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)  # every model of the file, in order

    def __post_init__(self):
        if not self.programs and self.program is not None:
            self.programs = [self.program]

    def model(self, name: str) -> Program:
        """The program of the model named ``name``; KeyError when the file has none."""
        for p in self.programs:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def trained(self) -> Program | None:
        """The model with a training section, if one has."""
        return next((p for p in self.programs if p.train is not None), None)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.program is not None and not self.errors

    def raise_for_errors(self) -> None:
        if not self.ok:
            raise GraphcError(self.errors or self.diagnostics)

    @property
    def graph(self):
        return self.program.graph if self.program else None

    def summary(self, batch_size: int = 1, program: Program | None = None):
        """The summary of the first model, or of ``program`` (one of ``programs``)."""
        from graphc.summary import summarize

        self.raise_for_errors()
        with gc_paused():
            return summarize(program or self.program, batch_size)

    def python_source(self) -> str:
        from graphc.emit.torch_module import emit_module

        self.raise_for_errors()
        with gc_paused():
            return emit_module(self.programs, self.source)

    @property
    def module_stem(self) -> str:
        """The generated module's file stem: the .model file's stem, made importable."""
        from graphc.names import module_name

        return module_name(Path(self.source.path).stem)

    def train_source(self) -> str | None:
        """The generated training script, or None when the model has no train section."""
        from graphc.emit.torch_module import Emitter
        from graphc.emit.train_script import emit_train_script

        self.raise_for_errors()
        prog = self.trained
        if prog is None or prog.training is None:
            return None
        with gc_paused():
            emitter = Emitter(self.programs, self.source.path)
            cls = emitter.class_of(prog)
            if prog.training.task == "gan":  # two players: graphc.training_gan
                from graphc.emit.gan_script import emit_gan_script

                d = self.model(prog.training.discriminator)
                return emit_gan_script(prog.training, cls, emitter.class_of(d), self.module_stem, self.source.path,
                                       (prog.name, d.name), (prog.outputs[0][0], d.outputs[0][0]))
            blocks = tuple(plan.name for plan in emitter.plans)
            return emit_train_script(prog.training, cls, self.module_stem, self.source.path, blocks,
                                     tuple(name for name, _ in prog.outputs))

    def to_module(self, name: str | None = None):
        """A fresh instance of the model (the first, or the one named ``name``) as an nn.Module,
        built in memory (imports torch)."""
        import builtins

        code = self.python_source()
        namespace: dict = {"__name__": f"graphc_generated_{self.program.name}"}
        from graphc.pyfmt import text

        # the file name only labels tracebacks; text() keeps NUL and surrogates out of it
        exec(builtins.compile(code, f"<graphc:{text(self.source.path)}>", "exec"), namespace)
        if name is None:
            return namespace["MODEL"]()
        self.model(name)  # KeyError for a model the file does not have
        return namespace["MODELS"][name]() if "MODELS" in namespace else namespace["MODEL"]()


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector.  A compile (and code generation, and ``fmt``)
    allocates many small, acyclic objects (tokens, AST, nodes, shapes, lines): the
    collector's passes over them cost a third of a 10,000-layer check, grow faster than
    linearly, and find nothing to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_source(text: str, path: str = "<string>", bindings: dict[str, int] | None = None, *,
                   tree=None) -> Compilation:
    """Compile ``.model`` text.  ``bindings`` give symbolic input dims a value (``--set H=64``).
    ``tree``: ``graphc.syntax.parse(text, path)`` when the caller has it already (the language
    server parses only the items an edit changed)."""
    with gc_paused():
        return _compile_source(text, path, bindings, tree)


def _compile_source(text: str, path: str, bindings: dict[str, int] | None, tree=None) -> Compilation:
    from graphc.errors import diag
    from graphc.infer import infer
    from graphc.lint import lint
    from graphc.lower import lower_all
    from graphc.syntax import parse

    src = Source(path, text)
    if tree is None:
        try:
            tree = parse(text, path)
        except GraphcError as e:
            return Compilation(src, None, e.diagnostics)
    progs, diags = lower_all(tree, bindings, sources=src.imported)
    for prog in progs:
        diags += infer(prog)
        if prog.init_rules or any(n.inits for n in prog.nodes.values()):
            from graphc.initializers import check_inits  # its schemas cost a few ms to import

            diags += check_inits(prog)
    if not any(d.severity == "error" for d in diags):
        for prog in progs:
            diags += lint(prog)
        trained = [p for p in progs if p.train is not None]
        for extra in trained[1:]:
            diags.append(diag(extra.train.span, "invalid-train",
                              f"a second model with a training section ({trained[0].name} at line "
                              f"{trained[0].train.span.line} has one): training two models together, "
                              "as a GAN does, takes one section",
                              "keep one training section; a GAN's is the generator's, naming the other model: "
                              "'discriminator = NAME' (docs/training.md)"))
        if trained:
            from graphc.training import check_training
            from graphc.training_gan import check_gan, is_gan

            diags += check_gan(trained[0], progs) if is_gan(trained[0]) else check_training(trained[0])
    diags.sort(key=lambda d: (d.span.path != path, d.span.path, d.span.line, d.span.col))  # this file first
    return Compilation(src, progs[0] if progs else None, diags, progs)


def compile(path_or_text: str | Path, **bindings: int) -> Compilation:  # noqa: A001 - the public name
    """Compile a ``.model`` file (a path) or ``.model`` text; keyword arguments bind
    symbolic input dims, e.g. ``graphc.compile("net.model", H=64)``."""
    if isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text and "{" not in path_or_text
    ):
        p = Path(path_or_text)
        return compile_source(p.read_text(encoding="utf-8"), str(path_or_text), bindings)
    return compile_source(path_or_text, bindings=bindings)
