"""The layer contract and the registry.

One class per layer holds everything graphc knows about it: the parameter
schema (graphc.params), the shape rule, the parameter count, MACs, the torch
constructor, the forward text, the diagram label and the samples that the
registry test runs against real torch.  Registering is a decorator; the
registry is built from the classes, never kept by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from graphc.layers import _index
from graphc.params import Field, Params, validates  # noqa: F401 - the schema API layers use
from graphc.shapes import Dim, Shape, shape_str

PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Pair = PosInt | tuple[PosInt, PosInt]
NonNegPair = NonNegInt | tuple[NonNegInt, NonNegInt]


class NoParams(Params):
    pass


class ShapeError(Exception):
    """Raised by a shape rule; becomes a diagnostic at the call (or at ``arg``)."""

    def __init__(self, message: str, hint: str | None = None, code: str = "shape-mismatch",
                 arg: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.code, self.arg = message, hint, code, arg


@dataclass(frozen=True)
class Sample:
    """One configuration the registry test builds in torch: params and input shapes."""

    params: dict[str, Any]
    inputs: tuple[tuple[int, ...], ...]
    dtype: str | tuple[str, ...] = "float32"  # one for every input, or one each (masks: "bool")

    def dtypes(self) -> list[str]:
        d = self.dtype
        return [d] * len(self.inputs) if isinstance(d, str) else list(d)


@dataclass(frozen=True)
class Ctor:
    """A constructor call as a constructor value: ``nn.TransformerEncoder(encoder_layer=Ctor(...))``.
    ``func`` comes from the layer's definition (``"nn.TransformerEncoderLayer"``), never from a file."""

    func: str
    kwargs: dict


@dataclass(frozen=True)
class Weight:
    """A parameter tensor a layer's torch module owns itself (``named_parameters(recurse=False)``):
    its attribute name, its number of dims (an int, or a function of the constructor arguments),
    and the constructor arguments that must all be true for torch to create it (``bias``, ``affine``);
    its shape as a function of the constructor arguments where graphc knows it (what a ``tie`` checks)."""

    name: str
    dims: int | Callable[[dict], int]
    when: tuple[str, ...] = ()
    shape: Callable[[dict], tuple[int, ...]] | None = None
    dtype: str = "float32"  # a buffer's may differ (BatchNorm's num_batches_tracked: int64)

    def missing_because(self, ctor: dict) -> str | None:
        """The constructor argument that switches this tensor off (``affine``), or None: it exists."""
        return next((a for a in self.when if not ctor.get(a, True)), None)

    def rank(self, ctor: dict | None) -> int | None:
        """Its dims; None where they depend on constructor arguments not given."""
        if isinstance(self.dims, int):
            return self.dims
        return None if ctor is None else self.dims(ctor)


@dataclass(frozen=True)
class TensorType:
    shape: Shape
    dtype: str = "float32"

    def __str__(self) -> str:
        return shape_str(self.shape)


Category = Literal["input", "output", "conv", "pool", "norm", "activation", "linear", "dropout",
                   "reshape", "merge", "recurrent", "attention", "embedding", "block", "other"]


