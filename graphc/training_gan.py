"""Two-player training: a GAN's generator and discriminator, each with its optimizer.

The train section sits in the generator's model and names the discriminator, another model
of the same file::

    model Generator {
        input noise: [B, 16]
        ...
        output image
        train {
            data = digits()                  # the real samples (labels unused)
            discriminator = Critic           # a model of this file: image in, one logit out
            optimizer = Adam(lr=2e-3, betas=(0.5, 0.999))
            discriminator_optimizer = Adam(lr=2e-3, betas=(0.5, 0.999))
            epochs = 20
        }
    }

The losses are fixed: the non-saturating GAN losses with BCE-with-logits (Goodfellow et al.,
2014), so ``loss`` is not a setting here.  ``check_gan`` checks everything before any code
runs and sets ``prog.training`` to a :class:`GanSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from graphc import ast as A
from graphc.components.base import PosInt, registry
from graphc.errors import Diagnostic, diag
from graphc.layers.base import FLOAT_DTYPES
from graphc.params import Field, Params
from graphc.shapes import shape_str
from graphc.training import Choice


class GanSettings(Params):
    epochs: PosInt = 10
    batch_size: PosInt = 64
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    samples: Annotated[int, Field(ge=0, le=256)] = 16  # images saved per epoch (0: none)


COMPONENTS = {"data": "data set", "optimizer": "optimizer", "discriminator_optimizer": "optimizer"}


@dataclass
class GanSpec:
    data: Choice
    g_optimizer: Choice
    d_optimizer: Choice
    settings: GanSettings
    discriminator: str            # the discriminator model's name
    noise_shape: tuple            # the generator's input, one sample (ints)
    sample_shape: tuple           # the generator's output = the discriminator's input = a real sample
    task: str = "gan"


def is_gan(prog) -> bool:
    """Whether the model's train section is a two-player one (it names a discriminator)."""
    return prog.train is not None and any(st.name.id == "discriminator" for st in prog.train.settings)


