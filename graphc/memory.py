"""A per-rank memory plan for training, from what graphc knows before anything runs:
``graphc summary FILE --world-size N --strategy ddp|fsdp --precision fp32|bf16|fp16
--batch-size B [--gpu-memory 80GB]``.

Per rank, in bytes:

- **params**: the float32 parameters (the generated script keeps float32 weights and computes in
  bf16/fp16 under autocast).  DDP holds them all; FSDP a 1/N shard, plus the largest unit
  (``fully_shard`` is applied per block instance, then the root) gathered while it runs, at the
  compute dtype;
- **grads**: one float32 gradient per parameter (DDP: all; FSDP: a shard, plus the largest
  unit's unsharded gradients while they are reduce-scattered);
- **optimizer**: the optimizer's state, from its record (``Optimizer.state``: AdamW keeps two
  tensors the size of each parameter and a scalar step; SGD with momentum one), sharded by FSDP;
- **activations**: every layer's output at batch B, as kept for the backward pass (the summary's
  activation memory), halved for floating-point values under bf16/fp16 autocast.  An estimate:
  torch keeps some inputs rather than outputs, and frees some; bench/RESULTS.md gives its error
  against the tensors torch saves for backward.  With activation checkpointing (the script's
  ``--activation-checkpointing``: each outermost block instance recomputed in the backward pass),
  the layers outside those blocks, each block's output (the next one's saved input), and the
  largest block's own activations while it is recomputed.

The parameter, gradient and optimizer figures are exact for one process (tests/test_memory_plan.py
compares them with torch's tensors after a step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphc.graph import Program, Scope
from graphc.shapes import Dim, substitute
from graphc.summary import Summary, batch_symbols

COMPUTE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
         "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


@dataclass
class MemoryPlan:
    params: Dim
    grads: Dim
    optimizer: Dim
    activations: Dim
    world_size: int
    strategy: str
    precision: str
    batch_size: int
    optimizer_name: str
    activation_checkpointing: bool = False

    @property
    def total(self) -> Dim:
        return self.params + self.grads + self.optimizer + self.activations

    def to_json(self) -> dict:
        def num(v):
            return v if isinstance(v, int) else str(v)

        return {"params": num(self.params), "grads": num(self.grads), "optimizer": num(self.optimizer),
                "activations": num(self.activations), "total": num(self.total),
                "world_size": self.world_size, "strategy": self.strategy, "precision": self.precision,
                "batch_size": self.batch_size, "optimizer_name": self.optimizer_name,
                "activation_checkpointing": self.activation_checkpointing}

    def to_text(self, gpu_memory: int | None = None) -> list[str]:
        from graphc.summary import _bytes

        head = (f"Memory per rank: {self.strategy}, {self.world_size} process{'es' if self.world_size != 1 else ''}, "
                f"{self.precision}, batch {self.batch_size} per rank, {self.optimizer_name}"
                + (", activation checkpointing" if self.activation_checkpointing else ""))
        lines = [head]
        for name in ("params", "grads", "optimizer", "activations", "total"):
            v = getattr(self, name)
            lines.append(f"  {name + ':':13} {_bytes(v) if isinstance(v, int) else str(v) + ' B'}")
        if gpu_memory is not None and isinstance(self.total, int):
            fits = self.total <= gpu_memory
            lines.append(f"  {'fits in' if fits else 'DOES NOT FIT in'} {_bytes(gpu_memory)}"
                         + ("" if fits else ": use fsdp, more processes, bf16 or a smaller batch"))
        return lines


def parse_size(text: str) -> int:
    """``80GB``, ``80 GiB``, ``512MB``, ``1e9`` -> bytes (GB as 2**30, as GPUs are sold)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise ValueError(f"cannot read a memory size from {text!r}: write e.g. 80GB or 512MB")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def plan(prog: Program, summary: Summary, *, world_size: int = 1, strategy: str = "ddp",
         precision: str = "fp32", batch_size: int = 1, optimizer=None,
         activation_checkpointing: bool = False) -> MemoryPlan:
    """The plan; ``optimizer`` is a graphc.training.Choice (default: the train section's, else AdamW)."""
    if optimizer is None:
        optimizer = prog.training.optimizer if prog.training is not None else _default_optimizer()
    full, scalars = optimizer.record.state(optimizer.params)
    n_tensors = _param_tensors(prog)
    p_bytes = summary.param_bytes
    trainable = summary.trainable_params * 4
    opt = full * trainable + scalars * 4 * n_tensors
    compute = COMPUTE_BYTES[precision]
    acts = _activations(prog, summary, batch_size, precision, activation_checkpointing)
    if strategy == "fsdp":
        unit = _largest_unit(prog)
        n = world_size
        params = -(-p_bytes // n) + unit * compute
        grads = -(-trainable // n) + unit * compute
        opt = -(-opt // n)
    else:
        params, grads = p_bytes, trainable
    return MemoryPlan(params, grads, opt, acts, world_size, strategy, precision, batch_size, optimizer.name,
                      activation_checkpointing)


def _default_optimizer():
    from graphc.components.base import registry
    from graphc.training import Choice

    rec = registry("optimizer")["AdamW"]
    return Choice(rec, rec.Params())


def _param_tensors(prog: Program) -> int:
    """The trainable parameter tensors (each has one step scalar in Adam's state)."""
    from graphc.layers.learned import PARAM_KIND

    n = 0
    for node in prog.nodes.values():
        if node.shares is not None or node.ctor is None and node.kind != PARAM_KIND:
            continue
        if node.kind == PARAM_KIND:
            n += 1
        elif node.has_module:
            n += len(node.layer.own_weights(node.ctor))
    tied = sum(len(s.ties) for s in prog.scopes())
    return n - tied


def _largest_unit(prog: Program) -> int:
    """The parameters of the largest block instance (an FSDP unit), gathered while it runs."""
    best = 0
    for s in prog.scopes():
        if s is prog.root or not isinstance(s, Scope):
            continue
        best = max(best, sum(n.n_params or 0 for n in prog.nodes.values() if n.id.startswith(s.id + ".")))
    return best


def _checkpointed(prog: Program, summary: Summary) -> Dim:
    """Activations per sample kept when each outermost block instance is recomputed in the backward
    pass: everything outside those blocks, each block's output, and the largest block's own."""
    blocks = []  # (the block row, its descendants' rows)
    for r in summary.rows:
        if blocks and r.name.startswith(blocks[-1][0].name + "."):
            blocks[-1][1].append(r)
        elif r.is_block and r.kind.split(" (shares ")[0] in prog.blocks:
            blocks.append((r, []))
    if not blocks:
        return summary.activation_bytes
    kept = summary.activation_bytes
    largest = 0
    for _, rows in blocks:
        own = sum(x.activation_bytes for x in rows if not x.is_block)
        out = next((x.activation_bytes for x in reversed(rows) if not x.is_block), 0)
        kept = kept - own + out
        largest = max(largest, own) if isinstance(largest, int) and isinstance(own, int) else _max(largest, own)
    return kept + largest


def _max(a: Dim, b: Dim) -> Dim:
    """The larger of two sizes; of two different symbolic ones, their sum (an upper bound)."""
    return a if a == b else a + b


def _activations(prog: Program, summary: Summary, batch: int, precision: str,
                 checkpointing: bool = False) -> Dim:
    per_sample = _checkpointed(prog, summary) if checkpointing else summary.activation_bytes
    if precision != "fp32":
        per_sample = per_sample / 2 if isinstance(per_sample, int) else per_sample / 2
        if isinstance(per_sample, float) and per_sample.is_integer():
            per_sample = int(per_sample)
    total = per_sample * batch
    return substitute(total, {s: 1 for s in batch_symbols(prog)})