class Layer:
    """Base class; subclasses are registered with :func:`register`."""

    kind: ClassVar[str]                     # the name written in .model files
    torch_name: ClassVar[str | None] = None  # "nn.Conv2d"; None for inline tensor ops
    # import statements the generated module needs for torch_name (a plugin's own module:
    # ("from my_layers.torch import Snake",) with torch_name "Snake"); graphc.plugins
    imports: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[str] = "other"
    Params: ClassVar[type[Params]] = NoParams
    positional: ClassVar[tuple[str, ...]] = ()  # order of positional arguments
    # sizes graphc infers from the input (in_channels): its positional slots skip them
    inferred: ClassVar[tuple[str, ...]] = ()
    # PyTorch's positional order, where it differs from ``positional`` by taking inferred sizes
    # (Conv2d: in_channels first): a call that fits it is read PyTorch's way when the input
    # agrees (graphc.binder, "PyTorch's order"); ``infer`` calls ``decide`` with the sizes
    torch_positional: ClassVar[tuple[str, ...] | None] = None
    ctor_positional: ClassVar[int] = 0           # ctor values emitted positionally
    n_inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # min, max tensors (None: any)
    n_outputs: ClassVar[int | None] = 1  # tensors returned; None: decided by infer (chunk, split)
    # keyword arguments that take a tensor value (``attn_mask=mask``): each has a bool field of the
    # same name in Params, set true by the lowering when given; the tensors follow the positional
    # ones in ``infer`` and ``forward``, in this order (see ``split_inputs``)
    tensor_args: ClassVar[tuple[str, ...]] = ()
    needs_float: ClassVar[bool] = False  # integer or bool inputs are an error (torch raises)
    # the floating-point input dtypes torch computes with this module's float32 parameters and
    # buffers: none but float32 for most ("mat1 and mat2 must have the same dtype"); the norms
    # take float16 and bfloat16 too (mixed precision), never float64 (infer's dtype rule)
    mixed_dtypes: ClassVar[tuple[str, ...]] = ()
    samples: ClassVar[tuple[Sample, ...]] = ()
    # the tensors named weight or bias (what weight_init=, bias_init= and the init section may set);
    # modules whose tensors have other names (LSTM, attention) declare them in own_weights
    weights: ClassVar[tuple[Weight, ...]] = ()
    # the buffers the torch module owns itself (BatchNorm's running statistics): state_dict keys too
    buffers: ClassVar[tuple[Weight, ...]] = ()
    # a module whose state_dict holds submodules' tensors graphc does not describe (attention's
    # out_proj, a Transformer layer's linear1...): `check --weights` leaves its keys unchecked
    opaque_state: ClassVar[bool] = False
    # its forward text is one Python expression that uses each argument once, as an operator's
    # operand (the layer then says how it binds: precedence_of) or as a whole call argument: it may
    # be written inside another such expression, and take such expressions as its arguments
    expression: ClassVar[bool] = False
    # every output value lies in [lo, hi] whatever the input (Sigmoid: (0, 1)); what a loss may ask
    output_range: ClassVar[tuple[float, float] | None] = None

    # -------------------------------------------------------------- shapes
    def infer(self, p: Params, ins: list[TensorType]) -> list[TensorType]:
        """Output types; raise ShapeError with the numbers when the inputs do not fit."""
        raise NotImplementedError

    def count_outputs(self, p: Params | None) -> int | None:
        """Tensors returned for these parameters; None: decided by infer (chunk, split)."""
        return self.n_outputs

    def unpack(self, p: Params, names: list[str]) -> str:
        """The assignment target that receives several outputs: ``a, b`` (LSTM's state: ``a, (b, c)``)."""
        return ", ".join(names)

    def split_inputs(self, p: Params, ins: list) -> tuple[list, dict[str, Any]]:
        """The positional tensors (or their names) and the given tensor arguments by name."""
        given = [n for n in self.tensor_args if getattr(p, n, False)]
        k = len(ins) - len(given)
        return list(ins[:k]), dict(zip(given, ins[k:]))

    # ----------------------------------------------------------- counts
    def param_count(self, p: Params, ins: list[TensorType]) -> int:
        return 0

    def macs(self, p: Params, ins: list[TensorType], outs: list[TensorType]) -> Dim:
        """Multiply-accumulates of one forward pass over the whole input (batch included)."""
        return 0

    def id_limit(self, p: Params) -> int | None:
        """For a layer that indexes with its integer input (Embedding): every id must be below
        this, or torch raises; None for any other layer."""
        return None

    def weight_shape(self, ctor: dict, name: str) -> tuple[int, ...] | None:
        """The shape of parameter ``name`` for these constructor arguments; None where unknown."""
        w = next((w for w in self.weights if w.name == name), None)
        return None if w is None or w.shape is None else tuple(w.shape(ctor))

    def own_buffers(self, ctor: dict) -> dict[str, Weight]:
        """Name -> declaration of every buffer the torch module owns itself for these arguments."""
        return {b.name: b for b in self.buffers if b.missing_because(ctor) is None}

    def own_weights(self, ctor: dict) -> dict[str, int]:
        """Name -> dims of every parameter tensor the torch module owns itself (not its submodules')
        for these constructor arguments; the registry test compares it with torch."""
        return {w.name: w.rank(ctor) for w in self.weights if w.missing_because(ctor) is None}

    # ------------------------------------------------------------ emission
    def ctor(self, p: Params, ins: list[TensorType]) -> dict[str, Any]:
        """Keyword arguments of the torch constructor, inferred ones filled in, in order."""
        return p.model_dump()

    def ctor_defaults(self) -> dict[str, Any]:
        """Constructor values left out of the generated call (torch's defaults)."""
        out = {}
        for name, f in self.Params.model_fields.items():
            if not f.is_required():
                out[name] = f.default
        return out

    def forward(self, p: Params, call: str | None, args: list[str]) -> str:
        """The forward expression; ``call`` is ``self.<attr>`` for module layers."""
        return f"{call}({', '.join(args)})"

    def label(self, p: Params, ins: list[TensorType]) -> str:
        """Key parameters for diagrams, e.g. ``6@5×5 s2``."""
        return ""

    def explain(self, p: Params, ins: list[TensorType], outs: list[TensorType]) -> list[str]:
        """The size formulas with the numbers filled in, one line each, for ``--explain``:
        ``H_out = floor((32 + 2·0 − 1·(5−1) − 1)/1) + 1 = 28``."""
        return []

    # ------------------------------------------------------------- helpers
    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


