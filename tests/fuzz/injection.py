"""Injection fuzzing: nothing a ``.model`` file says may become code.

    python -m tests.fuzz.injection [--cases 20000] [--seed 0] [--only I]

Hostile text (every quote kind, triple quotes, backslashes and ``\\U``/``\\N``/``\\x``
escapes, newlines of every kind, NUL and other control characters, line separators,
lone surrogates, template and format syntax, Python snippets, very long text) is put
into every place of the language that carries text, and the generated module and
training script are checked:

- they parse (``ast``) and compile, and use only the statement and expression kinds
  the emitters produce (:data:`ALLOWED_NODES`);
- text places (data paths and data set keywords, block defaults, constants, layer,
  loss, init and train settings, comments, the file's name): the generated files are
  the same program as with a plain placeholder in that place — their syntax trees are
  equal once string constants are masked — so the text changed nothing but string
  values; where the text is a value the script uses (a path, a column, an array key),
  it reaches the script as that exact string;
- name places (models, blocks, inputs, values, labels, constants — module-level names of
  the generated module, in input shapes, block defaults and other constants — block parameters):
  every name is a legal identifier that shadows nothing the generated code uses, the
  model class imported into the training script is not rebound there, and the module
  is named like no module the generated code imports.

Each case comes from its own random generator (seed, index), so ``--only I`` replays
case ``I``.  A failure is printed with its place and text (as ``repr``).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import functools
import gc
import random
import sys
import time
from dataclasses import dataclass, field

from graphc.api import compile_source

# ----------------------------------------------------------------- hostile text
PIECES = [
    '"', "'", '"""', "'''", '""', "''", "\\", "\\\\", '\\"', "\\'", '\\"""',
    "\\U0001F600", "\\U00000022", "\\N{QUOTATION MARK}", "\\N{LATIN SMALL LETTER A}", "\\x22", "\\x27",
    "\\u0022", "\\n", "\\t", "\\0", "\\\n",
    "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
    "\x00", "\x07", "\x1b[31m", "\x7f", "\ufeff", "\u202e", "\u200b",
    "\ud800", "\udfff", "\udc80",  # lone surrogates (only through the API: no file can hold them)
    "\U0001F600", "é", "×", "中文",
    "$FILE", "${MODEL}", "$$", "$", "{", "}", "{0}", "{x!r}", "%s", "%(x)s",
    "#", "# -*- coding: latin-1 -*-", "\n# -*- coding: utf-7 -*-\n",
    "__import__('os').system('echo INJECTED')", '"); import os; os.system("x"); ("',
    "'''; raise SystemExit(7); '''", '"""\nraise SystemExit(7)\n"""', "\nraise SystemExit(7)\n",
    "\\\nraise SystemExit(7)", "C:\\Users\\me\\d.csv", "C:\\new\\table.csv", "/tmp/x.csv",
    "*/", "<!--", "</script>", "]]>", "`", "``", "@", ";", ":", ",", ")", "(", "->",
    "model", "block", "train", "input", "output", "const", "None", "True", "self", "lambda",
]

#: Names to try where the language takes a name: keywords and builtins of Python, names
#: the generated code imports or defines, nn.Module attributes, and dunder names.
HOSTILE_NAMES = [
    "json", "os", "sys", "math", "random", "time", "argparse", "torch", "nn", "F", "dist", "Path",
    "nullcontext", "numpy", "np", "csv", "main", "parse_args", "load_data", "split", "check_data",
    "Batches", "DataError", "make_loss", "make_optimizer", "make_scheduler", "save_atomic",
    "load_checkpoint", "unwrap", "pick_device", "targets_for", "count_correct", "EPOCHS", "LR",
    "TASK", "SEED", "DEVICE", "init_weights", "forward", "training", "state_dict", "to", "cuda",
    "parameters", "modules", "apply", "eval", "train", "half", "type", "register_buffer",
    "example_inputs", "self", "super", "print", "range", "len", "isinstance", "getattr", "list",
    "tuple", "dict", "int", "float", "str", "object", "exec", "compile", "open", "input_",
    "exit", "quit", "copyright", "help", "vars", "id", "hash", "match", "case", "_", "type_",
    "__import__", "__init__", "__class__", "__all__", "__name__", "__file__", "__builtins__",
    "_private", "__dunder__", "v", "v_1", "relu", "relu_1", "linear", "x_1", "y", "Net",
    "list_", "_h", "v_h", "type__", "in_features", "in_channels", "batch_size",
    "a" * 300,
]
KEYWORDS_IN_LANGUAGE = {"model", "block", "train", "init", "input", "output", "const", "true", "false", "none"}


