"""Labels and value names that collide with what the generated class has (issue 19): a plain
value is renamed safely (it is a local variable of forward); a label is a module attribute and
a state_dict key, so renaming it would change the keys: names.label_clash makes it an error."""

import pytest
import torch
from torch import nn

from graphc.api import compile_source
from graphc.names import NN_MODULE_ATTRS, label_clash, legal


def torch_public_attrs() -> set[str]:
    return {n for n in dir(nn.Module()) if not n.startswith("_")}


def test_graphcs_list_has_every_public_attribute_of_nn_module():
    """Taken from torch, so the list cannot fall behind a torch release."""
    assert torch_public_attrs() - NN_MODULE_ATTRS == set()


@pytest.mark.parametrize("name", sorted(torch_public_attrs()))
def test_each_nn_module_attribute_is_a_label_clash(name):
    assert legal(name) != name
    message, hint = label_clash(name)
    assert f"'{name}'" in message and "state_dict key" in message and hint.startswith("rename the label")


def test_an_ordinary_label_is_not_a_clash():
    assert label_clash("conv1") is None and label_clash("encoder") is None


def test_values_named_like_module_attributes_are_renamed_and_run_in_torch():
    """Plain values are forward's local variables: renaming them changes no state_dict key."""
    names = ["training", "forward", "parameters", "to", "cuda", "state_dict", "register_buffer",
             "init_weights", "eval", "zero_grad"]
    body = "".join(f"    {n} = {'x' if i == 0 else names[i - 1]} -> ReLU\n" for i, n in enumerate(names))
    src = f"model M {{\n    input x: [B, 4]\n{body}    y = {names[-1]} -> fc: Linear(3)\n    output y\n}}\n"
    comp = compile_source(src, "m.model")
    assert comp.ok, comp.diagnostics
    m = comp.to_module()
    assert list(m.state_dict()) == ["fc.weight", "fc.bias"]
    x = torch.randn(2, 4)
    assert torch.equal(m(x), m.fc(torch.relu(x)))
    assert m.training is True and callable(m.parameters)  # nothing of nn.Module was replaced


def test_a_label_named_like_a_module_attribute_is_an_error():
    src = "model M {\n    input x: [B, 4]\n    y = x -> init_weights: Linear(3)\n    output y\n}\n"
    comp = compile_source(src, "m.model")
    assert [(d.code, d.span.col) for d in comp.errors] == [("reserved-name", 14)]
