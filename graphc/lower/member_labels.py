"""Quoted member labels (``trunk: ("block1-0": Block(48) -> "block1-1": Block(48))``): the
names nn.Sequential accepts for a child, checked without importing torch.

A group with labelled members is built as ``nn.Sequential(OrderedDict([...]))``, whose
``add_module`` refuses a name that is empty, holds a ".", or is already an attribute of the
Sequential (``forward``, ``append``, ``training``, ``__class__``).  The label reaches the
generated file only as a string literal (graphc.pyfmt.literal) and as a state_dict key.
"""

from __future__ import annotations

import re
import unicodedata

from graphc import ast as A
from graphc.names import NN_MODULE_ATTRS, label_clash

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: nn.Sequential's public attributes beyond nn.Module's (tests/test_quoted_labels.py checks this
#: list against torch's dir(nn.Sequential())).  Names starting with "_" are all refused: torch's
#: private attributes (``_modules``, ``_version``, dunders) change from release to release.
SEQUENTIAL_ATTRS = frozenset("append extend insert pop".split())
#: names in NN_MODULE_ATTRS that are graphc's, not torch's: fine as a Sequential's child
_GRAPHC_NAMES = frozenset("self super torch nn F math example_inputs init_weights".split())


def label_text(label) -> str:
    """A label as a message shows it: ``conv0`` or ``"block1-0"`` (escaped as .model text is)."""
    if isinstance(label, A.Str):
        return '"' + label.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
            .replace("\t", "\\t") + '"'
    return label.id


def quoted_label_problem(text: str, position: int) -> tuple[str, str, str] | None:
    """(code, message, hint) when a group member at ``position`` cannot be named ``text``."""
    shown = label_text(A.Str(text, None))
    if text == "":
        return ("invalid-argument", "a member's label cannot be empty: torch names no child ''",
                "write a name inside the quotes, e.g. \"block1-0\"")
    if "." in text:
        return ("invalid-argument", f"label {shown} holds a '.', which torch's add_module refuses "
                "(a '.' separates the parts of a state_dict key)",
                f"write it without the dot, e.g. {label_text(A.Str(text.replace('.', '-'), None))}")
    if text.isdigit() and text != str(position):
        return ("invalid-argument", f"label {shown} is a number, but this member is child {position}: "
                "a generated path would index the Sequential by position",
                f"drop the label (the member is then '{position}'), or use a name that is not a number")
    hint = f"rename it, e.g. {label_text(A.Str(text.strip('_') + '_layer', None))}"
    if text.startswith("_"):
        return ("reserved-name", f"label {shown} starts with '_': graphc keeps such names for torch's private "
                "attributes (_modules, __class__, ...), which add_module refuses as a child's name", hint)
    if text in SEQUENTIAL_ATTRS or (text in NN_MODULE_ATTRS and text not in _GRAPHC_NAMES):
        return ("reserved-name", f"label {shown} is an attribute of nn.Sequential, which torch's add_module "
                "refuses as a child's name", hint)
    return None


def member_label(name: str, i: int) -> str:
    """The .model label of an nn.Sequential's child named ``name`` at position ``i`` (for
    ``graphc import``): the name itself where a plain label keeps it as written, else quoted
    (``"block1-0"``); "!" and the reason when no label can give that name."""
    if _PLAIN.fullmatch(name) and label_clash(name) is None:
        return name
    said = quoted_label_problem(name, i)
    if said is not None:
        return "!cannot be a .model label: " + said[1]
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in name):
        return "!holds a control character, which a .model string cannot write"
    return label_text(A.Str(name, None))


class MemberLabels:
    """The check of a quoted member label (a mixin of graphc.lower.Lowerer, through Blocks)."""

    def quoted_label_bad(self, label: A.Str, position: int) -> bool:
        said = quoted_label_problem(label.value, position)
        if said is not None:
            self.error(label.span, *said)
        return said is not None