def hostile_text(rng: random.Random) -> str:
    n = rng.choice([1, 1, 2, 3, 5, 8])
    parts = [rng.choice(PIECES) for _ in range(n)]
    if rng.random() < 0.3:
        parts.insert(rng.randrange(len(parts) + 1), "".join(chr(rng.randrange(1, 0x3000)) for _ in range(5)))
    if rng.random() < 0.02:
        # very long text (a comment carries it four times: under the 1 MiB file limit)
        parts.append((rng.choice(PIECES) * 50_000)[: rng.choice([1000, 50_000])])
    return "".join(parts)


def model_string(s: str) -> str:
    """``s`` as a ``.model`` string literal (the language's escapes: \\\\ \\" \\n \\t)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


# ----------------------------------------------------------------- places
BLOCK = """block Head(width=16, tag={default}) {{
    input h
    const half = width // 2
    out = h -> Linear(width) -> ReLU -> Linear(half)
    output out
}}
"""

MODEL = """{pre}model Net {{   {comment}
    input x: [B, 4]  {comment}
    {consts}
    y = x -> head: Head(16) -> fc: Linear(3)  {comment}
    output y
    init {{ {init} }}
    train {{
        data = {data}
        {val}
        loss = {loss}
        optimizer = SGD(lr=0.1)
        {settings}
    }}
}}
"""


def _fill(**kw) -> str:
    base = dict(default="8", pre="", comment="", consts="", init="Linear = xavier_uniform()",
                data='csv("d.csv", target="t")', val="", loss="CrossEntropyLoss()", settings="")
    base.update(kw)
    pre = base.pop("pre")
    return BLOCK.format(default=base.pop("default")) + MODEL.format(pre=pre, **base)


def _comment(t: str) -> str:
    return "# " + t.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


#: place -> (model text for a hostile text; how the text reaches the script: "value" when
#: it must arrive as that exact string, "text" when only shown, "refused" when a schema
#: must reject it, "file" for the file's name)
TEXT_PLACES = {
    "csv-path": (lambda t: _fill(data=f"csv({model_string(t)}, target=\"t\")"), "value"),
    "csv-target": (lambda t: _fill(data=f"csv(\"d.csv\", target={model_string(t)})"), "value"),
    "npz-path": (lambda t: _fill(data=f"npz({model_string(t)})"), "value"),
    "npz-x": (lambda t: _fill(data=f"npz(\"d.npz\", x={model_string(t)})"), "value"),
    "pt-y": (lambda t: _fill(data=f"pt(\"d.pt\", y={model_string(t)})"), "value"),
    "images-path": (lambda t: _fill(data=f"image_folder({model_string(t)}, size=(2, 2))").replace(
        "input x: [B, 4]", "input x: [B, 3, 2, 2]").replace("head: Head(16) -> ", "Flatten -> head: Head(16) -> "),
        "value"),
    "val-path": (lambda t: _fill(val=f"val_data = csv({model_string(t)}, target=\"t\")"), "value"),
    "block-default": (lambda t: _fill(default=model_string(t)), "value"),
    "const-top": (lambda t: _fill(pre=f"const s = {model_string(t)}\n"), "text"),
    "const-model": (lambda t: _fill(consts=f"const s = {model_string(t)}"), "text"),
    "comment": (lambda t: _fill(comment=_comment(t), pre=_comment(t) + "\n"), "text"),
    "layer-string": (lambda t: _fill(consts=f"z = x -> Upsample(scale_factor=2, mode={model_string(t)})"),
                     "refused"),
    "loss-string": (lambda t: _fill(loss=f"CrossEntropyLoss(reduction={model_string(t)})"), "refused"),
    "init-string": (lambda t: _fill(init=f"Linear = kaiming_normal(mode={model_string(t)})"), "refused"),
    "train-device": (lambda t: _fill(settings=f"device = {model_string(t)}"), "refused"),
    "train-metric": (lambda t: _fill(settings=f"early_stopping_metric = {model_string(t)}"), "refused"),
    "tensor-expression": (lambda t: _fill(consts=f"z = x * {model_string(t)} + 1"), "refused"),
    "file-name": (lambda t: _fill(), "file"),
    # a quoted group-member label: the child's name and state_dict key (issue 22); "m-" and no "."
    # keep it a name torch accepts, the freeze and weight_init= reach it through a generated path
    "member-label": (lambda t: _fill(consts=f"z = x -> g: ({model_string(member_label(t))}: Linear(4, "
                                            f"weight_init=zeros()) -> ReLU)\n    freeze g.{model_string(member_label(t))}"),
                     "label"),
}


def member_label(t: str) -> str:
    """A hostile text as a member label torch accepts (not empty, no '.', no attribute's name)."""
    return "m-" + t.replace(".", "-")
BENIGN = "placeholder"

NAMED = """const {c} = 4
const {c2} = {c} // 2
block {b}({p}, {q}={c2}) {{
    input {i}
    {v} = {i} -> {l}: Linear({p}) -> ReLU -> Linear({q})
    output {v}
}}
model {m} {{
    input {i}: [B, {c}]
    {v} = {i} -> {l}: {b}(8) -> {l2}: Linear(3)
    {e} = 1 - {v} * 0.5 + exp(-{v}) / {c}
    output {e}
    train {{
        data = csv("d.csv", target="t")
        loss = CrossEntropyLoss()
        optimizer = SGD(lr=0.1)
    }}
}}
"""
NAME_SLOTS = ("c", "c2", "b", "p", "q", "i", "v", "l", "l2", "m", "e")


def named_model(rng: random.Random) -> str:
    names = {}
    for slot in NAME_SLOTS:
        names[slot] = rng.choice(HOSTILE_NAMES) if rng.random() < 0.6 else f"n{slot}"
    return NAMED.format(**names)


# ----------------------------------------------------------------- checks
#: The syntax the emitters produce (the module and the training script), and nothing else:
#: no ``exec``-like statement kinds (Global, Nonlocal, Delete, AsyncFunctionDef, Await,
#: Yield outside the script's generators...) can appear whatever the input.
ALLOWED_NODES = frozenset("""
Module Expr Import ImportFrom alias Assign AugAssign AnnAssign FunctionDef ClassDef Return If For While
Try ExceptHandler Raise With withitem Break Continue Pass arguments arg keyword
Call Name Attribute Constant Tuple List Dict Set Subscript Slice Starred BinOp UnaryOp Compare BoolOp
IfExp Lambda ListComp GeneratorExp DictComp SetComp comprehension JoinedStr FormattedValue Yield
Load Store Del Add Sub Mult Div FloorDiv Mod Pow USub UAdd Not Invert And Or BitAnd BitOr BitXor
Eq NotEq Lt LtE Gt GtE In NotIn Is IsNot MatMult LShift RShift
""".split())


def _scan(tree: ast.AST, modules=()) -> tuple[set[str], set[str], tuple]:
    """One pass over a syntax tree: the names of its node kinds, its string constants, and its
    shape with every string constant masked and an import from one of ``modules`` renamed
    (the fields ``ast.dump`` shows, as nested tuples: equal shapes are equal dumps)."""
    kinds: set[str] = set()
    strings: set[str] = set()
    modules = set(modules)

    def shape(v):
        if isinstance(v, list):
            return tuple(map(shape, v))
        if not isinstance(v, ast.AST):
            return v
        cls = type(v)
        kinds.add(cls.__name__)
        if cls is ast.Constant:
            if isinstance(v.value, str):
                strings.add(v.value)
                return ("Constant", "<str>")
            return ("Constant", type(v.value).__name__, v.value, v.kind)  # 1, 1.0 and True differ
        if cls is ast.ImportFrom and v.module in modules:
            return ("ImportFrom", "<module>", shape(v.names), v.level)
        return (cls.__name__, *[shape(getattr(v, f, None)) for f in cls._fields])

    return kinds, strings, shape(tree)


def masked(tree: ast.AST, modules=()) -> tuple:
    return _scan(tree, modules)[2]


def strings_in(tree: ast.AST) -> set[str]:
    return _scan(tree)[1]


def module_bindings(tree: ast.Module) -> dict[str, int]:
    """Name -> how many times the module binds it at its top level."""
    out: dict[str, int] = {}
    for st in tree.body:
        names = []
        if isinstance(st, (ast.FunctionDef, ast.ClassDef)):
            names = [st.name]
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in st.names]
        for n in names:
            out[n] = out.get(n, 0) + 1
    return out


