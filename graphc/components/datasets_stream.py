"""Streamed data: read a sample at a time through ``torch.utils.data.DataLoader``.

An image folder is always streamed (its files are opened when a sample is asked for, so
memory holds file names, not images), and so is a data set of your own,
``data = dataset("package.module:function")``.  Any other data set is streamed when the
train section gives transforms (``transform``, ``augment``) or ``num_workers``: its
tensors are loaded as before and handed out a sample at a time.

The script's ``stream_batches`` (``STREAM_CODE``, in datasets_stream_code.py) builds, for
training and for validation, a DataLoader with ``num_workers`` worker processes, ``pin_memory`` on CUDA,
``persistent_workers`` and ``prefetch_factor``, and a sampler of its own: a permutation
seeded by the run's seed and the epoch, sharded across torchrun's processes as
``DistributedSampler`` does, so that ``--resume`` replays the same order.  The sampler
hands the data set ``(epoch, index)``, and every random transform draws from a generator
seeded by the seed, the epoch and the index: the same augmentation whatever the number of
workers.  A sample is ``(x, y)``, with tuples in the declared order for several inputs or
targets, or a dict keyed as an npz file's arrays (``_sample_keys``: the inputs' names, ``y`` or
``y_<output>``); the first is checked against every input and target when the script starts.
"""

from __future__ import annotations

import re

from graphc import pyfmt
from graphc.components.base import Params, Sample, register
from graphc.components.datasets import Dataset
from graphc.components.datasets_stream_code import STREAM_CODE
from graphc.errors import diag

#: a data set of your own: imported by name, so that worker processes can import it too
USER_DATASET = '''
def _user_dataset(target):
    """The torch Dataset that "module:function" or "file.py:function" returns."""
    import importlib
    import sys

    where, _, name = target.rpartition(':')
    try:
        if where.endswith('.py'):  # imported by its name, from its folder: worker processes can import it too
            path = Path(where).resolve()
            if not path.is_file():
                raise DataError(f'dataset({target!r}): there is no file {where}')
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            where = path.stem
        module = importlib.import_module(where)
    except ImportError as e:
        why = (str(e).strip() or type(e).__name__).splitlines()[0]
        raise DataError(f'dataset({target!r}): cannot import {where}: {why}') from None
    found = getattr(module, '__file__', None)
    if target.rpartition(':')[0].endswith('.py') and (found is None or Path(found).resolve() != path):
        raise DataError(f'dataset({target!r}): the name {where} is taken by {found or "a built-in module"}, '
                        f'so {path.name} cannot be imported by it: rename {path.name}')
    fn = getattr(module, name, None)
    if not callable(fn):
        raise DataError(f'dataset({target!r}): {where} has no function {name}')
    data = fn()
    if not (hasattr(data, '__getitem__') and hasattr(data, '__len__')):
        raise DataError(f'dataset({target!r}) returned {type(data).__name__}, not a torch Dataset '
                        '(with __len__ and __getitem__)')
    return data


def _read_dataset(target):
    """(x, y) of every sample of a data set of your own, in memory (Inputs of several)."""
    data = _user_dataset(target)
    if not len(data):
        raise DataError(f'dataset({target!r}) has no samples')
    return all_samples(Samples(data, [], 0))
'''

_TARGET = re.compile(r"^(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*|[^:]+\.py):[A-Za-z_]\w*$")


