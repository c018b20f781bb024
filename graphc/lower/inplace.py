"""In-place layers (``ReLU(inplace=true)``, ``Dropout(p, inplace=true)``) overwrite their input
tensor, and with it every view of the same storage.  Where torch then computes another model than
the one written, or fails in backward, ``graphc check`` says so (issue 19):

- the value (or a view of it: transpose, slice, chunk...) is read again by another step, an
  ``add`` with it, a block's caller: a step after the in-place one reads the overwritten values
  (``add(relu(x), x)`` gives ``relu(x) + relu(x)``), one before it may need the original values
  in backward (Linear does: "modified by an inplace operation");
- the value is also an output, or the model's input (the caller's tensor changes);
- the value is the output of a layer whose backward needs its own output (``SAVES_OUTPUT``:
  Sigmoid, Tanh, Softmax, ReLU... measured against torch by tests/test_mistakes_torch.py), or a
  piece of ``chunk``/``split`` (torch refuses in-place changes to one of several views), and a
  gradient flows through it (a parameter before it): backward fails.

``Dropout(0.0, inplace=true)`` changes nothing (torch leaves the tensor alone) and is let be.
"""

from __future__ import annotations

from graphc.errors import Diagnostic, diag

# layers whose backward reads their own output: an in-place step on it fails in backward
SAVES_OUTPUT = frozenset({"LSTM", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "relu", "sigmoid", "tanh",
                          "softmax", "exp", "sqrt", "rsqrt", "amax"})
# operations whose output may share its input's storage (a view): overwriting it overwrites the input
VIEWS = frozenset({"transpose", "permute", "reshape", "view", "squeeze", "unsqueeze", "slice", "chunk",
                   "split", "Flatten", "Unflatten", "Identity"})


def _who(n) -> str:
    return (f"{n.kind} '{n.name}'" if n.user_named else n.kind) + \
        f" (line {n.call.span.line if n.call else n.span.line})"


def _same_storage(n) -> bool:
    """Its output is its input's storage: a view, an in-place layer, a Dropout (in eval mode)."""
    if n.is_input or not n.inputs:
        return False
    if n.layer is not None and n.layer.category == "dropout":
        return True  # Dropout(0.0) returns its input, and every Dropout does in eval mode
    return n.kind in VIEWS or (n.params is not None and getattr(n.params, "inplace", False))


def _needs_grad(prog) -> set[str]:
    """The nodes whose output a gradient flows through: a parameter at or before them."""
    out: set[str] = set()
    for n in prog.nodes.values():
        if n.is_input:
            continue
        if n.n_params or n.shares is not None or any(r[0] in out for r in n.inputs):
            out.add(n.id)
    return out


def check_inplace(prog) -> list[Diagnostic]:
    from graphc.infer import _at_use

    readers: dict = {}
    for n in prog.nodes.values():
        for ref in n.inputs:
            readers.setdefault(ref, []).append(n)
    outputs = {ref: name for name, ref in prog.outputs}
    pos = {nid: i for i, nid in enumerate(prog.nodes)}
    grad = _needs_grad(prog)
    out: list[Diagnostic] = []
    for node in prog.nodes.values():
        if node.is_input or node.params is None or not getattr(node.params, "inplace", False) or not node.inputs:
            continue
        if getattr(node.params, "p", None) == 0:
            continue
        chain = [node.inputs[0]]  # the value, then what it is a view of, back to the storage's owner
        train = None  # the chain's length in training: a Dropout with p > 0 copies there
        while _same_storage(prog.nodes[chain[-1][0]]):
            n = prog.nodes[chain[-1][0]]
            if train is None and n.layer is not None and n.layer.category == "dropout" and \
                    getattr(n.params, "p", 1) != 0 and not getattr(n.params, "inplace", False):
                train = len(chain)
            chain.append(n.inputs[0])
        eval_only = train is not None
        train = len(chain) if train is None else train
        views = {r[0] for r in chain[:-1]}
        src = prog.nodes[chain[-1][0]]
        name = src.binds or (src.name if src.is_input else None)
        what = f"'{name}'" if name else f"the output of {_who(src)}"
        if prog.nodes[chain[0][0]].kind in VIEWS:
            what += f" (through the view {prog.nodes[chain[0][0]].kind} makes of it)"
        where = f"{node.kind} '{node.name}'" if node.user_named else node.kind
        others = [n for r in chain for n in readers.get(r, []) if n is not node and n.id not in views]
        shown = next((outputs[r] for r in chain if r in outputs), None)
        saver = next((prog.nodes[r[0]] for r in chain[:train] if prog.nodes[r[0]].kind in SAVES_OUTPUT
                      and r[0] in grad), None)
        if others:
            later = [n for n in others if pos[n.id] > pos[node.id]]
            why = (f"which {_who(later[0])} reads afterwards: it would get the overwritten values" if later else
                   f"which {_who(others[0])} reads first: its backward may need the values it read "
                   "(torch: \"modified by an inplace operation\")")
        elif shown is not None:
            why = f"which is also output '{shown}': it would return the overwritten values"
        elif src.is_input and (src.scope is None or not src.scope.is_block):
            why = "the model's input: the caller's tensor would change"
        elif saver is not None:
            why = (f"whose backward needs it unchanged (torch: \"modified by an inplace operation\"): "
                   f"{_who(saver)} keeps its output for backward")
        elif any(prog.nodes[r[0]].kind in ("chunk", "split") for r in chain[:train - 1]) and src.id in grad:
            piece = next(prog.nodes[r[0]] for r in chain[:train - 1] if prog.nodes[r[0]].kind in ("chunk", "split"))
            why = (f"a piece of {_who(piece)}: torch refuses to change one of several views in place "
                   f"while a gradient flows through them (\"Output 0 of Split is a view and is being "
                   f"modified inplace\")")
        else:
            continue
        if eval_only and not (saver is not None or why.startswith("a piece")):
            why += " (in eval mode, where Dropout passes its input through as it is)"
        out.append(_at_use(diag(node.call.span, "inplace-overwrite", f"{where}(inplace=true) overwrites {what}, {why}",
                                "remove inplace=true (the saving is one tensor's memory), or apply it "
                                "to a value nothing else reads"), node.scope))
    return out