REGISTRY: dict[str, Layer] = {}


def register(cls: type[Layer]) -> type[Layer]:
    kind = cls.__dict__.get("kind") or cls.__name__
    cls.kind = kind
    if kind in REGISTRY:
        raise RuntimeError(f"layer {kind!r} registered twice")
    if kind in _index.KINDS and not cls.__module__.startswith("graphc.layers."):
        raise RuntimeError(f"plugin layer {kind!r} ({cls.__module__}) has the name of a built-in layer")
    REGISTRY[kind] = cls()
    return cls


# ------------------------------------------------------------------ helpers
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_RANK = {"bool": 0, "int32": 1, "int64": 2, "float16": 3, "bfloat16": 3, "float32": 4, "float64": 5}


def promote(dtypes) -> str:
    """torch's type promotion for the dtypes graphc knows (float16 with bfloat16 gives float32)."""
    dts = list(dict.fromkeys(dtypes))
    top = max(dts, key=lambda d: _RANK[d])
    if top in ("float16", "bfloat16") and {"float16", "bfloat16"} <= set(dts):
        return "float32"
    return top


def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def need_rank(x: TensorType, ranks: tuple[int, ...], layout: str = "") -> None:
    if len(x.shape) not in ranks:
        want = " or ".join(f"{r}-d" for r in ranks)
        raise ShapeError(
            f"expects a {want} input{(' ' + layout) if layout else ''}, "
            f"got {len(x.shape)}-d {shape_str(x.shape)}",
            code="shape-rank",
            hint="reshape or flatten the input first",
        )


def need_concrete(d: Dim, what: str, arg: str | None = None) -> int:
    if isinstance(d, int):
        return d
    raise ShapeError(
        f"{what} must be a concrete size, but it is the symbolic '{d}'",
        hint="give " + " and ".join(sorted(d.free_names)) + " a number in the input declaration, or check "
             "with sizes bound: graphc check " + " ".join(f"--set {n}=64" for n in sorted(d.free_names)),
        code="shape-symbolic",
        arg=arg,
    )


def decide(p: Params, **sizes) -> None:
    """Choose the reading of a call PyTorch's order also fits, now that the input gives the
    inferred ``sizes`` (graphc.binder.decide): ``p`` is rewritten in place to the chosen one."""
    from graphc.binder import decide as _decide

    _decide(p, sizes)


def either_order(infer):
    """Decorates the ``infer`` of a layer with ``torch_positional``: where a call fits both
    orders and ``decide`` took PyTorch's reading, but that reading fails on the input
    (``LSTM(8, 2, proj_size=2)`` on 8 features: hidden_size=2 is too small for proj_size)
    while graphc's does not, graphc's reading stands, as PyTorch's cannot be meant."""
    import functools

    @functools.wraps(infer)
    def wrapper(self, p, ins):
        from graphc.binder import reading_of, use

        r = reading_of(p)
        if r is None or r.both is None or r.chosen is not None:
            return infer(self, p, ins)
        try:
            return infer(self, p, ins)
        except ShapeError:
            if r.chosen != "torch":
                raise
            use(p, "graphc")
            try:
                return infer(self, p, ins)
            except ShapeError:
                use(p, "torch")  # neither fits: PyTorch's reading, which the input pointed at, reports
        return infer(self, p, ins)

    return wrapper