@register
class dataset(Dataset):  # noqa: N801 - the name a .model file writes
    """A torch ``Dataset`` of your own: ``"package.module:function"``, or ``"file.py:function"`` (a path
    from the directory the script runs in), called with no arguments; its samples are (input, target)
    pairs (tuples of them in the declared order for several inputs or targets), or dicts keyed as an
    npz file's arrays, read one at a time. The first is checked against every input and target when
    the script starts."""

    task = "file"
    streams = True
    samples = (Sample({"function": "graphc_sample_data:make"}, (3, 4, 4)),)
    code = USER_DATASET

    class Params(Params):
        function: str

    def problems(self, p):
        if not _TARGET.match(p.function):
            return [(f"dataset({p.function!r}) names no function",
                     'write "package.module:function" or "file.py:function"')]
        return _defines(p.function)

    def describe(self, p):
        return f"the samples of {p.function}()"

    def items(self, p):
        return f"_user_dataset({pyfmt.literal(p.function)})"

    def reader(self, p):  # --eval: the samples in memory
        return f"_read_dataset({pyfmt.literal(p.function)})"

    def write_sample(self, folder, n, shape, classes):
        (folder / "graphc_sample_data.py").write_text(
            "import torch\n\n\n"
            "class Squares(torch.utils.data.Dataset):\n"
            f"    def __len__(self):\n        return {n}\n\n"
            "    def __getitem__(self, i):\n"
            f"        return torch.full({tuple(shape)}, float(i)), i % {classes}\n\n\n"
            "def make():\n    return Squares()\n")
        return {"function": f"{folder / 'graphc_sample_data.py'}:make"}


