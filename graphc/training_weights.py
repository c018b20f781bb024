"""Fine-tuning settings of the training section: start from weights, and per-group learning rates.

``pretrained = weights("resnet18.pth", strict=false, rename=[("", "backbone.")])`` loads a
``state_dict`` (``.pt``/``.pth``, read with ``torch.load(weights_only=True)``), a checkpoint the
generated training script wrote (its model state) or a ``.safetensors`` file into the model
before training.  ``rename`` maps key prefixes of the file to the model's, the first that
matches; ``strict=false`` loads what fits and reports the rest.  When the file is a
``.safetensors`` that is there at check time, its header is compared with the model (the
comparison of ``graphc check --weights``, with the renames applied; either name of a tied
tensor loads it), and two of its tensors that the renames give one name are an error at the
rename pair, as the script stops on them.

``optimizer = AdamW(lr=1e-3, groups=[("backbone", 1e-4), ("layer4", 3e-4)])`` gives the
parameters under each path (a layer, a block use, a repeat or a learned tensor, as ``freeze``
names them) their own learning rate: torch parameter groups, checked here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from graphc import ast as A
from graphc.errors import Diagnostic, diag, did_you_mean


@dataclass(frozen=True)
class Pretrained:
    """``pretrained = weights(path, strict=, rename=)``."""

    path: str
    strict: bool = True
    rename: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Group:
    """``(path, lr)`` of ``groups=[...]``: the parameters under ``path`` train at ``lr``."""

    path: str
    lr: float


WEIGHTS_HELP = 'pretrained = weights("model.pth", strict=false, rename=[("fc.", "head.")])'
GROUPS_HELP = 'groups=[("backbone", 1e-4)] (a path as freeze names it, and its learning rate)'


def rename_key(key: str, rename) -> str:
    """The model's name for a key of the file: the first (from, to) whose prefix matches."""
    for old, new in rename:
        if key.startswith(old):
            return new + key[len(old):]
    return key


# ------------------------------------------------------------------ pretrained = weights(...)
def check_pretrained(ev, env, st: A.Setting, prog) -> tuple[Pretrained | None, list[Diagnostic]]:
    """The ``pretrained`` setting, bound; with the static comparison of a ``.safetensors`` file."""
    from graphc.binder import _ERR

    call = st.value
    if not isinstance(call, A.Call) or call.kind != "weights" or call.bare:
        return None, [diag(st.value.span, "invalid-train", "'pretrained' takes weights(\"FILE\", ...)",
                           f"e.g. {WEIGHTS_HELP}")]
    out: list[Diagnostic] = []
    vals: dict[str, object] = {}
    spans: dict[str, object] = {}
    for i, arg in enumerate(call.args):
        name = arg.name or ("path" if i == 0 else None)
        if name is None:
            out.append(diag(arg.span, "invalid-train", "weights() takes one positional argument, the file",
                            "strict= and rename= are keywords"))
            continue
        if name not in ("path", "strict", "rename"):
            out.append(diag(arg.name_span or arg.span, "unknown-argument", f"weights() has no argument '{name}'",
                            did_you_mean(name, ["path", "strict", "rename"]) or "arguments: path, strict, rename"))
            continue
        if name in vals:
            out.append(diag(arg.span, "invalid-train", f"weights() is given '{name}' twice"))
            continue
        v = ev.eval(arg.value, env)
        if v is _ERR:  # reported by the evaluator
            return None, out
        vals[name], spans[name] = v, arg.value.span
    if out:
        return None, out
    path, strict, rename = vals.get("path"), vals.get("strict", True), vals.get("rename", ())
    if not isinstance(path, str) or not path:
        return None, [diag(spans.get("path", call.span), "invalid-train",
                           "weights() needs the file: a .pt, .pth or .safetensors path", f"e.g. {WEIGHTS_HELP}")]
    if not isinstance(strict, bool):
        return None, [diag(spans["strict"], "invalid-train", f"strict is true or false, not {strict!r}")]
    pairs = _rename_pairs(rename)
    if pairs is None:
        return None, [diag(spans["rename"], "invalid-train",
                           "rename is a list of (prefix in the file, prefix in the model) pairs of strings",
                           'e.g. rename=[("fc.", "head."), ("", "backbone.")]: the first that matches applies')]
    pre = Pretrained(path, strict, pairs)
    if path.lower().endswith(".safetensors") and os.path.isfile(path):
        out += compare_file(prog, pre, call.span, _pair_spans(call, len(pairs), spans.get("rename")))
    return pre, out