def _fixed(shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def check_gan(prog, programs) -> list[Diagnostic]:
    """Validate a GAN train section of ``prog`` (the generator); on success set ``prog.training``."""
    from graphc.binder import _ERR, bind, check, signature
    from graphc.lower import Lowerer

    tb = prog.train
    ev = Lowerer(A.File(prog.path, (), tb.span))
    out: list[Diagnostic] = []
    seen: dict[str, A.Setting] = {}
    comps: dict[str, Choice] = {}
    scalars: dict[str, Any] = {}
    exprs: dict[str, A.Expr] = {}
    disc = None
    others = [p for p in programs if p is not prog]
    for st in tb.settings:
        key = st.name.id
        if key in seen:
            out.append(diag(st.name.span, "duplicate-name", f"'{key}' is already set at line {seen[key].span.line}"))
            continue
        seen[key] = st
        if key == "discriminator":
            names = [p.name for p in others]
            fallback = f"models: {', '.join(names)}" if names else \
                "add a model that takes the generator's output and gives one logit"
            if isinstance(st.value, A.Name) and st.value.id in names:
                disc = next(p for p in others if p.name == st.value.id)
            elif isinstance(st.value, A.Name) and st.value.id == prog.name:
                out.append(diag(st.value.span, "invalid-train", f"the discriminator must be another model than the "
                                                                f"generator {prog.name}", fallback))
            elif isinstance(st.value, A.Name):
                out.append(diag(st.value.span, "invalid-train",
                                f"'discriminator' names another model of this file, and {st.value.id!r} is none",
                                (ev.suggest(st.value.id, names) if names else None) or fallback))
            else:
                out.append(diag(st.value.span, "invalid-train", "'discriminator' takes the name of another model "
                                                                "of this file, e.g. discriminator = "
                                                                f"{names[0] if names else 'Discriminator'}", fallback))
        elif key == "loss":
            out.append(diag(st.name.span, "invalid-train",
                            "a GAN's losses are fixed: the non-saturating BCE-with-logits losses of the "
                            "generator and the discriminator", "remove the loss setting"))
        elif key in COMPONENTS:
            what = COMPONENTS[key]
            table = registry(what)
            call = st.value
            if isinstance(call, A.Name):
                call = A.Call(call.id, call.span, (), call.span, bare=True)
            if not isinstance(call, A.Call):
                out.append(diag(st.value.span, "invalid-train",
                                f"'{key}' takes a{'n' if what[0] in 'aeiou' else ''} {what}, e.g. "
                                f"{key} = {next(iter(table))}(...)", f"one of: {', '.join(table)}"))
                continue
            if call.kind not in table:
                out.append(diag(call.kind_span, "unknown-component", f"unknown {what} '{call.kind}'",
                                ev.suggest(call.kind, table) or f"one of: {', '.join(table)}"))
                continue
            b = bind(ev, prog.train_env, table[call.kind].signature(), call.span, call.args)
            if b.ok:
                comps[key] = Choice(table[call.kind], b.params)
        elif key in GanSettings.model_fields:
            v = ev.eval(st.value, prog.train_env)
            if v is not _ERR:
                scalars[key], exprs[key] = v, st.value
        else:
            allowed = [*COMPONENTS, "discriminator", *GanSettings.model_fields]
            out.append(diag(st.name.span, "unknown-argument", f"a GAN's training section has no setting '{key}'",
                            ev.suggest(key, allowed) or f"settings: {', '.join(allowed)}"))
    settings = check(ev, signature("train", GanSettings), scalars, exprs, tb.span)
    out += ev.diags
    if "data" not in seen:
        out.append(diag(tb.span, "invalid-train", "the GAN's training section has no 'data' (the real samples)",
                        "add e.g. 'data = digits()'"))
    if out or settings is None or disc is None or "data" not in comps:
        return out
    out += _check_shapes(prog, disc, comps["data"], tb.span)
    if out:
        return out
    adam = registry("optimizer")["Adam"]
    noise = prog.type_of(prog.root.inputs[0][1])
    fake = prog.type_of(prog.outputs[0][1])
    prog.training = GanSpec(
        data=comps["data"], g_optimizer=comps.get("optimizer", Choice(adam, adam.Params())),
        d_optimizer=comps.get("discriminator_optimizer", Choice(adam, adam.Params())), settings=settings,
        discriminator=disc.name, noise_shape=tuple(noise.shape[1:]), sample_shape=tuple(fake.shape[1:]))
    return out


def _check_shapes(g, d, data: Choice, span) -> list[Diagnostic]:
    """One noise input and one output for the generator; the discriminator takes that output and
    gives one logit per sample; the real samples have the same shape."""
    if len(g.root.inputs) != 1 or len(g.outputs) != 1:
        return [diag(span, "invalid-train", f"a GAN's generator takes one input (the noise) and gives one output "
                                            f"(a sample), but {g.name} has {len(g.root.inputs)} inputs and "
                                            f"{len(g.outputs)} outputs")]
    noise, fake = g.type_of(g.root.inputs[0][1]), g.type_of(g.outputs[0][1])
    if noise.dtype not in FLOAT_DTYPES or not _fixed(noise.shape[1:]) or not _fixed(fake.shape[1:]):
        return [diag(span, "invalid-train", f"the generator's noise input must be real numbers of a fixed size "
                                            f"and its output of a fixed size, but {g.name} takes "
                                            f"{shape_str(noise.shape)} {noise.dtype} and gives {shape_str(fake.shape)}",
                     "declare e.g. input noise: [B, 16]")]
    if len(d.root.inputs) != 1 or len(d.outputs) != 1:
        return [diag(span, "invalid-train", f"the discriminator takes one input (a sample) and gives one output "
                                            f"(a logit per sample), but {d.name} has {len(d.root.inputs)} inputs "
                                            f"and {len(d.outputs)} outputs")]
    x, y = d.type_of(d.root.inputs[0][1]), d.type_of(d.outputs[0][1])
    if tuple(x.shape[1:]) != tuple(fake.shape[1:]):
        return [diag(span, "invalid-train", f"the generator {g.name} gives {shape_str(fake.shape)}, but the "
                                            f"discriminator {d.name} takes {shape_str(x.shape)}",
                     "make the discriminator's input the generator's output shape")]
    if tuple(y.shape[1:]) not in ((), (1,)):
        return [diag(span, "invalid-train", f"the discriminator gives one logit per sample, (B,) or (B, 1), "
                                            f"but {d.name} gives {shape_str(y.shape)}",
                     "end it with Linear(1), without a Sigmoid (the loss is BCE-with-logits)")]
    last = d.nodes[d.outputs[0][1][0]] if d.outputs[0][1][0] in d.nodes else None
    if last is not None and getattr(last, "kind", None) == "Sigmoid":
        return [diag(span, "invalid-train", f"the discriminator {d.name} ends with a Sigmoid, but the GAN losses "
                                            "are BCE-with-logits: it must give logits", "remove the Sigmoid")]
    shape = data.record.sample_shape(data.params)
    if shape is not None and tuple(shape) != tuple(fake.shape[1:]):
        return [diag(span, "data-mismatch", f"{data.name}() gives samples of shape {tuple(shape)}, but the "
                                            f"generator {g.name} gives {shape_str(fake.shape)}",
                     "the real samples and the generated ones must have the same shape")]
    return []
