"""The layer library: one class per layer, registered by decorator."""

from graphc.layers.base import REGISTRY, Layer, Sample, ShapeError, TensorType, load_all

__all__ = ["REGISTRY", "Layer", "Sample", "ShapeError", "TensorType", "load_all"]
