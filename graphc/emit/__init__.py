"""Emitters: the PyTorch module, the training script and graphviz diagrams."""
