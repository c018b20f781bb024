"""Text classification from a CSV file: ``text_csv("reviews.csv", text="review", label="sentiment", length=64)``.

Each row's ``text`` column becomes ``length`` word ids (``long[B, length]``), its ``label``
column a class.  The tokenizer is deliberately simple and written out in the script
(``_words``): the text lowercased, a word is a run of letters, digits and apostrophes
(apostrophes at either end dropped), everything else (punctuation, spaces) separates words.
The vocabulary is the ``vocab_size`` most frequent words of the rows that train (not those
the validation split holds out; each seen at least ``min_count`` times; equal counts in alphabetical order), id 0 pads, id 1 stands for a
word outside it, the vocabulary's words are 2, 3, ...  A text is cut to its first ``length``
words or padded with 0 at the end.  The classes are the label column's distinct values,
sorted (numerically when every one is a number, else as text); a label column of numbers is
still classes, not a regression target.  A row whose text and label are both empty (a blank row,
as spreadsheets leave) is skipped; a text with an empty label is an error naming its row.
A byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.  The vocabulary (``data_info["words"]``) and the class
names (``data_info["classes"]``, which ``--predict`` prints) are saved with the checkpoint;
``val_data = text_csv(...)`` reuses the training file's, so its ids and labels mean the same.

Checked before running: the input must be integer ids of that length (or symbolic), the
Embedding reading it must have room for ``vocab_size + 2`` ids, and, when the file is there
at check time, both columns must exist, every text have a label and the output give one score
per class.
"""

from __future__ import annotations

import csv as _csv
import difflib
import json
from typing import Annotated

from graphc import pyfmt
from graphc.components.base import Params, PosInt, Sample, register
from graphc.components.csv_code import CSV_ROWS
from graphc.components.datasets import Dataset
from graphc.params import Field
from graphc.shapes import shape_str

TEXT_CSV_CODE = '''
def _words(text):
    """The tokenizer: lowercase, a word is a run of letters, digits and apostrophes (apostrophes at
    either end dropped); punctuation and spaces separate words."""
    import re

    words = (w.strip("'") for w in re.findall(r"(?:[^\\W_]|')+", text.lower()))
    return [w for w in words if w]


def _read_text_csv(path, text, label):
    """The text and label columns of a CSV file with a header (label None: the texts only).  A
    row whose text and label are both empty is a blank row (a spreadsheet's cleared cells) and
    is skipped; a text without a label is an error naming its row."""
    rows, lines = _csv_rows(path)
    header = rows[0]
    for name in (text, label):
        if name is not None and name not in header:
            raise DataError(f'{path} has no column {name!r} (columns: {header})')
    t, c = header.index(text), header.index(label) if label is not None else 0
    texts, labels = [], []
    for n in range(1, len(rows)):
        r = rows[n]
        if not r:
            continue
        where = _csv_row(n, lines)
        if len(r) <= max(t, c):
            raise DataError(f'{path}: {where} has {len(r)} values, but the header has {len(header)}')
        if label is not None and not r[c].strip():
            if not r[t].strip():
                continue  # a blank row
            raise DataError(f'{path}: {where} has a text but no label (column {label!r} is empty): '
                            f'give it its class, or remove the row')
        texts.append(r[t])
        labels.append(r[c].strip())
    return texts, labels if label is not None else None


def _label_order(labels):
    """The classes: the distinct labels sorted, as numbers when every one is a number."""
    names = set(labels)
    try:
        return sorted(names, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(names)


def _text_csv(path, text, label, length, vocab_size, min_count, seed=None):
    """(ids long[N, length], class labels long[N]); the training data's vocabulary and classes go into
    DATA_INFO (saved with the checkpoint), and validation data read after it reuses them.  seed: this
    is the training data, whose vocabulary counts the words of the rows that train only (not those
    the validation split holds out)."""
    texts, labels = _read_text_csv(path, text, label)
    if not texts:
        raise DataError(f'{path} has a header but no rows')
    words = [_words(t) for t in texts]
    if 'words' not in DATA_INFO:  # the training data: the vocabulary and the classes are its own
        counts = {}
        rows = _training_rows(len(texts), seed) if seed is not None else range(len(texts))
        for i in rows:
            for w in words[i]:
                counts[w] = counts.get(w, 0) + 1
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        DATA_INFO['words'], DATA_INFO['length'] = ranked[:vocab_size], length
        DATA_INFO['classes'] = _label_order(labels)
    classes = {name: i for i, name in enumerate(DATA_INFO['classes'])}
    unseen = sorted(set(labels) - set(classes))
    if unseen:
        raise DataError(f'{path} has labels the training data has not: {unseen[:5]} '
                        f'(its classes: {DATA_INFO["classes"][:10]})')
    return _text_ids(words, length), torch.tensor([classes[v] for v in labels], dtype=torch.long)


def _text_ids(words, length):
    """Each text's first length words as ids of the vocabulary in DATA_INFO, padded with 0."""
    index = {w: i + 2 for i, w in enumerate(DATA_INFO['words'])}  # 0 pads, 1 is a word outside them
    rows = []
    for ws in words:
        ids = [index.get(w, 1) for w in ws[:length]]
        rows.append(ids + [0] * (length - len(ids)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(words), length)


def _text_csv_features(path, text, length):
    """--predict's texts (a label column, if any, is ignored) as ids of the checkpoint's vocabulary."""
    if 'words' not in DATA_INFO:
        raise DataError('the checkpoint has no vocabulary: it was not trained on text_csv()')
    return _text_ids([_words(t) for t in _read_text_csv(path, text, None)[0]], length)
'''

