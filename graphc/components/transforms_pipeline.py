"""The transforms' lists as a whole: what a pipeline of them does to a sample statically,
checked against the model's input (``check_lists``), the train section's ``transform = [...]``
and ``augment = [...]`` bound to their records (``bind_list``), and the script code of the
transforms a run uses (``script_code``).  The records themselves are in transforms.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    """One sample as the pipeline sees it statically: (C, H, W), each an int or None (unknown
    until run time), and its dtype (None: unknown)."""

    shape: tuple | None
    dtype: str | None = "float32"
    short: int | None = None  # the shorter side, where only it is known (after Resize(int))

    def show(self) -> str:
        if self.shape is None:
            return "samples of a shape known only at run time"
        text = "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + ")"
        return text + (f" with the shorter side {self.short}" if self.short is not None else "")


# --------------------------------------------------------------- the static check
def pipeline(source: Image, steps) -> tuple[Image, list[tuple[int, str, str | None]]]:
    """``source`` through ``steps`` ((record, params) each): the sample at the end, and
    (index of the step, message, hint) for each step that cannot take its input."""
    img, problems = source, []
    for i, (rec, p) in enumerate(steps):
        if img.shape is not None and len(img.shape) != 3:
            problems.append((i, f"{rec.name} works on images (C, H, W), but the samples are {img.show()}",
                             "transforms take image data sets: image_folder, mnist, cifar10, ..."))
            return img, problems
        if rec.needs_float() and img.dtype not in (None, "float32"):
            problems.append((i, f"{rec.name} takes float images, but the samples are {img.dtype}",
                             "put ToTensor() first"))
            return img, problems
        img, problem = rec.apply(p, img)
        if problem:
            problems.append((i, *problem))
            return img, problems
    return img, problems


def script_code(steps) -> list[str]:
    """The classes of the transforms ``steps`` use, each once, in registry order."""
    from graphc.components.base import registry

    used = {rec.name for rec, _ in steps}
    blocks = [r.code.strip("\n") for name, r in registry("transform").items() if name in used]
    return "\n\n\n".join(blocks).split("\n") if blocks else []


def build_list(steps) -> str:
    """The script's list of transform objects: ``[Resize(36), CenterCrop(32)]``."""
    return "[" + ", ".join(rec.build(p) for rec, p in steps) + "]"


def describe(steps) -> str:
    """The steps as a .model file writes them (for comments and messages)."""
    out = []
    for rec, p in steps:
        args = rec.kwargs(p)
        if args and rec.positional and args[0].startswith(f"{rec.positional[0]}="):
            args[0] = args[0].split("=", 1)[1]  # Resize(224), as written
        out.append(f"{rec.name}({', '.join(args)})")
    return ", ".join(out)


# ---------------------------------------------------- the training section's lists
def bind_list(ev, env, value, key: str, out: list) -> tuple | None:
    """``transform = [Resize(36), CenterCrop(32)]``: each call bound to its record; a tuple of
    (Choice, span) each, or None (the problems added to ``out``)."""
    from graphc import ast as A
    from graphc.components.base import registry
    from graphc.errors import diag
    from graphc.training import bind_component

    table = registry("transform")
    items = value.items if isinstance(value, A.ListLit) else (value,)
    steps, ok = [], True
    not_a_call = (f"'{key}' takes a list of transforms", f"e.g. {key} = [Resize(36), CenterCrop(32)]")
    for item in items:
        choice = bind_component(ev, env, item, table, "transform", not_a_call, out)
        if choice is None:
            ok = False
            continue
        for msg, hint in choice.record.problems(choice.params):
            out.append(diag(item.span, "invalid-train", msg, hint))
            ok = False
        steps.append((choice, item.span))
    return tuple(steps) if ok else None


