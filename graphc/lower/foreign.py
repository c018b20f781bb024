"""Names other libraries give graphc's layers, for the unknown-layer hint (issue 19)."""

from __future__ import annotations

# Keras' and other libraries' names for graphc's layers (issue 19: a Keras habit gets the layer meant)
KERAS = {"Dense": "Linear: Dense(10) is Linear(10) (units is out_features), and its activation is a "
                  "layer after it (-> ReLU)",
         "BatchNormalization": "BatchNorm1d, BatchNorm2d or BatchNorm3d (num_features is inferred)",
         "GlobalAveragePooling2D": "AdaptiveAvgPool2d(1) -> Flatten",
         "GlobalMaxPooling2D": "AdaptiveMaxPool2d(1) -> Flatten",
         "Activation": "the activation's own layer: ReLU, Tanh, Sigmoid, GELU...",
         "Reshape": "Unflatten(1, (...)) or reshape(...)", "Concatenate": "concat(a, b, dim=1)",
         "Add": "add(a, b)", "SimpleRNN": "RNN"}


def other_names(kind: str, reg) -> str | None:
    """A hint for a name another library uses: Keras' (Dense), a Keras spelling of one of ours
    (MaxPooling2D, Conv2D: the case and 'ing' differ), or a name without its dimension suffix
    (MaxPool: MaxPool1d, MaxPool2d or MaxPool3d)."""
    if kind in KERAS:
        return f"'{kind}' is Keras' name: graphc writes {KERAS[kind]}"
    same = [k for k in reg if k.lower() == kind.lower()]
    if len(same) > 1:  # ReLu: the layer ReLU rather than the operation relu (the first letter's case)
        pick = next((k for k in same if k[0] == kind[0]), same[0])
        return f"did you mean '{pick}'?"
    flat = kind.replace("ing", "").lower()
    same = [k for k in reg if k.lower() == flat]
    if "ing" in kind and same:
        return f"did you mean '{same[0]}'? ('{kind}' is Keras' spelling)"
    suffixed = sorted(k for k in reg if k.lower().startswith(kind.lower()) and k[len(kind):] in ("1d", "2d", "3d"))
    if suffixed:
        return "did you mean " + " or ".join(f"'{k}'" for k in suffixed) + "? (the suffix says the input's " \
            "dimensions: 1d for (B, C, L), 2d for (B, C, H, W), 3d for (B, C, D, H, W))"
    return None


# Keras' argument names: graphc's (PyTorch's) name, or how the thing is written instead
KERAS_ARGUMENTS = {"units": "out_features", "filters": "out_channels", "strides": "stride", "use_bias": "bias",
                   "rate": "p", "epsilon": "eps", "axis": "dim", "pool_size": "kernel_size",
                   "kernel_initializer": "weight_init", "bias_initializer": "bias_init",
                   "input_dim": "in_features", "output_dim": "embedding_dim"}
KERAS_WRITTEN = {"activation": "an activation is a layer of its own after this one: -> ReLU",
                 "input_shape": "the shape goes on the model's input: input x: [B, ...]",
                 "return_sequences": "output=\"sequence\" (the default) or output=\"last\""}


def keras_argument(word: str, candidates) -> str | None:
    """A hint for a Keras argument name where graphc has another (units: out_features)."""
    if word in KERAS_ARGUMENTS and KERAS_ARGUMENTS[word] in candidates:
        return f"'{word}' is Keras' name: write {KERAS_ARGUMENTS[word]}="
    if word in KERAS_WRITTEN and ("out_features" in candidates or "hidden_size" in candidates
                                  or "out_channels" in candidates):
        return f"'{word}' is Keras': {KERAS_WRITTEN[word]}"
    return None