def _defines(target: str) -> list:
    """A "file.py:function" whose file is there at check time: the function is defined at its top
    level, or in the blocks of a top-level if or try (read with ast, never imported or run)."""
    import ast
    from pathlib import Path

    where, _, name = target.rpartition(":")
    path = Path(where)
    if not where.endswith(".py") or not path.is_file():
        return []  # a module is found by the script's import; a file may be written later
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as e:
        line = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
        return [(f"dataset({target!r}): {where} is not Python that parses{line}: "
                 f"{getattr(e, 'msg', None) or type(e).__name__}", None)]
    names, body = [], list(tree.body)
    for st in body:  # the module's top level, and the blocks of its top-level if and try statements
        if isinstance(st, ast.If):
            body += st.body + st.orelse
        elif isinstance(st, ast.Try | getattr(ast, "TryStar", ast.Try)):
            body += st.body + st.orelse + st.finalbody + [s for h in st.handlers for s in h.body]
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(st.name)
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            names += [n.id for t in (st.targets if isinstance(st, ast.Assign) else [st.target])
                      for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in st.names]
    if name in names or any(isinstance(st, ast.ImportFrom) and any(a.name == "*" for a in st.names)
                            for st in body):
        return []
    defs = [st.name for st in tree.body if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return [(f"dataset({target!r}): {where} has no function {name}",
             f"its functions: {', '.join(defs)}" if defs else f"define {name}() in {where}, returning a torch Dataset")]


def _module_name(choice, model_path, span) -> list:
    """dataset("NAME.py:f") or dataset("NAME:f") is imported as NAME, which must not be the name of
    the model's module (NAME.model builds NAME.py, which the script imports first)."""
    if choice.name != "dataset":
        return []
    import sys
    from pathlib import Path

    from graphc.names import IMPORTED_PACKAGES, module_name

    where = choice.params.function.rpartition(":")[0]
    name = Path(where).stem if where.endswith(".py") else where.split(".")[0]
    fix = f"rename {where} (e.g. {name}_data{'.py' if where.endswith('.py') else ''})"
    if name == module_name(Path(str(model_path or "")).stem):
        return [diag(span, "invalid-train", f"dataset({choice.params.function!r}) is imported as {name}, the name of "
                     f"the module {Path(str(model_path)).name} builds ({name}.py), which the script imports first",
                     fix)]
    if where.endswith(".py") and (name in sys.stdlib_module_names or name in IMPORTED_PACKAGES):
        return [diag(span, "invalid-train", f"dataset({choice.params.function!r}) is imported as {name}, which is "
                     f"the name of a module the script or torch imports first ({name} from "
                     f"{'the standard library' if name in sys.stdlib_module_names else 'its package'})", fix)]
    return []


def streamed(comps, s, has_lists: bool) -> bool:
    """Whether the training script reads the data a sample at a time."""
    data = comps["data"]
    val = comps.get("val_data")
    return bool(data.record.streams or (val is not None and val.record.streams) or has_lists or s.num_workers)


def check_streaming(prog, comps, s, seen, lists) -> list:
    """Transforms against the model's input, and what streamed data cannot do."""
    from graphc.components.transforms import check_lists

    out = []
    span = {k: st.value.span for k, st in seen.items()}
    (in_name, in_ref), *others = prog.root.inputs
    xt = prog.type_of(in_ref)
    if xt is None or "data" not in comps:
        return out
    for key in ("data", "val_data"):
        if key in comps:
            out += [diag(span[key], "invalid-train", m, h) for m, h in comps[key].record.problems(comps[key].params)]
            out += _module_name(comps[key], prog.path, span[key])
    if lists and others:  # which input would they transform?
        first = next(iter(lists))
        names = [n for n, _ in prog.root.inputs]
        out.append(diag(span[first], "invalid-train",
                        f"'{first}' transforms the samples of a model of one input, but this one has "
                        f"{len(names)} ({', '.join(names)})",
                        "transform the input you mean in your data set's __getitem__, or give the model one input"))
    elif lists:
        out += check_lists(comps["data"], lists, in_name, xt, span, False)
    if not others and comps["data"].name == "image_folder" and comps["data"].params.size is None:
        out += _unsized(comps["data"], lists, span["data"])
    if not streamed(comps, s, bool(lists)):
        return out
    data = comps["data"]
    why = (f"{data.name}() is read a sample at a time" if data.record.streams
           else "the data is streamed (transforms or num_workers)")
    if s.normalize:
        out.append(diag(span.get("normalize", prog.train.span), "invalid-train",
                        f"normalize = true needs the whole data in memory, but {why}",
                        "add Normalize() at the end of transform (the training data's own statistics)"))
    return out


def _unsized(data, lists, span) -> list:
    """image_folder(size=none): files of different sizes cannot form a batch unless the transforms
    give them one size (a warning: the files may all have one size)."""
    from graphc.components.transforms_pipeline import pipeline, source_image

    transform, augment = lists.get("transform", ()), lists.get("augment", ())
    for which, steps in (("evaluation", transform), ("training", augment + transform)):
        img, problems = pipeline(source_image(data), [(c.record, c.params) for c, _ in steps])
        if problems:
            return []  # errors of their own
        if img.shape is None or any(d is None for d in img.shape[1:]):
            given = f"the {which} transforms give {img.show()}" if steps else "there is no transform"
            return [diag(span, "unsized-images",
                         f"image_folder({data.params.path!r}, size=none) keeps each file's size, and {given}: "
                         "images of different sizes cannot form a batch",
                         "add CenterCrop(H, W) to transform (after Resize(S) to keep most of each image), "
                         "or give size=(H, W)")]
    return []


def script_code(spec) -> str:
    """The script's streaming code: ``load_items``, the transforms and STREAM_CODE."""
    from graphc.components.transforms import script_code

    d, v = spec.data, spec.val_data
    desc = pyfmt.text(d.record.describe(d.params))
    lines = [*_sample_keys(spec), "", "", "def load_items(seed):",
             f'    """(training samples, validation samples), torch Datasets of (x, y): {desc}."""']
    if d.record.streams:
        lines.append(f"    data = {d.record.items(d.params)}")
        if v is None:
            lines.append("    return split_items(data, VAL_SPLIT, seed)")
        elif v.record.streams:
            lines.append(f"    return data, {v.record.items(v.params)}")
        else:
            lines.append(f"    return data, Items(*{val_reader(spec, v)})")
    else:  # tensors loaded whole, handed out a sample at a time
        lines += ["    x, y, x_val, y_val = load_data(seed)", "    return Items(x, y), Items(x_val, y_val)"]
    steps = [(c.record, c.params) for c in spec.transform]
    aug = [(c.record, c.params) for c in spec.augment]
    lines += ["", "", "def make_transforms():",
              '    """(training transforms, evaluation transforms): augment, then transform; transform alone."""']
    for name, chosen in (("transform", steps), ("augment", aug)):
        if chosen:
            lines += [f"    {name} = [", *(f"        {rec.build(p)}," for rec, p in chosen), "    ]"]
        else:
            lines.append(f"    {name} = []")
    lines.append("    return [*augment, *transform], transform")
    folder = d.record.name == "image_folder"
    lines += ["", "", "def data_file_items(path):",
              '    """--eval --data FILE: its samples, read as the training data is."""']
    if folder:
        lines += ["    if Path(path).is_dir():",
                  f"        return {d.record.items(type(d.params)(**{**d.params.model_dump(), 'path': 'PATH'}))}"
                  .replace("'PATH'", "path")]
    lines.append("    return Items(*read_data_file(path))")
    code = script_code(steps + aug)
    if code:
        lines += ["", "", *code]
    lines += ["", "", *STREAM_CODE.strip("\n").split("\n")]
    return "\n".join(lines)


def _sample_keys(spec) -> list[str]:
    """SAMPLE_INPUTS, SAMPLE_TARGETS and TUPLE_TARGETS: how a sample of a data set of your own
    names the model's inputs and the targets it takes from the data, as an npz file's arrays do."""
    if spec.inputs:  # several: each input's name
        inputs = tuple((name,) for name, *_ in spec.inputs)
    else:  # one: "x", or its name
        inputs = (tuple(dict.fromkeys(("x", spec.input_name))),)
    if spec.task == "reconstruction":
        targets = ()
    elif spec.target_keys:  # several outputs' targets, y_<output> each, in the order of TARGET_SLOTS
        targets = tuple(spec.target_keys)
    elif spec.terms and not any(kind == "data" for kind, _, _ in spec.slots):
        targets = ()  # every target is an input
    else:
        targets = ("y",)
    declared = {t.names[0]: t.outputs[0] for t in spec.terms if t.slot is not None}
    in_order = tuple(sorted(targets, key=lambda k: declared.get(k[2:], 0))) if len(targets) > 1 else targets
    import math

    values = {}  # binary and regression outputs of a known shape: the values of one sample's target
    for name, i in spec.heads:
        t = spec.terms[i]
        if t.task in ("binary", "regression") and all(isinstance(d, int) for d in t.shape[1:]):
            values[name] = math.prod(t.shape[1:])
    return [f"SAMPLE_INPUTS = {pyfmt.literal(inputs)}  # the keys of each input in a sample that is a dict",
            f"SAMPLE_TARGETS = {pyfmt.literal(targets)}  # the keys of the data's targets, as TARGET_SLOTS reads them",
            f"TUPLE_TARGETS = {pyfmt.literal(in_order)}  # several targets in a tuple: the outputs' order",
            f"TARGET_VALUES = dict({pyfmt.literal(tuple(values.items()))})  # several outputs: values of a target, "
            "where known"]


def val_reader(spec, v) -> str:
    """val_data read from a file (the training data streamed or not): its arrays as the training
    data's (one per input, y_<output> per output)."""
    if spec.inputs and v.name in ("npz", "pt"):
        fields = tuple(field for _, field, _, _, _ in spec.inputs)
        v = type(v)(v.record, type(v.params)(**{**v.params.model_dump(), "x": fields}))
    if spec.target_keys and v.name == "npz":
        keys = spec.target_keys
        first = type(v)(v.record, type(v.params)(**{**v.params.model_dump(), "y": keys[0]}))
        return (f"({first.record.reader(first.params)}[0], "
                f"_read_targets({pyfmt.literal(v.params.path)}, {pyfmt.literal(tuple(keys))}))")
    return v.record.reader(v.params)
