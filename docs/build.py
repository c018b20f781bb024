"""Regenerate the generated parts of the docs: ``python docs/build.py`` (or ``make docs``).

- docs/layers.md and docs/components.md from the registries;
- docs/tutorial.md from docs/tutorial.in.md, whose directives are replaced by real output:
  ``@model PATH`` (the file), ``@explain PATH`` (``graphc check --explain``),
  ``@summary PATH [DEPTH]``, ``@forward PATH`` (the generated model class), ``@image PATH [opts]``;
- docs/images/*.png diagrams (with the graphviz binary; skipped with a note without it).

tests/test_docs.py checks that the committed markdown is current.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphc.api import compile  # noqa: E402
from graphc.docgen import render as render_layers  # noqa: E402
from graphc.docgen import render_components  # noqa: E402
from graphc.emit.dot import render, to_dot  # noqa: E402
from graphc.explain import explain  # noqa: E402


def _rel(path: str) -> Path:
    return ROOT / path


def _forward_class(path: str) -> str:
    comp = compile(_rel(path))
    src = comp.python_source()
    name = comp.program.name
    start = src.index(f"class {name}(nn.Module):")
    end = src.find("\n\n\n", start)
    return src[start:end if end != -1 else None].rstrip()


def _image_name(path: str, opts: list[str]) -> str:
    return Path(path).stem + ("-" + "-".join(o.strip("-") for o in opts) if opts else "") + ".png"


def directive(line: str, images: list[tuple[str, list[str]]]) -> str:
    parts = line.split()
    kind, path, opts = parts[0], parts[1], parts[2:]
    if kind == "@model":
        return "```graphc\n" + _rel(path).read_text().rstrip() + "\n```"
    if kind == "@explain":
        comp = compile(_rel(path))
        return f"```console\n$ graphc check --explain {path}\n" + "\n".join(explain(comp.program)) + \
            "\nAll checks passed (1 file).\n```"
    if kind == "@summary":
        comp = compile(_rel(path))
        depth = int(opts[0]) if opts else None
        flag = f" --depth {depth}" if depth is not None else ""
        return f"```console\n$ graphc summary {path}{flag}\n" + comp.summary().to_text(depth=depth) + "\n```"
    if kind == "@forward":
        return "```python\n" + _forward_class(path) + "\n```"
    if kind == "@image":
        name = _image_name(path, opts)
        images.append((path, opts))
        flags = " ".join(opts)
        return f"![{Path(path).stem}](images/{name})\n\n<sub>`graphc viz {path} {flags + ' ' if flags else ''}-o {name}`</sub>"
    raise ValueError(f"unknown directive {line!r}")


def render_tutorial() -> tuple[str, list]:
    images: list = []
    src = (ROOT / "docs" / "tutorial.in.md").read_text()
    out = []
    for line in src.splitlines():
        out.append(directive(line, images) if re.match(r"@(model|explain|summary|forward|image) ", line) else line)
    return "\n".join(out).rstrip() + "\n", images


def draw(path: str, opts: list[str]) -> None:
    comp = compile(_rel(path))
    depth = int(opts[opts.index("--depth") + 1]) if "--depth" in opts else None
    dot = to_dot(comp.program, rankdir="LR" if "LR" in opts else "TB", depth=depth, collapse="--collapse" in opts)
    (ROOT / "docs" / "images" / _image_name(path, opts)).write_bytes(render(dot, "png"))


def main() -> int:
    (ROOT / "docs" / "layers.md").write_text(render_layers())
    (ROOT / "docs" / "components.md").write_text(render_components())
    text, images = render_tutorial()
    (ROOT / "docs" / "tutorial.md").write_text(text)
    extra = [("models/resnet18.model", ["--depth", "1"]), ("models/lenet.model", []), ("models/unet.model", ["--collapse"])]
    if shutil.which("dot") is None:
        print("note: graphviz's dot is not installed: images not redrawn")
    else:
        (ROOT / "docs" / "images").mkdir(exist_ok=True)
        for path, opts in list(dict.fromkeys(map(lambda x: (x[0], tuple(x[1])), images + extra))):
            draw(path, list(opts))
    print("wrote docs/layers.md, docs/components.md, docs/tutorial.md and docs/images/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
