"""Files graphc writes, and the cost of evaluating constants (issue 14, "Files and resources").

- ``build``, ``viz`` and ``fmt`` write through ``graphc.files``: a new file gets the mode an
  ordinary ``open(path, "w")`` would give it (0666 less the umask, not mkstemp's 0600), a
  replaced file keeps its mode, and a symbolic link is written through, not replaced.
- Constant evaluation is memoized per block argument values and has a per-file budget
  (``graphc.lower.MAX_EVAL_STEPS``); tuples built through constants are measured as they are
  built, so a doubling chain or deep nesting is a ``limit`` error, not a hang or a crash.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from graphc import binder, lower
from graphc.api import compile_source
from graphc.cli import main
from graphc.files import write_atomic
from graphc.syntax import MAX_NESTING, parse

ROOT = Path(__file__).resolve().parents[1]
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")

LENET = (ROOT / "models" / "lenet.model").read_text(encoding="utf-8")
UNFORMATTED = "model M {\n  input x: [B, 4]\n  y = x -> ReLU -> Linear(3)\n  output y\n}\n"


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _run_with_umask(umask: int, code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose umask is ``umask`` (os.umask is process-wide:
    never changed in the test process itself)."""
    prog = f"import os\nos.umask({umask:#o})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", prog], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