def check_given(p: Params, field_name: str, inferred: int) -> None:
    """A user-written value that graphc would infer must agree with the input."""
    given = getattr(p, field_name, None)
    if given is not None and given != inferred:
        from graphc.binder import mismatch_message

        torch_order = mismatch_message(p, field_name, given, inferred)
        if torch_order is not None:
            raise ShapeError(torch_order[0], hint=torch_order[1], arg=field_name)
        raise ShapeError(
            f"{field_name}={given} does not match the input, which has {inferred}",
            hint=f"remove {field_name} (graphc infers it) or make it {inferred}",
            arg=field_name,
        )


def positive_dims(shape: Shape, what: str, detail: str = "", hint: str | None = None) -> None:
    for i, d in enumerate(shape):
        if isinstance(d, int) and d < 1:
            raise ShapeError(f"{what}: output dimension {i} would be {d}{detail}", hint=hint,
                             code="shape-nonpositive")


def lookup(kind: str) -> Layer | None:
    """The layer ``kind``, importing only the module that defines it (``_index.KINDS``):
    ``graphc check`` of a CNN never pays for the attention or recurrent modules.  A kind graphc
    does not know loads the plugins of installed packages (graphc.plugins), once."""
    layer = REGISTRY.get(kind)
    if layer is None and kind in _index.KINDS:
        import importlib

        importlib.import_module(f"graphc.layers.{_index.KINDS[kind][0]}")
        layer = REGISTRY.get(kind)
    if layer is None and kind.isidentifier():
        from graphc import plugins

        if plugins.load_entry_points():
            layer = REGISTRY.get(kind)
    return layer


class LazyRegistry:
    """Every layer kind by name, each module imported on first use (see ``lookup``)."""

    def get(self, kind: str, default: Layer | None = None) -> Layer | None:
        layer = lookup(kind)
        return default if layer is None else layer

    def __getitem__(self, kind: str) -> Layer:
        layer = lookup(kind)
        if layer is None:
            raise KeyError(kind)
        return layer

    def __contains__(self, kind: object) -> bool:
        return kind in _index.KINDS or kind in REGISTRY  # a plugin's, once loaded

    def __iter__(self):
        return iter([*_index.KINDS, *(k for k in REGISTRY if k not in _index.KINDS)])

    @staticmethod
    def module_kinds() -> list[str]:
        """The kinds that are nn.Modules (have weights to initialize, an attribute...)."""
        return [k for k, (_, is_module) in _index.KINDS.items() if is_module]


LAYERS = LazyRegistry()


def build_index() -> dict[str, tuple[str, bool]]:
    """What ``_index.KINDS`` must say: kind -> (module, is an nn.Module), from the loaded registry."""
    return {kind: (type(layer).__module__.rsplit(".", 1)[1], layer.torch_name is not None)
            for kind, layer in sorted(load_all().items())}


def write_index(path: Path | None = None) -> Path:
    """Regenerate graphc/layers/_index.py (``python -m graphc.layers``)."""
    path = path or Path(__file__).with_name("_index.py")
    lines = ['"""Which module defines each layer kind, and whether it is an nn.Module.', "",
             "Generated by ``python -m graphc.layers`` from the registry; tests/test_layers_torch.py",
             'checks that it is current.  Lets graphc import only the layer modules a model uses."""', "",
             "KINDS: dict[str, tuple[str, bool]] = {"]
    lines += [f'    "{kind}": ("{module}", {is_module}),'
              for kind, (module, is_module) in build_index().items()]
    lines += ["}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def load_all() -> dict[str, Layer]:
    """Import every module of graphc.layers (each registers its classes) and return the registry."""
    import importlib
    import pkgutil

    import graphc.layers as pkg

    global _LOADED
    if not _LOADED:
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if info.name != "base" and not info.name.startswith("_"):
                importlib.import_module(f"graphc.layers.{info.name}")
        _LOADED = True
    return REGISTRY


_LOADED = False
