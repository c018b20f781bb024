"""Write docs/layers.md and docs/components.md from the registries: ``python -m graphc.docgen [DIR]``.

The reference is generated so that it cannot drift from the code; a test
checks that the committed file is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphc.binder import _constraints, _fmt, describe_type
from graphc.layers.base import load_all

CATEGORY_TITLES = [
    ("linear", "Linear"), ("conv", "Convolution"), ("pool", "Pooling"), ("norm", "Normalization"),
    ("activation", "Activations"), ("dropout", "Dropout"), ("recurrent", "Recurrent"),
    ("attention", "Attention and transformers"), ("embedding", "Embedding"),
    ("reshape", "Reshaping, resampling and padding"), ("merge", "Tensor operations"), ("other", "Other"),
]


# Sizes that layers take from their inputs when not written (and check when written).
INFERRED = {"in_features", "in1_features", "in2_features", "in_channels", "num_features", "num_channels",
            "input_size", "d_model", "embed_dim", "kdim", "vdim", "normalized_shape"}


def _tensors(layer) -> str:
    lo, hi = layer.n_inputs
    if hi is None:
        return f"{lo} or more"
    return str(lo) if lo == hi else f"{lo} to {hi}"


def _args(layer) -> str:
    parts = []
    for name, f in layer.Params.model_fields.items():
        t = describe_type(f.annotation) + _constraints(f.metadata)
        if f.is_required():
            parts.append(f"`{name}`: {t}, required")
        else:
            parts.append(f"`{name}`: {t} = `{_fmt(f.default)}`")
    return "; ".join(parts) or "—"


def render() -> str:
    reg = load_all()
    lines = [
        "# Layers",
        "",
        "Every layer graphc knows, generated from its registry (`python -m graphc.docgen`).",
        "Arguments carry PyTorch's names and defaults; *Positional* is the order of positional",
        "arguments in a `.model` file; sizes marked *inferred* come from the input and are checked",
        "when written. Every layer's shape rule and parameter count is tested against PyTorch.",
        "",
    ]
    by_cat: dict[str, list] = {}
    for kind in sorted(reg, key=str.lower):
        layer = reg[kind]
        cat = layer.category if layer.category in dict(CATEGORY_TITLES) else "other"
        by_cat.setdefault(cat, []).append((kind, layer))
    for cat, title in CATEGORY_TITLES:
        if cat not in by_cat:
            continue
        lines += [f"## {title}", "", "| Kind | PyTorch | Tensors | Positional | Arguments | Inferred |",
                  "|---|---|---|---|---|---|"]
        for kind, layer in by_cat[cat]:
            inferred = [n for n, f in layer.Params.model_fields.items()
                        if not f.is_required() and f.default is None and n in INFERRED]
            torch_name = f"`{layer.torch_name}`" if layer.torch_name else "expression"
            lines.append(f"| `{kind}` | {torch_name} | {_tensors(layer)} | "
                         f"{', '.join(f'`{p}`' for p in layer.positional) or '—'} | {_args(layer)} | "
                         f"{', '.join(f'`{i}`' for i in inferred) or '—'} |")
        lines.append("")
        for kind, layer in by_cat[cat]:
            doc = (layer.__class__.__doc__ or "").strip()
            if doc:
                lines.append(f"- `{kind}`: {' '.join(doc.split())}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


COMPONENT_TITLES = [("loss", "Losses"), ("optimizer", "Optimizers"), ("scheduler", "Schedulers"),
                    ("data set", "Data sets"), ("initializer", "Initializers"),
                    ("transform", "Transforms")]


def render_components() -> str:
    from graphc.components import registry

    lines = [
        "# Training components",
        "",
        "Every loss, optimizer, scheduler, data set and initializer graphc knows, generated from",
        "its registry (`python -m graphc.docgen`). Arguments carry PyTorch's names and defaults,",
        "and *Positional* is PyTorch's order of positional arguments (a `.model` file may pass",
        "these by position); both are tested against PyTorch's own signatures, and every sample",
        "of every component is built and run in PyTorch (`tests/test_components_torch.py`).",
        "How they fit together is in [training.md](training.md).",
        "",
    ]
    for kind, title in COMPONENT_TITLES:
        lines += [f"## {title}", "", "| Name | PyTorch | Positional | Arguments |", "|---|---|---|---|"]
        recs = registry(kind)
        for name, rec in recs.items():
            torch_name = f"`{rec.torch_name}`" if rec.torch_name else "—"
            lines.append(f"| `{name}` | {torch_name} | "
                         f"{', '.join(f'`{p}`' for p in rec.signature().positional) or '—'} | {_args(rec)} |")
        lines.append("")
        for name, rec in recs.items():
            doc = " ".join((rec.__class__.__doc__ or "").split())
            notes = "".join(f" `{f}`: {why}." for f, why in rec.own_defaults.items())
            lines.append(f"- `{name}`: {doc}{notes}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "docs"
    for name, text in (("layers.md", render()), ("components.md", render_components())):
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