_Count = Annotated[int, Field(ge=1)]
_Problem = tuple[str, str] | None


def file_columns(path: str, text: str, label: str) -> tuple[list[str], list[str] | None, _Problem] | None:
    """(the header, the distinct labels or None where a column is missing, (message, hint) for the
    first row with a text but no label or None) of a CSV file, read with the csv module (no torch)
    by the script's rules; None when it cannot be read now (the script reports that)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
            reader = _csv.reader(f)
            header = next(reader, None)
            if header is None:
                return None
            if text not in header or label not in header:
                return header, None, None
            t, c = header.index(text), header.index(label)
            labels, empty, line, n = set(), None, reader.line_num, 1
            for r in reader:
                n, start, line = n + 1, line + 1, reader.line_num
                if len(r) <= max(t, c):
                    continue  # the script reports a short row
                if r[c].strip():
                    labels.add(r[c].strip())
                elif r[t].strip() and empty is None:
                    where = f"row {n}" + (f" (line {start})" if start != n else "")
                    empty = (f"{path}: {where} has a text but no label (column {label!r} is empty)",
                             "give it its class, or remove the row (a row with neither is skipped)")
            return header, sorted(labels), empty
    except (OSError, UnicodeDecodeError, ValueError, _csv.Error):
        return None


@register
class text_csv(Dataset):  # noqa: N801 - the name a .model file writes
    """A CSV file with a text column and a label column, for classification: each text as
    ``length`` word ids of a simple tokenizer, the vocabulary saved with the checkpoint."""

    task = "class"
    ids = True
    code = (CSV_ROWS, TEXT_CSV_CODE)
    samples = (Sample({"length": 6}, (6,)), Sample({"length": 3, "vocab_size": 4, "min_count": 2}, (3,)))

    class Params(Params):
        path: str
        text: str = "text"
        label: str = "label"
        length: PosInt
        vocab_size: PosInt = 20000
        min_count: _Count = 1

    def num_classes(self, p):
        found = file_columns(p.path, p.text, p.label)
        return len(found[1]) if found is not None and found[1] is not None else None

    def describe(self, p):
        return f"{p.path}, column {p.text!r} as {p.length} word ids, column {p.label!r} the classes"

    def reader(self, p):
        return self.file_reader(p, pyfmt.literal(p.path))

    training_rows = True  # its code calls ``_training_rows(n, seed)``, which the script defines

    def load(self, p):
        return [f"    return _split_or_val(*{self.file_reader(p, pyfmt.literal(p.path), 'seed')}, seed)"]

    def file_reader(self, p, path: str, seed: str | None = None) -> str:
        """``reader`` of another file (``--eval --data FILE``), the same columns and length."""
        return (f"_text_csv({path}, {pyfmt.literal(p.text)}, {pyfmt.literal(p.label)}, {pyfmt.literal(p.length)}, "
                f"{pyfmt.literal(p.vocab_size)}, {pyfmt.literal(p.min_count)}{', ' + seed if seed else ''})")

    def features_reader(self, p, path: str) -> str:
        """``--predict --data FILE``: the texts of FILE, as ids of the checkpoint's vocabulary."""
        return f"_text_csv_features({path}, {pyfmt.literal(p.text)}, {pyfmt.literal(p.length)})"

    def fits_model(self, p, inputs, out_name, out_shape, task):
        from graphc.components.datasets_text import ids_input

        out = ids_input(inputs, "text_csv", "word", "length", p.length, f"{p.length} word ids per text")
        if len(inputs) != 1:
            return out
        found = file_columns(p.path, p.text, p.label)
        if found is not None and found[1] is None:
            header = found[0]
            missing = [c for c in (p.text, p.label) if c not in header]
            fixes = []
            for key, col in (("text", p.text), ("label", p.label)):
                if col in missing:
                    near = difflib.get_close_matches(col, header, 1, 0.5)
                    fixes.append(f"{key}={json.dumps(near[0]) if near else 'NAME'}")  # a .model string
            out.append((f"{p.path} has no column {' or '.join(map(repr, missing))} (its columns: "
                        f"{', '.join(map(repr, header))})", f"pass {' and '.join(fixes)}, naming its columns"))
        elif found is not None and found[2] is not None:
            out.append(found[2])
        if task != "class" or len(out_shape) != 2:
            out.append((f"text_csv() has one class label per text, so the model must give (B, C) class scores, "
                        f"but output '{out_name}' is {shape_str(out_shape)}",
                        "pool over the words (e.g. mean(dim=1)) and end with Linear(C); use CrossEntropyLoss"))
        return out

    def fits_ids(self, p, name: str, limit: int | None) -> list[tuple[str, str | None]]:
        need = p.vocab_size + 2
        if limit is not None and limit < need:
            return [(f"text_csv(vocab_size={p.vocab_size}) gives ids up to {need - 1} (0 pads, 1 is an unknown "
                     f"word, the {p.vocab_size} words are 2..{need - 1}), but the Embedding reading input "
                     f"'{name}' has num_embeddings={limit}",
                     f"use Embedding({need}, ...) or pass vocab_size={max(limit - 2, 1)}")]
        return []

    def write_sample(self, folder, n, shape, classes):
        import random

        rng = random.Random(0)
        words = ["good", "bad", "it's", "Film", "plot", "ACTING", "dull", "fun"]
        path = folder / "sample.csv"
        rows = [["id", "review", "stars"]]
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 2 * shape[0]))) + "!"
            rows.append([str(i), text, str(i % classes + 1)])
        with open(path, "w", newline="", encoding="utf-8") as f:
            _csv.writer(f).writerows(rows)
        return {"path": str(path), "text": "review", "label": "stars"}