def source_image(data) -> Image:
    """What the data set ``data`` (a Choice) gives, statically."""
    shape = data.record.image_shape(data.params)
    if shape is None:
        return Image(None, None)
    return Image(tuple(shape), "int64" if data.record.ids else "float32")


def check_lists(data, lists: dict, in_name: str, in_type, span_of: dict, several: bool) -> list:
    """The data set through ``augment`` then ``transform`` (training) and through ``transform``
    alone (evaluation): each step must take what it is given, and what comes out must be the
    model's input.  Diagnostics at the step that goes wrong, or at the last step."""
    from graphc.errors import diag
    from graphc.shapes import shape_str

    out = []
    if several:
        first = next(iter(lists))
        return [diag(span_of[first], "invalid-train", f"'{first}' works on the data of a model of one input",
                     "drop it, or give the model one input")]
    want = tuple(in_type.shape[1:])
    source = source_image(data)
    transform, augment = lists.get("transform", ()), lists.get("augment", ())
    for choice, span in transform:  # evaluation and prediction must give one answer per sample
        if choice.record.random:
            out.append(diag(span, "invalid-train",
                            f"{choice.name} draws at random, but 'transform' is applied in evaluation and "
                            "--predict too, whose results would then depend on the draw",
                            f"move {choice.name} to augment (training samples only)"))
    for choice, span in augment:  # the statistics are measured for transform's Normalize() only
        if choice.name == "Normalize" and getattr(choice.params, "mean", 0) is None:
            out.append(diag(span, "invalid-train",
                            "Normalize() without statistics measures the training data's own, which is done "
                            "for 'transform' only: in 'augment' it would do nothing",
                            "move Normalize() to the end of transform (evaluation and --predict need it "
                            "too), or give mean= and std="))
    if out:
        return out
    for name, steps in (("evaluation", transform), ("training", augment + transform)):
        if not steps:
            continue
        img, problems = pipeline(source, [(c.record, c.params) for c, _ in steps])
        for i, msg, hint in problems:
            d = diag(steps[i][1], "data-mismatch", msg, hint)
            if d not in out:
                out.append(d)
        if problems or img.shape is None:
            continue
        last_choice, last_span = steps[-1]
        got = img.shape
        bad = len(got) != len(want) or any(isinstance(w, int) and g is not None and g != w
                                           for g, w in zip(got, want, strict=False))
        sides = [w for w in want[1:] if isinstance(w, int)]
        if img.short is not None and len(want) == 3 and len(sides) == 2 and min(sides) != img.short:
            bad = True
        if bad:
            what = describe([(c.record, c.params) for c, _ in steps])
            hint = _fix(steps, got, want)
            d = diag(last_span, "data-mismatch",
                     f"the {name} transforms [{what}] give samples of {img.show()}, but input '{in_name}' is "
                     f"{shape_str(in_type.shape)}", hint)
            if not any(o.span == d.span for o in out):
                out.append(d)
        if in_type.dtype not in ("float32", "float16", "bfloat16", "float64"):
            out.append(diag(last_span, "data-mismatch",
                            f"transforms give float images, but input '{in_name}' is {in_type.dtype}"))
            break
    return out


def _fix(steps, got, want) -> str:
    last = steps[-1][0]
    size = tuple(w for w in want[1:])
    declare = f"declare the input as [B, {', '.join('?' if d is None else str(d) for d in got)}]"
    if None in got:
        declare = "give the model's input the size the transforms make"
    if all(isinstance(d, int) for d in size) and len(want) == 3:
        h, w = size
        sz = str(h) if h == w else f"({h}, {w})"
        if last.name == "Resize":
            return f"Resize(({h}, {w})) gives exactly {h}x{w}, or add CenterCrop({sz}) after it; or {declare}"
        if last.name in ("CenterCrop", "RandomCrop"):
            return f"{last.name}({sz}) gives {h}x{w}; or {declare}"
        return f"end with CenterCrop({sz}) or Resize(({h}, {w})); or {declare}"
    return declare
