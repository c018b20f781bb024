"""What a CI step runs instead of ``graphc check``, one tool per fresh process:

    python bench/competitors.py torchinfo|fx|meta GENERATED_MODULE.py

Each loads the module that ``graphc build`` wrote, computes every layer's output shape
its own way, and prints the parameter count and the output shape."""

import importlib.util
import sys

import torch

tool, path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("generated", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
cls = mod.MODEL
inputs = mod.example_inputs(1)

if tool == "torchinfo":  # runs a real forward pass with hooks on every module
    from torchinfo import summary

    model = cls()
    stats = summary(model, input_data=list(inputs), verbose=0, device="cpu")
    params, out = stats.total_params, tuple(stats.summary_list[0].output_size)
elif tool == "fx":  # symbolic trace, then ShapeProp interprets the graph node by node
    from torch.fx.passes.shape_prop import ShapeProp

    model = cls()
    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(*inputs)
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    params, out = sum(p.numel() for p in model.parameters()), tuple(out_node.args[0].meta["tensor_meta"].shape)
elif tool == "meta":  # no storage at all: parameters and activations on the meta device
    with torch.device("meta"):
        model = cls()
        y = model(*(x.to("meta") for x in inputs))
    params, out = sum(p.numel() for p in model.parameters()), tuple(y.shape)
else:
    sys.exit(f"unknown tool {tool}")
print(f"params={params} output={out}")
