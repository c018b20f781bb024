"""Text for character-level language modelling: ``text("input.txt", context=64)``.

A text gives windows of ``context`` characters as ids (``long[B, T]``) and, as the
targets, the same window moved on by one character: the model gives ``(B, T, V)``
scores, the task is the language model (``tokens``) of training_tasks.py.  The ids
index the vocabulary, the text's characters sorted; the script saves it with the
checkpoint (``data_info["vocabulary"]``) so a trained model can be sampled.
``shakespeare()`` is the same on a passage shipped with graphc, so a model trains
without any file.  Checked before running: the input must be integer ids of that
length (or symbolic), the output ``(B, T, V)`` with ``V`` at least the vocabulary
(when the file is there at check time).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from graphc import pyfmt
from graphc.components.base import Params, PosInt, Sample, register
from graphc.components.datasets import Dataset
from graphc.layers.base import FLOAT_DTYPES
from graphc.params import Field
from graphc.shapes import shape_str

TEXT_CODE = """
def _read_text(path):
    try:
        with open(path, encoding='utf-8-sig', newline='') as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f'cannot read {path}: {e} (a UTF-8 text file)') from None


def _text_windows(text, context, stride, what):
    \"\"\"(x, y): windows of context character ids every stride characters, y the same moved on by
    one; the vocabulary (the characters sorted) goes into DATA_INFO, saved with the checkpoint.\"\"\"
    if len(text) < context + 1:
        raise DataError(f'{what} has {len(text)} characters: a window of context={context} needs {context + 1}')
    vocab = ''.join(sorted(set(text)))
    DATA_INFO['vocabulary'], DATA_INFO['context'] = vocab, context
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    x = ids[:-1].unfold(0, context, stride)  # (N, context) views: no copy
    y = ids[1:].unfold(0, context, stride)
    return x, y
"""

_Context = Annotated[int, Field(gt=0)]



def ids_input(inputs, call: str, unit: str, param: str, n: int, gives: str) -> list:
    """The problems of feeding ``call()``'s (N, n) integer ids (``gives``: what they are, for the
    message) to the model's inputs: one input, of integers, of length n."""
    if len(inputs) != 1:
        return [(f"{call}() feeds one input of {unit} ids, but the model has {len(inputs)}", None)]
    name, t = inputs[0]
    out = []
    if t.dtype in FLOAT_DTYPES or t.dtype == "bool":
        out.append((f"{call}() gives {unit} ids, but input '{name}' is {t.dtype}",
                    f"declare it as integers: input {name}: long[B, {n}]"))
    if len(t.shape) != 2 or (isinstance(t.shape[1], int) and t.shape[1] != n):
        out.append((f"{call}({param}={n}) gives {gives} (N, {n}), but input '{name}' is {shape_str(t.shape)}",
                    f"declare input {name}: long[B, {n}], or pass {param}={t.shape[1] if len(t.shape) == 2 else 'T'}"))
    return out

class _Text(Dataset):
    task = "file"  # a label per position, which the output's positions are checked against (fits_model)
    ids = True

    def sample_shape(self, p):
        return None  # ids, not float features: fits_model checks the input

    def vocabulary(self, p) -> str | None:
        """The sorted characters, when graphc can read them at check time."""
        return None

    def describe(self, p):
        return f"{self.source(p)}, windows of {p.context} characters"

    def fits_model(self, p, inputs, out_name, out_shape, task):
        out = ids_input(inputs, self.name, "character", "context", p.context,
                        f"windows of {p.context} characters")
        if len(inputs) != 1:
            return out
        if task != "tokens":
            out.append((f"{self.name}() has a label per character (the next one), so the model must give "
                        f"(B, T, V) scores and the loss take class labels, but output '{out_name}' is "
                        f"{shape_str(out_shape)}", "end with Linear(V) over the sequence and use CrossEntropyLoss"))
            return out
        if not out and isinstance(out_shape[1], int) and out_shape[1] != p.context:
            out.append((f"output '{out_name}' {shape_str(out_shape)} scores {out_shape[1]} positions, but "
                        f"{self.name}(context={p.context}) has a label for each of {p.context}", None))
        vocab = self.vocabulary(p)
        if vocab is not None and isinstance(out_shape[-1], int) and out_shape[-1] < len(vocab):
            out.append((f"{self.source(p)} has {len(vocab)} distinct characters, but output '{out_name}' "
                        f"{shape_str(out_shape)} scores {out_shape[-1]}",
                        f"end with Linear({len(vocab)}) or wider, and embed at least {len(vocab)} ids"))
        return out


@register
class text(_Text):  # noqa: N801 - the name a .model file writes
    """A UTF-8 text file for character-level language modelling: windows of ``context``
    characters as ids, each target the next characters; ``stride`` (default ``context``)
    apart."""

    code = TEXT_CODE
    samples = (Sample({"context": 5}, (5,)), Sample({"context": 3, "stride": 1}, (3,)))

    class Params(Params):
        path: str
        context: PosInt
        stride: _Context | None = None

    def source(self, p):
        return p.path

    def reader(self, p):
        return (f"_text_windows(_read_text({pyfmt.literal(p.path)}), {pyfmt.literal(p.context)}, "
                f"{pyfmt.literal(p.stride or p.context)}, {pyfmt.literal(p.path)})")

    def vocabulary(self, p):
        return file_vocabulary(p.path)

    def write_sample(self, folder, n, shape, classes):
        path = folder / "sample.txt"
        path.write_text("".join("abc\n"[(i * 7) % 4] for i in range(n * (shape[0] + 1))), encoding="utf-8")
        return {"path": str(path)}


def file_vocabulary(path: str) -> str | None:
    """The sorted characters of a UTF-8 text file (None when it cannot be read now: the script
    reports that when it runs)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            chars: set[str] = set()
            while chunk := f.read(1 << 20):
                chars.update(chunk)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return "".join(sorted(chars))


@cache
def shipped_text() -> str:
    """The passage ``shakespeare()`` reads: graphc/data/shakespeare.txt."""
    return resources.files("graphc").joinpath("data", "shakespeare.txt").read_text(encoding="utf-8")


@cache
def _shakespeare_code() -> str:
    lines = shipped_text().splitlines(keepends=True)
    body = "\n".join(f"    {pyfmt.literal(line)}" for line in lines)
    return (f"\n# The opening of Shakespeare's Coriolanus (public domain), as in Andrej Karpathy's tinyshakespeare\n"
            f"_SHAKESPEARE = (\n{body}\n)\n")


@register
class shakespeare(_Text):  # noqa: N801
    """8.5 KB of Shakespeare's Coriolanus shipped with graphc (and written into the script):
    character windows like ``text``, 56 distinct characters, no file or download needed."""

    samples = (Sample({"context": 64}, (64,)), Sample({"context": 8, "stride": 3}, (8,)))

    class Params(Params):
        context: PosInt
        stride: _Context | None = None

    @property
    def code(self):  # the passage is read from the package when a script needs it
        return (TEXT_CODE, _shakespeare_code())

    def source(self, p):
        return "8.5 KB of Shakespeare's Coriolanus"

    def reader(self, p):
        return (f"_text_windows(_SHAKESPEARE, {pyfmt.literal(p.context)}, {pyfmt.literal(p.stride or p.context)}, "
                "'the shipped passage')")

    def vocabulary(self, p):
        return "".join(sorted(set(shipped_text())))

    def write_sample(self, folder, n, shape, classes):
        return {}  # nothing to write: the passage ships with graphc
