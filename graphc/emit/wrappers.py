"""Modules for the operations that have none (``permute``, ``reshape``, ``mean``) when they are
steps of a group or repeat: ``nn.Sequential`` holds modules, so ``(Conv2d(96, 7, groups=96) ->
permute(0, 2, 3, 1) -> LayerNorm)`` needs one for the permute.  Each distinct operation gets a
small class of the generated module, named after it (``Permute``, ``Permute_2``), whose forward
is the operation's own forward text; as in torchvision's ConvNeXt, the operation then takes its
index in the Sequential, so the state_dict keys of the layers after it are torch's."""

from __future__ import annotations

from graphc import pyfmt
from graphc.graph import Node
from graphc.names import Namespace


class Wrappers:
    def __init__(self, ns: Namespace):
        self.ns = ns
        self.by_text: dict[str, tuple[str, str]] = {}  # forward text -> (class name, kind)

    def ctor(self, node: Node) -> str:
        """The constructor call of ``node``'s wrapper class (made on first use)."""
        text = node.layer.forward(node.params, None, ["x"])
        if text not in self.by_text:
            camel = "".join(w[:1].upper() + w[1:] for w in node.kind.split("_")) or "Op"
            self.by_text[text] = (self.ns.fresh(camel), node.kind)
        return f"{self.by_text[text][0]}()"

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.by_text.values()]

    def classes(self) -> list[str]:
        out: list[str] = []
        for text, (name, kind) in self.by_text.items():
            out += ["", "", f"class {name}(nn.Module):",
                    f'    """{pyfmt.text(kind)} as a module, a step of an nn.Sequential."""', "",
                    "    def forward(self, x):", f"        return {text}"]
        return out
