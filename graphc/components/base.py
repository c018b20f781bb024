"""The contract of a training component, and the registry.

A loss, optimizer, scheduler, data set or initializer is one class, registered by
decorator, that holds everything graphc knows about it: its parameter schema
(graphc.params, torch's names and defaults), the positional order torch gives its
arguments, what it needs from the model, the torch code it emits, and the samples
the registry test (tests/test_components_torch.py) runs against torch itself.  The
test also compares every default and the positional order with ``inspect.signature``
of the real torch callable, so a record cannot drift from torch unseen.

Adding a component is one class in the module of its kind; nothing else lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from graphc.params import Field, Params

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, le=1)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Open01 = Annotated[float, Field(gt=0, lt=1)]


class NoParams(Params):
    pass


@dataclass(frozen=True)
class Sample:
    """One configuration the registry test builds in torch: ``params`` as a ``.model`` file
    would give them, and what the kind's test needs besides (a loss's output shape and
    target kind, an initializer's tensor shape).  ``rejects``: graphc must reject these
    params at check time, and torch must raise when it constructs or runs them."""

    params: dict[str, Any]
    shape: tuple[int, ...] = ()
    rejects: bool = False


class Component:
    """Base class of every training component; each kind has a subclass below it."""

    kind: ClassVar[str]                    # "loss", "optimizer", "scheduler", "data set", "initializer"
    name: ClassVar[str]                    # as written in a .model file: "CrossEntropyLoss"
    torch_name: ClassVar[str | None] = None  # the torch callable: "nn.CrossEntropyLoss"
    Params: ClassVar[type[Params]] = NoParams
    positional: ClassVar[tuple[str, ...] | None] = None  # torch's positional order; None: every field
    #: defaults of graphc that are not torch's, each with the reason (the registry test allows these)
    own_defaults: ClassVar[dict[str, str]] = {}
    samples: ClassVar[tuple[Sample, ...]] = ()

    def signature(self):
        from graphc.binder import signature

        return signature(self.name, self.Params, self.positional)

    def problems(self, p: Params) -> list[tuple[str, str | None]]:
        """Rules torch enforces when it builds the component that the schema cannot say
        (``nesterov`` needs momentum): (message, hint) for each broken one."""
        return []

    @staticmethod
    def kwargs(p: Params, skip: tuple[str, ...] = ()) -> list[str]:
        """``name=value`` for every value that is required or differs from the schema's default."""
        from graphc import pyfmt

        out = []
        for name, f in type(p).model_fields.items():
            v = getattr(p, name)
            if name not in skip and (f.is_required() or v != f.default):
                out.append(f"{name}={pyfmt.literal(v)}")
        return out

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


KINDS = ("loss", "optimizer", "scheduler", "data set", "initializer", "transform")
REGISTRY: dict[str, dict[str, Component]] = {k: {} for k in KINDS}


def register(cls: type[Component]) -> type[Component]:
    name = cls.__dict__.get("name") or cls.__name__
    cls.name = name
    table = REGISTRY[cls.kind]
    if name in table:
        raise RuntimeError(f"{cls.kind} {name!r} registered twice")
    table[name] = cls()
    return cls


def registry(kind: str) -> dict[str, Any]:
    """Every component of ``kind`` by name (the modules of graphc.components all imported)."""
    load_all()
    return REGISTRY[kind]


#: the modules of graphc.components in the order their records are listed (docs, completion):
#: the order they happen to be imported in depends on who imports one first
MODULES = ("losses", "optimizers", "schedulers", "datasets", "datasets_vision", "datasets_text",
           "datasets_textcsv", "datasets_stream", "initializers", "transforms")


def load_all() -> dict[str, dict[str, Component]]:
    global _LOADED
    if not _LOADED:
        from graphc.components import datasets, initializers, losses, optimizers, schedulers, transforms  # noqa: F401

        def rank(item):
            module = type(item[1]).__module__.rpartition(".")[2]
            return MODULES.index(module) if module in MODULES else len(MODULES)

        for kind, table in REGISTRY.items():  # sorted() is stable: a module's records keep their order
            REGISTRY[kind] = dict(sorted(table.items(), key=rank))
        _LOADED = True
    return REGISTRY


_LOADED = False