def _pair_spans(call: A.Call, n: int, whole) -> list:
    """Where each pair of ``rename=`` is written (the whole argument when it is not a list of pairs)."""
    arg = next((a for a in call.args if a.name == "rename"), None)
    value = arg.value if arg is not None else None
    if isinstance(value, (A.ListLit, A.TupleLit)) and len(value.items) == n and \
            all(isinstance(i, (A.ListLit, A.TupleLit)) for i in value.items):
        return [i.span for i in value.items]
    return [whole] * n


def _rename_pairs(value) -> tuple[tuple[str, str], ...] | None:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(s, str) for s in value):
        value = (value,)  # one pair
    if not isinstance(value, tuple):
        return None
    if not all(isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in value):
        return None
    return tuple(value)


def compare_file(prog, pre: Pretrained, at, pair_spans=None) -> list[Diagnostic]:
    """``graphc check``'s comparison of a .safetensors file there at check time, renames applied;
    with strict=false what does not fit is a warning (the script loads the rest).  Two of the
    file's tensors that the renames give one name are an error at the pair that renamed them
    (``pair_spans``: where each pair is written), as the script stops on them."""
    from graphc.weights import WeightsError, compare, read_header

    try:
        found = read_header(pre.path)
    except WeightsError as e:
        return [diag(at, "invalid-train", str(e), "give a .safetensors file, or a .pt state_dict")]
    renamed: dict[str, tuple] = {}
    origin: dict[str, str] = {}
    clashes: dict[int | None, list[tuple[str, str, str]]] = {}
    for key, info in found.items():
        new = rename_key(key, pre.rename)
        if new in renamed:
            first = origin.get(new, new)
            clashes.setdefault(_pair_of(key if new != key else first, pre.rename), []).append((first, key, new))
            continue
        renamed[new] = info
        if new != key:
            origin[new] = key
    out: list[Diagnostic] = []
    for which, pairs in clashes.items():
        where = pair_spans[which] if pair_spans and which is not None and pair_spans[which] is not None else at
        first, key, new = pairs[0]
        more = f" (and {len(pairs) - 1} more)" if len(pairs) > 1 else ""
        out.append(diag(where, "invalid-train",
                        f"the renames give {first!r} and {key!r} of {pre.path} the same name {new!r}{more}: "
                        "the training script would stop",
                        "change rename= so that each tensor keeps a name of its own (the first pair whose "
                        "prefix matches applies: put a longer prefix first, or rename the other tensor away)"))
    return out + compare(prog, renamed, pre.path, strict=pre.strict, origin=origin, at=at)


def _pair_of(key: str, rename) -> int | None:
    """The index of the rename pair that applies to the file's ``key`` (None: no pair does)."""
    return next((i for i, (old, _) in enumerate(rename) if key.startswith(old)), None)


# ------------------------------------------------------------------ optimizer groups=[...]
def split_groups(call: A.Call) -> tuple[A.Call, A.Arg | None]:
    """The optimizer call without its ``groups=`` argument, and that argument."""
    groups = next((a for a in call.args if a.name == "groups"), None)
    if groups is None:
        return call, None
    rest = tuple(a for a in call.args if a is not groups)
    return A.Call(call.kind, call.kind_span, rest, call.span, call.bare), groups


