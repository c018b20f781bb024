"""``python -m graphc.layers``: regenerate graphc/layers/_index.py after adding a layer."""

from graphc.layers.base import write_index

print(f"wrote {write_index()}")
