"""The VS Code extension (editors/vscode): its TextMate grammar is the one that
editors/vscode/scripts/gen_grammar.py writes from grammars/model.lark and the registries, and its
manifest ties the language, the grammar and the client together.  The grammar's own tests (sample
files with expected scopes) run with vscode-tmgrammar-test when node_modules is installed
(editors/vscode/build.sh installs it)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_grammar", VSCODE / "scripts" / "gen_grammar.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_grammar_is_up_to_date():
    committed = (VSCODE / "syntaxes" / "graphc.tmLanguage.json").read_text(encoding="utf-8")
    assert committed == _gen().render(), (
        "editors/vscode/syntaxes/graphc.tmLanguage.json is stale: run "
        "python editors/vscode/scripts/gen_grammar.py")


def test_grammar_knows_every_keyword_layer_and_dtype():
    gen = _gen()
    g = json.loads(gen.render())
    rep = g["repository"]
    text = (ROOT / "grammars" / "model.lark").read_text(encoding="utf-8")
    # every word the parser accepts as a keyword is highlighted as one
    for word in re.findall(r'"([a-z]+)"', "\n".join(ln.split("//")[0] for ln in text.splitlines())):
        pats = [rep[k]["match"] for k in ("keyword", "declaration", "section", "constant")]
        assert any(re.search(p, f"{word} X {{") or re.search(p, f"{word} {{") for p in pats), word
    from graphc.layers.base import LAYERS

    layer = re.compile(rep["layer"]["match"])
    for kind in LAYERS:
        m = layer.search(f"x -> {kind}(1)")
        assert m is not None and m.group(1) == kind, kind
    dtype = re.compile(rep["dtype"]["match"])
    assert dtype.search("input t: long[B, T]") and not dtype.search("input long: [B]")
    # a label before a call, not an input's shape
    label = re.compile(rep["label"]["match"])
    assert label.search("y = x -> conv1: Conv2d(6, 5)").group(1) == "conv1"
    assert label.search("input image: [B, 3, 32, 32]") is None


def test_manifest_ties_language_grammar_and_client():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    lang = pkg["contributes"]["languages"][0]
    assert lang["id"] == "graphc" and lang["extensions"] == [".model"]
    grammar = pkg["contributes"]["grammars"][0]
    assert grammar["language"] == "graphc"
    g = json.loads((VSCODE / grammar["path"]).read_text(encoding="utf-8"))
    assert g["scopeName"] == grammar["scopeName"] == "source.graphc"
    conf = json.loads((VSCODE / lang["configuration"]).read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    assert ["(", ")"] in conf["brackets"] and ["{", "}"] in conf["brackets"]
    props = pkg["contributes"]["configuration"]["properties"]
    assert props["graphc.server.command"]["default"] == "graphc"
    assert props["graphc.server.args"]["default"] == ["lsp"]
    main = (VSCODE / pkg["main"]).read_text(encoding="utf-8")
    assert "vscode-languageclient/node" in main and 'get("server.command"' in main
    assert "vscode-languageclient" in pkg["dependencies"]
    lock = json.loads((VSCODE / "package-lock.json").read_text(encoding="utf-8"))
    assert "node_modules/vscode-languageclient" in lock["packages"]
    assert "node_modules/" in (VSCODE / ".gitignore").read_text()


def test_grammar_sample_files():
    tool = VSCODE / "node_modules" / ".bin" / "vscode-tmgrammar-test"
    if not tool.exists() or shutil.which("node") is None:
        pytest.skip("editors/vscode/node_modules is not installed (editors/vscode/build.sh installs it)")
    samples = sorted(str(p.relative_to(VSCODE)) for p in (VSCODE / "test").glob("*.model"))
    assert samples
    r = subprocess.run([str(tool), "-g", "syntaxes/graphc.tmLanguage.json", *samples], cwd=VSCODE,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_server_through_vscode_jsonrpc():
    """The server driven by vscode-jsonrpc, the JSON-RPC library of VS Code's client."""
    script = VSCODE / "test" / "smoke.js"
    if not (VSCODE / "node_modules" / "vscode-jsonrpc").exists() or shutil.which("node") is None:
        pytest.skip("editors/vscode/node_modules is not installed (editors/vscode/build.sh installs it)")
    import sys

    r = subprocess.run(["node", str(script), sys.executable, str(ROOT)], cwd=VSCODE, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "answered vscode-jsonrpc" in r.stdout