def check_groups(ev, env, arg: A.Arg, prog) -> tuple[tuple[Group, ...] | None, list[Diagnostic]]:
    """``groups=[(path, lr), ...]``: each path names parameters of the model, no parameter is in
    two groups, each rate is positive."""
    from graphc.binder import _ERR

    items = arg.value.items if isinstance(arg.value, (A.ListLit, A.TupleLit)) else None
    if items and all(not isinstance(i, (A.ListLit, A.TupleLit)) for i in items) and len(items) == 2:
        items = (arg.value,)  # one pair: groups=("backbone", 1e-4)
    if not items:
        return None, [diag(arg.value.span, "invalid-train", "groups is a list of (path, learning rate) pairs",
                           f"e.g. {GROUPS_HELP}")]
    params, modules = parameter_paths(prog)
    out: list[Diagnostic] = []
    groups: list[Group] = []
    spans = []
    for item in items:
        if not isinstance(item, (A.ListLit, A.TupleLit)) or len(item.items) != 2:
            out.append(diag(item.span, "invalid-train", "each group is a (path, learning rate) pair",
                            f"e.g. {GROUPS_HELP}"))
            continue
        p, lr_expr = item.items
        path = p.id if isinstance(p, A.Name) else p.value if isinstance(p, A.Str) else None
        if path is None:
            out.append(diag(p.span, "invalid-train", "a group's path is a label or a dotted path in quotes",
                            'e.g. "backbone" or "layer4.1.conv2"'))
            continue
        lr = ev.eval(lr_expr, env)
        if lr is _ERR:  # reported by the evaluator
            return None, out
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            out.append(diag(lr_expr.span, "invalid-train", f"group '{path}': the learning rate must be a number "
                                                           f"above 0, not {lr!r}"))
            continue
        if path not in modules:
            hint = _path_hint(path, modules)
            out.append(diag(p.span, "invalid-train", f"the model has no parameters under '{path}'",
                            hint or "name a layer, block use, repeat or learned tensor by its label, as "
                                    "freeze does (dotted for one inside a block: layer4.1.conv2)"))
            continue
        for other, at in zip(groups, spans, strict=True):
            if _overlap(path, other.path):
                inner, outer = (path, other.path) if len(path) >= len(other.path) else (other.path, path)
                out.append(diag(p.span, "invalid-train",
                                f"group '{path}' and group '{other.path}' (line {at.line}) share parameters: "
                                f"'{inner}' is inside '{outer}'",
                                "a parameter is in one group only: split the outer one into its parts"))
                break
        else:
            groups.append(Group(path, float(lr)))
            spans.append(p.span)
    if out:
        return None, out
    return tuple(groups), out


def _path_hint(path: str, modules: set[str]) -> str | None:
    """Did-you-mean among the paths beside the one asked for (the children of its longest
    prefix that holds parameters), else among the top-level ones."""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:i])
        if parent in modules:
            depth = parent.count(".") + 1
            kids = sorted(m for m in modules if m.startswith(parent + ".") and m.count(".") == depth)
            return did_you_mean(path, kids) or f"'{parent}' holds: " + ", ".join(k[len(parent) + 1:] for k in kids[:12])
    return did_you_mean(path, [m for m in modules if "." not in m]) or did_you_mean(path, modules)


def check_unfreeze(prog, settings, at) -> list[Diagnostic]:
    """``unfreeze_at = N``: the parameters ``freeze`` stops train from epoch N on; there must be
    some, and N must come after the first epoch and by the last."""
    from graphc.summary import frozen_params

    n = settings.unfreeze_at
    if not any(scope.freezes for scope in prog.scopes()) or not frozen_params(prog):
        return [diag(at, "invalid-train", f"unfreeze_at = {n}, but the model freezes no parameters",
                     "add 'freeze backbone' (the layers to hold still until then), or drop unfreeze_at")]
    if n == 1 or n > settings.epochs:
        why = "the first epoch: nothing would be frozen" if n == 1 else f"after the last (epochs = {settings.epochs})"
        return [diag(at, "invalid-train", f"unfreeze_at = {n} is {why}",
                     f"give an epoch from 2 to {settings.epochs}" if settings.epochs > 1 else "drop unfreeze_at")]
    return []


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def parameter_paths(prog) -> tuple[list[str], set[str]]:
    """(the model's parameter keys, every path that holds parameters: each key and its prefixes)."""
    from graphc.layers.learned import PARAM_KIND

    keys: list[str] = []
    for n in prog.nodes.values():
        if n.shares is not None:
            continue
        if n.kind == PARAM_KIND:
            keys.append(n.id)
        elif n.ctor is not None and n.has_module:
            weights = list(n.layer.own_weights(n.ctor))
            keys += [f"{n.id}.{w}" for w in weights] or ([f"{n.id}.*"] if n.layer.opaque_state else [])
    paths: set[str] = set()
    for k in keys:
        parts = k.split(".")
        for i in range(1, len(parts) + (0 if parts[-1] == "*" else 1)):
            paths.add(".".join(parts[:i]))
    return keys, paths


__all__ = ["Group", "Pretrained", "check_groups", "check_pretrained", "check_unfreeze", "compare_file", "parameter_paths",
           "rename_key", "split_groups"]
