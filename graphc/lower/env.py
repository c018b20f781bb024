"""Names, scopes and the environment of lowering: what each name is bound to (a constant or
a tensor), the scope a model or block body is lowered in, defining a name, and the hints for
a name that is not defined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphc import ast as A
from graphc.binder import _ERR
from graphc.errors import did_you_mean
from graphc.graph import Node, Repeat, Scope, ValueRef
from graphc.names import Namespace, label_clash
from graphc.source import Span

#: Words of the language that cannot name values, layers or parameters.
RESERVED_WORDS = frozenset({"model", "block", "input", "output", "const", "train", "true", "false", "none"})

#: did-you-mean comparisons per file: a hint compares the word with every candidate, so
#: 20,000 undefined names among 20,000 defined ones would cost 400 million of them.
HINT_BUDGET = 100_000


class _Abort(Exception):
    """Stops lowering when a limit is hit (the diagnostic is already recorded)."""


@dataclass
class _Const:
    value: Any
    expr: A.Expr | None
    span: Span
    is_param: bool = False


@dataclass
class _Value:
    ref: ValueRef
    span: Span


class _Env:
    def __init__(self, parent: _Env | None = None):
        self.parent = parent
        self.names: dict[str, _Const | _Value] = {}

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        return None


class _ScopeState:
    def __init__(self, scope: Scope, env: _Env, ns: Namespace, legal_of: dict[str, str],
                 prefix: str | None = None, group: Repeat | None = None):
        self.scope, self.env, self.ns, self.legal_of = scope, env, ns, legal_of
        self.prefix, self.group = prefix, group
        self.instances: dict[str, Node | Scope] = {}  # label -> the layer or block use it names


def _declared_names(body) -> list[str]:
    out: list[str] = []
    for st in body:
        if isinstance(st, A.Assign):
            out += [t.id for t in st.targets]
            out += [s.label.id for s in st.chain.steps if s.label is not None]
            if st.chain.source_label is not None:
                out.append(st.chain.source_label.id)
        elif isinstance(st, (A.InputDecl, A.ParamDecl)):
            out.append(st.name.id)
    return out


class Names:
    """Defining and looking up names (a mixin of graphc.lower.Lowerer)."""

    def suggest(self, word: str, candidates) -> str | None:
        """A did-you-mean hint, while the file's HINT_BUDGET lasts."""
        candidates = candidates if isinstance(candidates, (list, dict, set)) else list(candidates)
        from graphc.lower.foreign import keras_argument

        keras = keras_argument(word, candidates)
        if keras is not None:
            return keras
        if len(candidates) > self.hint_budget:
            return None
        self.hint_budget -= len(candidates)
        return did_you_mean(word, candidates)

    def _name_hint(self, name: str, env: _Env) -> str | None:
        if name in ("True", "False", "None"):
            return f"write {name.lower()}"
        scopes = []
        e = env
        while e is not None:
            scopes.append(e.names)
            e = e.parent
        if sum(map(len, scopes)) > self.hint_budget:  # before building the set: it costs as much
            return None
        return self.suggest(name, set().union(*scopes))

    def _later_hint(self, name: str, ss: _ScopeState) -> str | None:
        if name in ss.legal_of:
            return f"'{name}' is defined later; values must be defined before use (no cycles)"
        return None

    def const_def(self, st: A.ConstDef, env: _Env) -> None:
        v = self.eval(st.value, env)
        self.define(env, st.name, _Const(v, st.value, st.name.span))

    def define(self, env: _Env, name: A.Name, binding) -> None:
        if self.reserved(name):
            env.names.setdefault(name.id, _Const(_ERR, None, name.span))  # later uses stay quiet
            return
        prev = env.names.get(name.id)
        if prev is not None:
            where = f"line {prev.span.line}" if prev.span.path == name.span.path else \
                f"{prev.span.path}:{prev.span.line}"
            self.error(name.span, "duplicate-name",
                       f"'{name.id}' is already defined at {where}",
                       "choose another name: names in a model or block are defined once")
            return
        env.names[name.id] = binding

    def label_clashes(self, label: A.Name) -> bool:
        """A label names a module attribute, so a state_dict key: one the generated class could
        not keep as written (``init_weights``, ``forward``, a Python keyword) is an error, not a
        silently renamed key (graphc.names.label_clash)."""
        said = label_clash(label.id)
        if said is not None:
            self.error(label.span, "reserved-name", *said)
        return said is not None

    def define_label(self, env: _Env, label: A.Name, binding) -> None:
        """A label also names its value, unless it is a keyword of the language (``block:``, as
        torchvision names the Sequential of a ConvNeXt block): then it names only the attribute."""
        if label.id not in RESERVED_WORDS:
            self.define(env, label, binding)

    def reserved(self, name: A.Name) -> bool:
        if name.id in RESERVED_WORDS:
            self.error(name.span, "reserved-name", f"'{name.id}' is a reserved word and cannot name a value",
                       f"choose another name, e.g. '{name.id}_'")
            return True
        return False

    def _bind_unknown(self, st: A.Assign, ss: _ScopeState) -> None:
        """After an error, bind the targets to an unknown value so later uses stay quiet."""
        for t in st.targets:
            if t.id not in ss.env.names:
                ss.env.names[t.id] = _Const(_ERR, None, t.span)
        for s in st.chain.steps:
            if s.label is not None and s.label.id not in ss.env.names:
                ss.env.names[s.label.id] = _Const(_ERR, None, s.label.span)
