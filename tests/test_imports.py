"""``import "blocks.model"``: the constants and blocks of another file, checked and built as if
written in the importing one; errors in an imported file shown at its own lines."""

import os

import pytest
from conftest import run_graphc

from graphc.api import compile, compile_source

COMMON = """# Blocks shared by the models of this project.
const base = 8

# conv, norm, relu
block ConvBN(c, k=3) {
    input x
    y = x -> Conv2d(c, k, padding=k // 2, bias=false) -> BatchNorm2d -> ReLU
    output y
}

block Stack(c) {
    input x
    y = x -> ConvBN(c) -> ConvBN(c * 2)
    output y
}
"""

NET = """import "lib/common.model"

const width = base * 2

model Net {
    input image: [B, 3, 16, 16]
    f = image -> stem: Stack(width) -> AdaptiveAvgPool2d(1) -> Flatten -> head: Linear(10)
    output f
}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.model").write_text(COMMON)
    (tmp_path / "net.model").write_text(NET)
    return tmp_path


def _codes(comp):
    return [(os.path.basename(d.span.path), d.span.line, d.code) for d in comp.diagnostics]


def test_an_import_builds_what_one_file_builds(project):
    torch = pytest.importorskip("torch")
    comp = compile(project / "net.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    one_file = compile_source(COMMON + NET.replace('import "lib/common.model"\n', ""))
    assert one_file.ok
    a, b = comp.to_module().eval(), one_file.to_module().eval()
    b.load_state_dict(a.state_dict(), strict=True)  # the same keys
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(a(x), b(x))
    src = comp.python_source()
    assert '"""block ConvBN(c, k=3), lib/common.model line 5; used 2 times."""' in src
    assert "BASE = 8" in src and "WIDTH = BASE * 2" in src


def test_the_generated_file_does_not_depend_on_how_the_path_was_given(project, tmp_path_factory):
    out1, out2 = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    assert run_graphc("build", "net.model", "-o", out1, cwd=project).returncode == 0
    assert run_graphc("build", project / "net.model", "-o", out2).returncode == 0
    assert (out1 / "net.py").read_bytes() == (out2 / "net.py").read_bytes()


def test_a_file_imported_twice_is_read_once(project):
    (project / "lib" / "more.model").write_text('import "common.model"\nconst extra = 1\n')
    (project / "net.model").write_text('import "lib/more.model"\n' + NET)
    comp = compile(project / "net.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]


@pytest.mark.parametrize("lib,importer,want", [
    ('import "../net.model"\n' + COMMON, NET, ("common.model", 1, "recursion")),
    (COMMON, NET.replace("lib/common.model", "lib/nothere.model"), ("net.model", 1, "io-error")),
    (COMMON, NET.replace("lib/common.model", "lib/common.txt"), ("net.model", 1, "invalid-import")),
    (COMMON, NET.replace("const width = base * 2", "const base = 3\nconst width = base * 2"),
     ("net.model", 3, "duplicate-name")),
    (COMMON, NET + "\nblock ConvBN(c) {\n    input x\n    output x\n}\n", ("net.model", 11, "duplicate-name")),
    (COMMON.replace("-> ReLU\n", "-> ReLU ->\n"), NET, ("common.model", 9, "syntax")),
    (COMMON.replace("Conv2d(c, k,", "Conv2d(c, k, strde=2,"), NET, ("common.model", 7, "unknown-argument")),
])
def test_import_errors_name_the_file_and_line(project, lib, importer, want):
    (project / "lib" / "common.model").write_text(lib)
    (project / "net.model").write_text(importer)
    comp = compile(project / "net.model")
    assert want in _codes(comp), [str(d) for d in comp.diagnostics]


def test_a_file_that_fails_to_import_is_reported_once(project):
    """Not again as every name it would have defined: 'base' and 'Stack' are not undefined."""
    (project / "lib" / "common.model").write_text(COMMON.replace("-> ReLU\n", "-> ReLU ->\n"))
    assert _codes(compile(project / "net.model")) == [("common.model", 9, "syntax")]
    (project / "net.model").write_text(NET.replace("lib/common.model", "lib/nothere.model"))
    assert _codes(compile(project / "net.model")) == [("net.model", 1, "io-error")]


def test_an_error_in_an_imported_file_shows_that_files_line(project):
    (project / "lib" / "common.model").write_text(COMMON.replace("Conv2d(c, k,", "Conv2d(c, k, strde=2,"))
    proc = run_graphc("check", "net.model", cwd=project)
    assert proc.returncode == 1
    assert "lib/common.model:7:" in proc.stdout
    assert "strde=2" in proc.stdout  # the snippet is the imported file's line, not net.model's line 7


def test_a_duplicate_name_says_where_the_other_is(project):
    (project / "net.model").write_text(NET.replace("const width = base * 2", "const base = 3\nconst width = base * 2"))
    comp = compile(project / "net.model")
    assert any("already defined at" in d.message and "common.model:2" in d.message for d in comp.diagnostics)


def test_a_library_file_is_a_note_not_an_error(project):
    proc = run_graphc("check", "lib/common.model", cwd=project)
    assert proc.returncode == 0, proc.stdout
    assert "[library]" in proc.stdout


def test_fmt_keeps_an_import(project):
    from graphc.fmt import format_text

    text = format_text(NET)
    assert text.startswith('import "lib/common.model"\n\nconst width') or text.startswith('import "lib/common.model"\n')
    assert format_text(text) == text
