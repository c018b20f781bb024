"""`graphc lsp`'s references, rename and quick fixes, end to end through the protocol (the server
of tests/test_lsp.py: a subprocess with torch made unimportable).  A quick fix's result is checked
against torch itself: the layer it repairs runs on the shape that failed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pygls.lsp.server")
from lsprotocol import types as T  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402
from test_lsp import Session, doc  # noqa: E402


@pytest.fixture(scope="module")
def lsp():
    s = Session()
    yield s
    s.stop()


LIB = textwrap.dedent("""\
    block Widen(c) {
        input x
        y = x -> conv: Conv2d(c, 1) -> ReLU
        output y
    }
    """)
MAIN = textwrap.dedent("""\
    import "lib.model"
    const W = 4

    model M {
        input x: [B, 3, 8, 8]
        y = x -> stem: Widen(W) -> Widen(W * 2)
        z = y -> head: Conv2d(W, 3, padding=1)
        freeze stem.conv, head
        output z
    }
    """)


def apply(text: str, edits: list[T.TextEdit]) -> str:
    """The text with LSP edits applied (ASCII text: characters are UTF-16 units)."""
    lines = text.split("\n")
    offs = [0]
    for ln in lines:
        offs.append(offs[-1] + len(ln) + 1)

    def at(p: T.Position) -> int:
        return offs[p.line] + p.character

    for e in sorted(edits, key=lambda e: at(e.range.start), reverse=True):
        text = text[:at(e.range.start)] + e.new_text + text[at(e.range.end):]
    return text


def where(text: str, line_has: str, word: str) -> T.Position:
    lines = text.split("\n")
    row = next(i for i, ln in enumerate(lines) if line_has in ln)
    return T.Position(row, lines[row].index(word) + 1)


@pytest.fixture
def project(lsp, tmp_path):
    (tmp_path / "lib.model").write_text(LIB)
    main = tmp_path / "main.model"
    main.write_text(MAIN)
    uri = lsp.open(main)
    assert lsp.diagnostics_of(uri) == []
    yield tmp_path, uri
    lsp.close(uri)


def refs(lsp, uri, pos, decl=True):
    got = lsp.run(lsp.client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=pos, context=T.ReferenceContext(include_declaration=decl))))
    return [(Path(loc.uri).name, loc.range.start.line, loc.range.start.character) for loc in got]


def test_references_of_values_constants_and_blocks(lsp, project):
    tmp, uri = project
    # a value: its assignment and its use
    assert refs(lsp, uri, where(MAIN, "z = y", "y")) == [("main.model", 5, 4), ("main.model", 6, 8)]
    # a constant: its definition and its three uses (one inside an expression)
    got = refs(lsp, uri, where(MAIN, "const W", "W"))
    assert got == [("main.model", 1, 6), ("main.model", 5, 25), ("main.model", 5, 37), ("main.model", 6, 26)]
    assert refs(lsp, uri, where(MAIN, "const W", "W"), decl=False)[0] == ("main.model", 5, 25)
    # a block of the imported file: its definition there, both calls here
    got = refs(lsp, uri, where(MAIN, "stem: Widen", "Widen"))
    assert got == [("lib.model", 0, 6), ("main.model", 5, 19), ("main.model", 5, 31)]
    # a layer kind is not the file's: no references
    assert lsp.run(lsp.client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=where(MAIN, "head: Conv2d", "Conv2d"),
        context=T.ReferenceContext(include_declaration=True)))) is None


def test_rename_a_label_through_a_freeze_path_and_into_the_imported_file(lsp, project):
    tmp, uri = project
    lib_uri = from_fs_path(str(tmp / "lib.model"))
    # 'conv' in `freeze stem.conv` is the label of the block Widen's convolution
    pos = where(MAIN, "freeze", "conv")
    prep = lsp.run(lsp.client.text_document_prepare_rename_async(T.PrepareRenameParams(text_document=doc(uri), position=pos)))
    assert prep.placeholder == "conv"
    loc = lsp.run(lsp.client.text_document_definition_async(T.DefinitionParams(doc(uri), pos)))
    assert (Path(loc.uri).name, loc.range.start.line, loc.range.start.character) == ("lib.model", 2, 13)
    edit = lsp.run(lsp.client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos, new_name="proj")))
    assert apply(LIB, edit.changes[lib_uri]) == LIB.replace("conv: Conv2d", "proj: Conv2d")
    assert apply(MAIN, edit.changes[uri]) == MAIN.replace("stem.conv", "stem.proj")
    # a value and a label of the model: every use, nothing else
    edit = lsp.run(lsp.client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=where(MAIN, "z = y", "y"), new_name="feat")))
    assert apply(MAIN, edit.changes[uri]) == MAIN.replace("    y = x", "    feat = x").replace("z = y", "z = feat")
    edit = lsp.run(lsp.client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=where(MAIN, "z = y", "head"), new_name="out")))
    assert apply(MAIN, edit.changes[uri]) == MAIN.replace("head", "out")


@pytest.mark.parametrize("new, why", [("model", "keyword"), ("2x", "not a name"), ("W", "already defined"),
                                     ("Linear", "built-in layer")])
def test_rename_refuses_what_would_not_parse_or_would_clash(lsp, project, new, why):
    tmp, uri = project
    with pytest.raises(Exception, match=why):
        lsp.run(lsp.client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=where(MAIN, "z = y", "y"), new_name=new)))


def fixes(lsp, path: Path, text: str):
    uri = lsp.open(path, text)
    diags = lsp.diagnostics_of(uri)
    assert len(diags) == 1
    got = lsp.run(lsp.client.text_document_code_action_async(T.CodeActionParams(
        text_document=doc(uri), range=diags[0].range, context=T.CodeActionContext(diagnostics=diags))))
    lsp.close(uri)
    return uri, got


@pytest.mark.parametrize("wrong, right", [("Conv2D(8, 3)", "Conv2d(8, 3)"),
                                          ("Conv2d(8, 3, paddin=1)", "Conv2d(8, 3, padding=1)"),
                                          ("Conv2d(8, 3) -> Flaten", "Conv2d(8, 3) -> Flatten")])
def test_quick_fix_did_you_mean(lsp, tmp_path, wrong, right):
    text = f"model M {{\n    input x: [B, 3, 8, 8]\n    y = x -> {wrong}\n    output y\n}}\n"
    uri, got = fixes(lsp, tmp_path / "typo.model", text)
    assert len(got) == 1 and got[0].kind == T.CodeActionKind.QuickFix and got[0].is_preferred
    assert apply(text, got[0].edit.changes[uri]) == text.replace(wrong, right)


def test_quick_fix_padding_and_flatten_run_in_torch(lsp, tmp_path):
    torch = pytest.importorskip("torch")
    # a 3x3 window over a 2x2 map: torch refuses it; the suggested padding=1 makes it run
    text = "model M {\n    input x: [B, 3, 4, 4]\n    y = x -> Conv2d(8, 3) -> Conv2d(8, 3)\n    output y\n}\n"
    uri, got = fixes(lsp, tmp_path / "pad.model", text)
    assert [a.title for a in got] == ["Add padding=1 to Conv2d"]
    fixed = apply(text, got[0].edit.changes[uri])
    assert fixed == text.replace("-> Conv2d(8, 3)\n", "-> Conv2d(8, 3, padding=1)\n")
    x = torch.zeros(2, 8, 2, 2)
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(8, 8, 3)(x)
    assert torch.nn.Conv2d(8, 8, 3, padding=1)(x).shape == (2, 8, 2, 2)
    # BatchNorm1d given a 4-d map: torch refuses it; a Flatten before it makes it run
    text = "model M {\n    input x: [B, 3, 8, 8]\n    y = x -> Conv2d(4, 3) -> bn: BatchNorm1d -> ReLU\n    output y\n}\n"
    uri, got = fixes(lsp, tmp_path / "flat.model", text)
    assert [a.title for a in got] == ["Add a Flatten step before it"]
    assert apply(text, got[0].edit.changes[uri]) == text.replace("-> bn:", "-> Flatten -> bn:")
    x = torch.zeros(2, 4, 6, 6)
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(4)(x)
    assert torch.nn.BatchNorm1d(4 * 6 * 6)(torch.nn.Flatten()(x)).shape == (2, 144)


def test_uris_as_editors_spell_them(lsp, tmp_path):
    from graphc.lsp.uris import from_fs_path as ours
    from graphc.lsp.uris import to_fs_path

    assert to_fs_path("file:///c%3A/dir/x.model") == "c:/dir/x.model"          # VS Code on Windows
    assert to_fs_path("file:///tmp/a%20b.model") == "/tmp/a b.model"
    assert to_fs_path("untitled:Untitled-1") is None
    assert ours("/tmp/a b.model") == "file:///tmp/a%20b.model" and ours("<string>") is None
    # the imported file is open under a URI spelled otherwise ('.' percent-encoded): a definition
    # in it answers with the editor's own URI, and no diagnostics go to the other spelling
    (tmp_path / "lib.model").write_text(LIB)
    lib_uri = from_fs_path(str(tmp_path)) + "/lib%2Emodel"
    lsp.open(tmp_path / "lib.model", LIB)
    lsp.client.text_document_did_close(T.DidCloseTextDocumentParams(doc(from_fs_path(str(tmp_path / "lib.model")))))
    lsp.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
        uri=lib_uri, language_id="graphc", version=1, text=LIB)))
    main = tmp_path / "main.model"
    main.write_text(MAIN)
    uri = lsp.open(main)
    assert lsp.diagnostics_of(uri) == []
    loc = lsp.run(lsp.client.text_document_definition_async(T.DefinitionParams(
        doc(uri), where(MAIN, "stem: Widen", "Widen"))))
    assert loc.uri == lib_uri and loc.range.start == T.Position(0, 6)
    lsp.close(uri)
    lsp.client.text_document_did_close(T.DidCloseTextDocumentParams(doc(lib_uri)))


def test_rename_a_block_parameter_renames_its_keyword_at_every_call(lsp, tmp_path):
    text = ("block Widen(c, k=1) {\n    input x\n    y = x -> Conv2d(c, k)\n    output y\n}\n\n"
            "model M {\n    input x: [B, 3, 8, 8]\n    y = x -> Widen(4, k=3) -> Widen(c=2)\n    output y\n}\n")
    uri = lsp.open(tmp_path / "kw.model", text)
    assert lsp.diagnostics_of(uri) == []
    # from the definition of the parameter
    edit = lsp.run(lsp.client.text_document_rename_async(T.RenameParams(
        text_document=doc(uri), position=where(text, "block Widen", "k=1"), new_name="kernel")))
    assert apply(text, edit.changes[uri]) == text.replace("k=1", "kernel=1").replace(
        "Conv2d(c, k)", "Conv2d(c, kernel)").replace("k=3", "kernel=3")
    # from a keyword at a call; its definition is the block's parameter
    pos = where(text, "Widen(c=2)", "c=2")
    loc = lsp.run(lsp.client.text_document_definition_async(T.DefinitionParams(doc(uri), pos)))
    assert (loc.range.start.line, loc.range.start.character) == (0, 12)
    assert refs(lsp, uri, pos) == [("kw.model", 0, 12), ("kw.model", 2, 20), ("kw.model", 8, 36)]
    edit = lsp.run(lsp.client.text_document_rename_async(T.RenameParams(
        text_document=doc(uri), position=pos, new_name="width")))
    assert apply(text, edit.changes[uri]) == text.replace("Widen(c, k=1)", "Widen(width, k=1)").replace(
        "Conv2d(c, k)", "Conv2d(width, k)").replace("Widen(c=2)", "Widen(width=2)")
    lsp.close(uri)


def test_quick_fixes_in_the_training_section(lsp, tmp_path):
    text = ("model M {\n    input x: [B, 4]\n    y = x -> Linear(2)\n    output y\n    train {\n"
            "        data = digits()\n        loss = CrossEntropyLos()\n        optimizer = AdamW(lrr=0.1)\n"
            "    }\n}\n")
    uri = lsp.open(tmp_path / "train.model", text)
    diags = lsp.diagnostics_of(uri)
    assert len(diags) == 2
    got = lsp.run(lsp.client.text_document_code_action_async(T.CodeActionParams(
        text_document=doc(uri), range=T.Range(T.Position(0, 0), T.Position(10, 0)),
        context=T.CodeActionContext(diagnostics=diags))))
    assert sorted(a.title for a in got) == ["Change 'CrossEntropyLos' to 'CrossEntropyLoss'", "Change 'lrr' to 'lr'"]
    fixed = text
    for a in got:  # the two edits are on different lines: apply them one after the other
        fixed = apply(fixed, a.edit.changes[uri])
    assert fixed == text.replace("CrossEntropyLos(", "CrossEntropyLoss(").replace("lrr=", "lr=")
    lsp.close(uri)
