"""Files that import others: ``import "blocks.model"`` brings every top-level constant and block
of that file (and of the files it imports) into the importing file's one namespace.

The path is relative to the importing file and names a ``.model`` file.  A file is read once
however often it is imported; an import cycle is an error, as is a name that two files define
(there is one namespace: a block body sees the constants and blocks of every file, as if it were
written in one).  The models of an imported file are not part of the import, so a model file
can serve as a library of its blocks.  Each imported text is kept (``sources``) so a
diagnostic in it shows its own line.
"""

from __future__ import annotations

import os

from graphc import ast as A
from graphc.errors import GraphcError
from graphc.source import Source

#: Files one compile may read through imports.
MAX_IMPORTED_FILES = 256


class Imports:
    """``import "x.model"`` (a mixin of graphc.lower.Lowerer)."""

    def top_level(self, items, models: list | None) -> None:
        """A file's constants, blocks and imports; its models go to ``models`` (None: an imported
        file's, which are not imported)."""
        for item in items:
            if isinstance(item, A.ConstDef):
                self.const_def(item, self.globals)
                self.const_defs.append(item)
            elif isinstance(item, A.BlockDef):
                self.block_def(item)
            elif isinstance(item, A.Import):
                self.import_file(item)
            elif models is not None:
                models.append(item)

    def import_file(self, item: A.Import) -> None:
        here = item.span.path
        if not item.path.endswith(".model"):
            self.error(item.path_span, "invalid-import", f"an import names a .model file, not '{item.path}'",
                       'e.g. import "blocks.model"')
            return
        base = os.path.dirname(here) if here not in ("<string>", "") else ""
        path = os.path.normpath(os.path.join(base, item.path))
        if path in self.import_stack:
            chain = " -> ".join(self.import_stack[self.import_stack.index(path):] + [path])
            self.error(item.path_span, "recursion", f"import cycle: {chain}",
                       "move what both files need into a third file that both import")
            return
        if path in self.sources:
            return  # read once, however often imported
        if len(self.sources) >= MAX_IMPORTED_FILES:
            self.error(item.path_span, "limit", f"more than {MAX_IMPORTED_FILES} files imported")
            return
        text = self._read_import(item, path)
        if text is None:
            self.import_failed = True
            return
        self.sources[path] = Source(path, text)
        from graphc.syntax import parse

        try:
            tree = parse(text, path)
        except GraphcError as e:
            for d in e.diagnostics:
                self.error(d.span, d.code, d.message, d.hint)
            self.import_failed = True
            return
        self.imported_files.append(tree)
        self.import_stack.append(path)
        try:
            self.top_level(tree.items, None)
        finally:
            self.import_stack.pop()

    def _read_import(self, item: A.Import, path: str) -> str | None:
        from graphc.syntax import MAX_SOURCE_BYTES

        try:
            with open(path, "rb") as f:
                data = f.read(MAX_SOURCE_BYTES + 1)
        except OSError as e:
            self.error(item.path_span, "io-error", f"cannot read {path}: {e.strerror or e}",
                       "the path is relative to the importing file" if isinstance(e, FileNotFoundError) else None)
            return None
        if len(data) > MAX_SOURCE_BYTES:
            self.error(item.path_span, "limit", f"{path} is more than {MAX_SOURCE_BYTES:,} bytes")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.error(item.path_span, "io-error", f"cannot read {path}: it is not UTF-8 text", "save it as UTF-8")
            return None