# ------------------------------------------------------------------ permissions
@POSIX
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o027], ids=oct)
def test_build_viz_fmt_create_files_with_the_umask(tmp_path, umask):
    (tmp_path / "lenet.model").write_text(LENET, encoding="utf-8")
    r = _run_with_umask(umask, """
        import sys
        from graphc.cli import main
        codes = [main(["build", "lenet.model", "-o", "out", "-q"]),
                 main(["viz", "lenet.model", "-o", "out/lenet.dot", "-q"])]
        sys.exit(max(codes))
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    want = 0o666 & ~umask
    for p in (tmp_path / "out" / "lenet.py", tmp_path / "out" / "lenet.dot"):
        assert _mode(p) == want, f"{p.name}: {oct(_mode(p))}, an ordinary write gives {oct(want)}"
    assert not list((tmp_path / "out").glob(".*.tmp")), "a temporary file was left behind"


@POSIX
@pytest.mark.parametrize("umask", [0o022, 0o077], ids=oct)
def test_write_atomic_new_file_in_process(tmp_path, umask):
    """The umask is read without being changed (/proc/self/status on Linux), and the
    fallback, which must set it to read it, leaves it as it was."""
    r = _run_with_umask(umask, """
        import os, sys
        from pathlib import Path
        from graphc import files
        files.write_atomic(Path("a.txt"), "a")
        assert os.umask(0o022) == UMASK, "write_atomic changed the umask"
        os.umask(UMASK)
        # the fallback: no /proc to read
        def no_proc(*a, **k):
            raise OSError("no /proc here")
        files.open = no_proc
        files.write_atomic(Path("b.txt"), "b")
        assert os.umask(0o022) == UMASK, "the fallback changed the umask"
    """.replace("UMASK", oct(umask)), tmp_path)
    assert r.returncode == 0, r.stderr
    assert _mode(tmp_path / "a.txt") == 0o666 & ~umask
    assert _mode(tmp_path / "b.txt") == 0o666 & ~umask


@POSIX
@pytest.mark.parametrize("mode", [0o640, 0o755, 0o600, 0o664], ids=oct)
def test_replacing_a_file_keeps_its_mode(tmp_path, mode):
    (tmp_path / "lenet.model").write_text(LENET, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "lenet.py"
    target.write_text("old\n", encoding="utf-8")
    os.chmod(target, mode)
    fmt_target = tmp_path / "m.model"
    fmt_target.write_text(UNFORMATTED, encoding="utf-8")
    os.chmod(fmt_target, mode)
    r = _run_with_umask(0o077, """
        import sys
        from graphc.cli import main
        sys.exit(max(main(["build", "lenet.model", "-o", "out", "-q"]), main(["fmt", "m.model"])))
    """, tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert target.read_text(encoding="utf-8") != "old\n"
    assert _mode(target) == mode
    assert fmt_target.read_text(encoding="utf-8") != UNFORMATTED
    assert _mode(fmt_target) == mode


# ------------------------------------------------------------------ symbolic links
@POSIX
def test_fmt_through_a_symlink_keeps_the_link(tmp_path, capsys):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "m.model"
    target.write_text(UNFORMATTED, encoding="utf-8")
    os.chmod(target, 0o640)
    link = tmp_path / "link.model"
    link.symlink_to(os.path.relpath(target, tmp_path))
    assert main(["fmt", str(link)]) == 0
    assert "reformatted" in capsys.readouterr().out
    assert link.is_symlink(), "fmt replaced the link with a regular file"
    assert os.readlink(link) == os.path.relpath(target, tmp_path)
    assert target.read_text(encoding="utf-8") != UNFORMATTED, "the file the link points to is unchanged"
    assert _mode(target) == 0o640
    assert main(["fmt", "--check", str(target)]) == 0
    assert sorted(p.name for p in real_dir.iterdir()) == ["m.model"], "a temporary file was left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.model", "real"]


@POSIX
def test_write_atomic_through_a_chain_of_links_and_a_dangling_link(tmp_path):
    target = tmp_path / "t.py"
    target.write_text("old", encoding="utf-8")
    (tmp_path / "l1").symlink_to("t.py")
    (tmp_path / "l2").symlink_to("l1")
    write_atomic(tmp_path / "l2", "new")
    assert (tmp_path / "l2").is_symlink() and (tmp_path / "l1").is_symlink()
    assert target.read_text(encoding="utf-8") == "new"
    (tmp_path / "dangling").symlink_to("sub/created.py")
    write_atomic(tmp_path / "dangling", "made")  # as open(path, "w") would, creates the target
    assert (tmp_path / "dangling").is_symlink()
    assert (tmp_path / "sub" / "created.py").read_text(encoding="utf-8") == "made"


@POSIX
def test_build_through_a_symlinked_output_file(tmp_path):
    (tmp_path / "lenet.model").write_text(LENET, encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere.py").write_text("", encoding="utf-8")
    (tmp_path / "out" / "lenet.py").symlink_to("../elsewhere.py")
    assert main(["build", str(tmp_path / "lenet.model"), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "lenet.py").is_symlink()
    assert "class LeNet" in (tmp_path / "elsewhere.py").read_text(encoding="utf-8")


# ------------------------------------------------------------------ evaluation cost
def _balanced_sum(name: str, depth: int) -> str:
    """A sum of 2**depth copies of ``name``, bracketed as a balanced tree (depth + 1 levels)."""
    return name if depth == 0 else f"({_balanced_sum(name, depth - 1)}+{_balanced_sum(name, depth - 1)})"


def hostile_same_arguments(outer: int = 19) -> str:
    """The issue's input: a 4,096-term block constant, the block used 190,000 times (16 KB)."""
    return (f"block B(n) {{ input x const c = {_balanced_sum('n', 12)} output x }}\n"
            "block R() { input x y = x -> B(1) * 10000 output y }\n"
            f"model M {{ input x: [B, 4] y = x -> R * {outer} output y }}\n")


def hostile_other_arguments() -> str:
    """The same constant, used with 190,000 different arguments: memoizing cannot help."""
    return (f"block B(n) {{ input x const c = {_balanced_sum('n', 12)} output x }}\n"
            "block R1(k) { input x y = x" + "".join(f" -> B(k * 100 + {i})" for i in range(100)) + " output y }\n"
            "block R2(k) { input x y = x" + "".join(f" -> R1(k * 100 + {i})" for i in range(100)) + " output y }\n"
            "model M { input x: [B, 4] y = x" + "".join(f" -> R2({i})" for i in range(19)) + " output y }\n")


def _lowered(text: str) -> lower.Lowerer:
    lw = lower.Lowerer(parse(text, "t.model"))
    lw.run()
    return lw


@pytest.mark.slow  # seconds of lowering by design: make test-fast skips it
def test_a_block_constant_used_190000_times_is_evaluated_once():
    text = hostile_same_arguments()
    assert len(text.encode()) < 17_000
    started = time.perf_counter()
    lw = _lowered(text)
    seconds = time.perf_counter() - started
    assert not lw.diags, lw.diags
    assert lw.statements > 570_000  # every use was lowered...
    # ...but the 8,191-node constant was evaluated once: a few steps per use, not 8,191
    assert lw.eval_steps < 10 * 190_000, lw.eval_steps
    assert seconds < 60  # about 3 s; it was about half an hour


@pytest.mark.slow  # seconds of lowering by design: make test-fast skips it
def test_a_block_constant_used_with_190000_arguments_stops_at_the_budget():
    text = hostile_other_arguments()
    started = time.perf_counter()
    comp = compile_source(text, "t.model")
    seconds = time.perf_counter() - started
    limits = [d for d in comp.diagnostics if d.code == "limit"]
    assert len(limits) == 1 and len(comp.diagnostics) == 1, comp.diagnostics
    d = limits[0]
    assert f"more than {lower.MAX_EVAL_STEPS:,} steps" in d.message
    # at the constant that crossed the budget (its span leaves out the outer brackets)
    assert (d.span.line, d.span.col) == (1, text.index("const c = ") + len("const c = (") + 1)
    assert comp.program is None
    assert seconds < 60  # about 4 s, of which the budget's 5,000,000 steps take most


def test_the_budget_is_per_file_and_each_use_with_the_same_values_shares_one_evaluation():
    c = _balanced_sum("n", 6)  # 127 nodes
    text = (f"block B(n) {{ input x const c = {c} y = x -> Linear(c) output y }}\n"
            "model M { input x: [B, 4] y = x -> B(1) -> B(1) -> B(2) -> B(1.0) -> B(true) output y }\n")
    lw = _lowered(text)
    # B(1) twice: one evaluation; B(2), B(1.0) and B(true) each another (1, 1.0 and true are
    # equal in Python, not in graphc: 1.0 gives Linear(64.0), an error; true cannot be added)
    assert sum(1 for k in lw._memo if k[0] == id(lw.blocks["B"].body[1].value)) == 4
    codes = sorted(d.code for d in lw.diags)
    assert codes == ["invalid-argument", "invalid-expression"], lw.diags
    assert lw.nodes["b_1.linear"].params.out_features == 64
    assert lw.nodes["b_2.linear"].params.out_features == 128


def test_memoized_errors_are_reported_once_at_their_place():
    c = " + ".join(["n"] * 20) + " + 1 // (n - n)"
    text = (f"block B(n) {{ input x const c = {c} y = x -> ReLU output y }}\n"
            "block R() { input x y = x -> B(3) * 1000 output y }\n"
            "model M { input x: [B, 4] y = x -> R * 10 output y }\n")
    comp = compile_source(text, "t.model")
    assert [d.code for d in comp.diagnostics] == ["invalid-expression"], comp.diagnostics
    assert comp.diagnostics[0].message == "division by zero"


def test_a_doubling_tuple_is_a_limit_not_a_hang():
    consts = " ".join(f"const a{i + 1} = (a{i}, a{i})" for i in range(40))  # 2**41 items
    for use in ("Linear(a40)", "ReLU"):
        text = f"model M {{ input x: [B, 4] const a0 = 1 {consts} y = x -> {use} output y }}\n"
        started = time.perf_counter()
        comp = compile_source(text, "t.model")
        assert time.perf_counter() - started < 30  # it ran for ever
        assert [d.code for d in comp.errors] == ["limit"], comp.diagnostics
        assert f"more than {lower.MAX_EVAL_STEPS:,} steps" in comp.errors[0].message


def test_a_doubling_tuple_at_top_level_stops_lowering_with_one_limit():
    consts = "\n".join(f"const a{i + 1} = (a{i}, a{i})" for i in range(40))
    text = f"const a0 = 1\n{consts}\nmodel M {{ input x: [B, 4] y = x -> Linear(a40) output y }}\n"
    comp = compile_source(text, "t.model")
    assert [d.code for d in comp.diagnostics] == ["limit"], comp.diagnostics
    assert comp.diagnostics[0].span.line == 22  # a21, of 2**22 - 2 items, takes the total past 5,000,000
    assert comp.program is None


def test_a_doubling_tuple_passed_to_a_block_is_a_limit_not_a_hang():
    consts = " ".join(f"const a{i + 1} = (a{i}, a{i})" for i in range(40))
    text = (f"block D(p) {{ input x y = x -> ReLU output y }}\n"
            f"model M {{ input x: [B, 4] const a0 = 1 {consts} y = x -> D(a40) output y }}\n")
    comp = compile_source(text, "t.model")
    assert "limit" in {d.code for d in comp.errors}, comp.diagnostics


@pytest.mark.parametrize("use", ["Linear(a{n})", "D(a{n})", "ReLU"])
def test_tuples_nested_through_constants_are_a_limit_not_a_recursion_error(use):
    n = 3 * MAX_NESTING
    consts = " ".join(f"const a{i + 1} = (a{i},)" for i in range(n))
    text = ("block D(p) { input x y = x -> ReLU output y }\n"
            f"model M {{ input x: [B, 4] const a0 = 1 {consts} const z = -a{n} "
            f"y = x -> {use.format(n=n)} output y }}\n")
    comp = compile_source(text, "t.model")  # raised RecursionError (in check and build)
    errors = comp.errors
    assert [d.code for d in errors] == ["limit"], comp.diagnostics
    assert errors[0].message == f"a tuple nested more than {MAX_NESTING} levels deep"
    assert (errors[0].span.line, errors[0].span.col) == (2, text.splitlines()[1].index(f"(a{MAX_NESTING},)") + 1)


def test_tuples_nested_100_deep_through_constants_are_fine():
    consts = " ".join(f"const a{i + 1} = (a{i},)" for i in range(MAX_NESTING - 1))
    text = (f"model M {{ input x: [B, 4] const a0 = 1 {consts} const b = a{MAX_NESTING - 1} "
            "y = x -> ReLU output y }\n")
    comp = compile_source(text, "t.model")
    assert not comp.errors, comp.diagnostics


def test_messages_never_write_a_huge_value_whole():
    """A 1 MB string negated in a block used 10,000 times: each message writes at most
    1,000 characters of it (it wrote the whole string for every use)."""
    s = "a" * 1_000_000
    text = (f'const S = "{s}"\n'
            "block B(p) { input x const c = -p y = x -> ReLU output y }\n"
            "model M { input x: [B, 4] y = x -> B(S) * 10000 output y }\n")
    started = time.perf_counter()
    comp = compile_source(text, "t.model")
    assert time.perf_counter() - started < 30
    [d] = comp.errors
    assert d.message == f'cannot negate the string "{"a" * 59}… (more than 1,000 characters)'
    assert binder._fmt((1, "x\"y", (True, None, 2.5), ())) == '(1, "x\\"y", (true, none, 2.5), ())'
    assert binder._fmt(("a" * 70,)) == binder._fmt(("a" * 70,))
    assert binder._fmt("b" * 200).endswith("(202 characters)")  # exact below 1,000 characters


def test_normal_models_take_few_steps():
    """The budget is far from anything the models in models/ do: each uses under 2,000 of
    the 5,000,000 steps (MobileNetV2 uses about 1,100 since the arguments of a layer that has
    PyTorch's positional order too are bound in both orders)."""
    for path in sorted((ROOT / "models").glob("*.model")):
        lw = _lowered(path.read_text(encoding="utf-8"))
        assert not [d for d in lw.diags if d.severity == "error"], path
        assert lw.eval_steps < 2_000, (path.name, lw.eval_steps)


DIGITS_SRC = (Path(__file__).resolve().parents[1] / "models" / "digits.model").read_text(encoding="utf-8")


def test_build_writes_all_files_or_none(tmp_path):
    """A directory where the training script should go: build fails with one clear line,
    and the module beside it is not written either (nor any temporary file left)."""
    (tmp_path / "digits.model").write_text(DIGITS_SRC, encoding="utf-8")
    out = tmp_path / "out"
    (out / "train_digits.py").mkdir(parents=True)
    (out / "digits.py").write_text("# the user's own file\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "graphc", "build", "digits.model", "-o", "out"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["graphc: error: cannot write out/train_digits.py: it is a directory"]
    assert (out / "digits.py").read_text(encoding="utf-8") == "# the user's own file\n"
    assert sorted(p.name for p in out.iterdir()) == ["digits.py", "train_digits.py"]


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "digits.model").write_text(DIGITS_SRC, encoding="utf-8")
    (tmp_path / "out").write_text("x", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "graphc", "build", "digits.model", "-o", "out"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("graphc: error: cannot create the folder") and "internal error" not in r.stderr
