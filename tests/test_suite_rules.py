"""Rules about the test suite itself, so that ``make test`` stays correct as tests are added."""
import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: text in a test's body that means it starts processes that wait on each other over sockets
MULTIPROCESS = ("distributed.run", "MASTER_PORT", "torchrun(", "init_process_group")


def _marks(fn: ast.FunctionDef) -> set[str]:
    names = set()
    for dec in fn.decorator_list:
        node = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "pytest" \
                and node.value.attr == "mark":
            names.add(node.attr)
    return names


def test_every_multiprocess_test_is_marked_serial():
    """``make test`` runs the suite on every core, then the ``serial`` tests alone: a torchrun or gloo
    test left in the parallel pass can time out, or abort, while other tests load the CPUs."""
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                body = ast.get_source_segment(text, fn) or ""
                if any(m in body for m in MULTIPROCESS) and "serial" not in _marks(fn):
                    unmarked.append(f"{path.relative_to(TESTS)}::{fn.name}")
    assert not unmarked, "mark these @pytest.mark.serial: " + ", ".join(unmarked)


def test_the_markers_are_registered_and_make_test_fast_skips_slow():
    """``make test`` (CI) runs every test; ``make test-fast`` the same passes without ``slow``: an
    unregistered marker would be a typo that pytest only warns about."""
    import re

    pyproject = (TESTS.parent / "pyproject.toml").read_text(encoding="utf-8")  # no tomllib on 3.10
    block = re.search(r"^markers = \[(.*?)^\]", pyproject, re.M | re.S).group(1)
    registered = set(re.findall(r'^\s*"([a-z_]+):', block, re.M))
    assert {"slow", "serial"} <= registered
    used = set()
    for path in sorted(TESTS.rglob("test_*.py")):
        used |= set(re.findall(r"pytest\.mark\.([a-z_]+)", path.read_text(encoding="utf-8")))
    builtin = {"parametrize", "skipif", "skip", "xfail", "usefixtures", "filterwarnings", "xdist_group"}
    assert used - builtin <= registered, f"register these markers in pyproject.toml: {used - builtin - registered}"
    make = (TESTS.parent / "Makefile").read_text(encoding="utf-8")
    assert re.search(r'^test-fast:.*\n\t.*MARK="not slow and "', make, re.M)
    assert re.search(r"^test:.*\n\t.*MARK=\n", make, re.M)
    assert '-m "$(MARK)not serial"' in make and '-m "$(MARK)serial"' in make
