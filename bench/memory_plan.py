"""The memory plan of ``graphc summary --world-size`` against torch on this CPU:
``python -m bench.memory_plan``.

Parameters, gradients and optimizer state are exact (tests/test_memory_plan.py); this measures the
estimate that is not, activations: the plan's bytes (every layer's output at the batch size)
against the bytes of the tensors torch saves for backward during one training-mode forward pass
(``torch.autograd.graph.saved_tensors_hooks``, each storage once, parameters left out).  On a GPU,
``torch.cuda.max_memory_allocated`` would be the figure to compare the total with; no GPU has been
available to this project's sessions yet.
"""

from __future__ import annotations

MODELS = [("digits", 32), ("lenet", 32), ("resnet18", 8), ("mobilenet_v2", 8), ("unet", 4), ("gpt", 8)]


def saved_bytes(model, inputs) -> int:
    import torch

    seen: dict = {}

    def pack(t):
        key = t.untyped_storage().data_ptr()
        seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(*inputs)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(v for k, v in seen.items() if k not in params)


def run() -> str:
    from bench.common import ROOT
    from graphc.api import compile
    from graphc.memory import plan

    rows = ["| model | batch | plan: activations | saved for backward (torch) | plan / torch |", "|---|---|---|---|---|"]
    for stem, b in MODELS:
        comp = compile(ROOT / "models" / f"{stem}.model", **({"h": 2, "w": 2} if stem == "unet" else {}))
        m = comp.to_module().train()
        ns: dict = {}
        exec(comp.python_source(), ns)  # noqa: S102 - the generated module
        measured = saved_bytes(m, ns["example_inputs"](b))
        est = plan(comp.program, comp.summary(b), batch_size=b).activations
        rows.append(f"| {stem} | {b} | {est / 2**20:.2f} MiB | {measured / 2**20:.2f} MiB | {est / measured:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(run())
