"""Emitters: PyTorch source, graphviz diagrams, and the legal-identifier namer they share."""