def imported_modules(tree: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            out.add(n.module.split(".")[0])
    return out


def _parsed(code: str, what: str) -> tuple[ast.Module | None, list[str]]:
    try:
        tree = ast.parse(code)
        compile(tree, what, "exec")
    except (SyntaxError, ValueError) as e:
        return None, [f"{what} does not parse: {e}"]
    return tree, []


def _kinds_failures(kinds: set[str], what: str) -> list[str]:
    bad = sorted(kinds - ALLOWED_NODES)
    return [f"{what} uses syntax the emitters never write: {bad}"] if bad else []


def syntax_failures(code: str, what: str) -> tuple[ast.Module | None, list[str]]:
    tree, fails = _parsed(code, what)
    if tree is None:
        return None, fails
    return tree, _kinds_failures(_scan(tree)[0], what)


def shadowing_failures(module: ast.Module, train: ast.Module | None, model_cls: str, stem: str) -> list[str]:
    """Names in the generated code that would replace something it uses."""
    out = []
    top = module_bindings(module)
    out += [f"module binds {n!r} {k} times" for n, k in top.items() if k > 1]
    # no local may take the name of an import, a builtin or ``self``; no constructor
    # argument the name of a class (a constructor builds the classes of its blocks)
    imports = {(a.asname or a.name).split(".")[0] for st in module.body
               if isinstance(st, (ast.Import, ast.ImportFrom)) for a in st.names}
    classes = {st.name for st in module.body if isinstance(st, ast.ClassDef)}
    protected = imports | set(dir(builtins)) | {"self"}
    for fn in ast.walk(module):
        if not isinstance(fn, ast.FunctionDef):
            continue
        args = [a.arg for a in fn.args.args]
        args = args[1:] if args[:1] == ["self"] else args
        local = set(args) | {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for n in sorted(local & protected):
            out.append(f"{fn.name}() binds {n!r}, an import, a builtin or self")
        if fn.name == "__init__":
            for n in sorted(set(args) & classes):
                out.append(f"__init__() takes an argument {n!r}, the name of a class")
    for cls in module.body:
        if isinstance(cls, ast.ClassDef):
            methods = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}
            for n in ast.walk(cls):
                if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and \
                        isinstance(n.value, ast.Name) and n.value.id == "self" and n.attr in methods:
                    out.append(f"class {cls.name}: attribute {n.attr!r} replaces its method")
    imported = imported_modules(module) | (imported_modules(train) - {stem} if train else set())
    if stem in imported or stem in sys.stdlib_module_names:
        out.append(f"the generated module {stem}.py shadows the module {stem!r} that generated code imports")
    if train is not None:
        tb = module_bindings(train)
        if tb.get(model_cls, 0) != 1:
            out.append(f"the training script binds the model class name {model_cls!r} {tb.get(model_cls, 0)} times")
    return out


@dataclass
class Outcome:
    place: str
    text: str
    accepted: bool = False
    failures: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _no_gc():
    """The cyclic collector paused: a case builds about 200,000 syntax-tree objects, which have
    no cycles (reference counting frees them), and the collections they trigger made each case
    about a third slower."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _emit(model_text: str, path: str):
    comp = compile_source(model_text, path)
    if not comp.ok:
        return comp, None, None
    return comp, comp.python_source(), comp.train_source()


@functools.cache
def _benign(place: str):
    """The placeholder's module name, module and script for a place (the same for every case)."""
    make, how = TEXT_PLACES[place]
    comp, mod, train = _emit(make(BENIGN), f"{BENIGN}.model" if how == "file" else "net.model")
    return comp.module_stem, mod, train


@functools.lru_cache(maxsize=64)
def _benign_shape(code: str, stem: str) -> tuple:
    """The placeholder's masked shape, computed once per place and file."""
    return masked(ast.parse(code), {stem})


def check_text_place(place: str, text: str) -> Outcome:
    with _no_gc():
        return _check_text_place(place, text)


def _check_text_place(place: str, text: str) -> Outcome:
    make, how = TEXT_PLACES[place]
    out = Outcome(place, text)
    path = f"{text}.model" if how == "file" else "net.model"
    try:
        comp, mod, train = _emit(make(text), path)
        if how == "refused":
            out.accepted = mod is not None
            if mod is not None:
                out.failures.append("accepted text that the schema should refuse")
            return out
        bstem, bmod, btrain = _benign(place)
    except Exception as e:  # noqa: BLE001 - any crash is a finding
        out.failures.append(f"crash: {type(e).__name__}: {e}")
        return out
    if bmod is None:
        out.failures.append("the placeholder model does not compile (the fuzzer's own mistake)")
        return out
    if mod is None:
        out.failures.append("refused: " + "; ".join(d.message for d in comp.errors)[:300])
        return out
    out.accepted = True
    for code, bcode, what in ((mod, bmod, "module"), (train, btrain, "training script")):
        tree, fails = _parsed(code, what)
        out.failures += fails
        if tree is None:
            continue
        kinds, strings, shape = _scan(tree, {comp.module_stem})  # one pass for the three checks
        out.failures += _kinds_failures(kinds, what)
        wanted_in = "module" if place in ("block-default", "member-label") else "training script"
        if how == "label" and what == wanted_in and member_label(text) not in strings:
            out.failures.append(f"{what}: the label does not reach it as the exact string")
        if how == "value" and what == wanted_in and text not in strings:
            out.failures.append(f"{what}: the text does not reach it as the exact string")
        if shape != _benign_shape(bcode, bstem):
            out.failures.append(f"{what}: the text changed the program, not only string values")
    if how == "file":
        stem = comp.module_stem
        if not stem.isidentifier() or stem in sys.stdlib_module_names:
            out.failures.append(f"module name {stem!r} is not a safe module name")
    return out


def check_name_case(model_text: str) -> Outcome:
    with _no_gc():
        return _check_name_case(model_text)


def _check_name_case(model_text: str) -> Outcome:
    out = Outcome("names", model_text)
    try:
        comp, mod, train = _emit(model_text, "net.model")
    except Exception as e:  # noqa: BLE001
        out.failures.append(f"crash: {type(e).__name__}: {e}")
        return out
    if mod is None:
        return out  # a diagnostic, e.g. a reserved word
    out.accepted = True
    mtree, f1 = syntax_failures(mod, "module")
    ttree, f2 = syntax_failures(train, "training script")
    out.failures += f1 + f2
    if mtree is not None:
        from graphc.emit.torch_module import Emitter

        cls = Emitter(comp.program, comp.source.path).model_cls
        out.failures += shadowing_failures(mtree, ttree, cls, comp.module_stem)
    return out


def case(seed: int, i: int) -> Outcome:
    rng = random.Random(f"{seed}:{i}")
    if rng.random() < 0.2:
        return check_name_case(named_model(rng))
    place = rng.choice(sorted(TEXT_PLACES))
    return check_text_place(place, hostile_text(rng))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", type=int, help="replay one case")
    args = ap.parse_args(argv)
    indices = [args.only] if args.only is not None else range(args.cases)
    t0 = time.perf_counter()
    stats: dict[str, list[int]] = {}
    failed = 0
    for i in indices:
        o = case(args.seed, i)
        s = stats.setdefault(o.place, [0, 0, 0])
        s[0] += 1
        s[1] += o.accepted
        s[2] += bool(o.failures)
        if o.failures:
            failed += 1
            print(f"case {i} ({o.place}): {o.text[:300]!r}")
            for f in o.failures:
                print(f"    {f}")
    print(f"graphc injection fuzzing: seed {args.seed}, {len(indices):,} cases, {time.perf_counter() - t0:.0f} s")
    print(f"{'place':<16} {'cases':>8} {'built':>8} {'failed':>7}")
    for place, (n, acc, bad) in sorted(stats.items()):
        print(f"{place:<16} {n:>8,} {acc:>8,} {bad:>7,}")
    print(f"failures: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
