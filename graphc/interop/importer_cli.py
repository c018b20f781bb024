"""``graphc import``'s command line (kept apart so that building the parser imports nothing)."""

from __future__ import annotations


def add_parser(sub, common) -> None:
    """``graphc import``'s arguments (graphc.cli registers it)."""
    p = sub.add_parser("import", help="an nn.Module (MODULE:CALLABLE) as a .model file, verified against it")
    p.add_argument("callable", metavar="MODULE:CALLABLE",
                   help="torchvision.models:resnet18, mypkg.nets:Net (a class, a function or a module object)")
    p.add_argument("--input", action="append", required=True, metavar="SHAPE",
                   help="one per forward argument: B,3,224,224 (a name is a symbolic size: 2, then 3, "
                        "when the module runs) or long[B,16]")
    p.add_argument("--arg", action="append", metavar="NAME=VALUE",
                   help="a keyword argument for the callable, a Python literal (num_classes=10); repeatable")
    p.add_argument("-o", "--output", required=True, metavar="OUT.model")
    p.add_argument("--force", action="store_true", help="write the file even when verification fails (exit 1)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=common)
